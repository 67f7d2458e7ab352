// A source database worth backing up (schemas, types, sequences, a large object) and the comparisons
// that prove a restore equals it.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { sql, stack } from './stack.ts';

export async function fillRichDatabase(database: string): Promise<void> {
  await sql(
    database,
    `
    create schema sales;
    create schema audit;
    create type sales.order_state as enum ('new', 'paid', 'shipped');
    create domain sales.positive_money as numeric(12,2) check (value > 0);
    create type audit.point as (x double precision, y double precision);
    create sequence sales.invoice_number start 1000 increment 7;
    create table sales.customers (
      id bigserial primary key,
      name text not null,
      email text unique,
      profile jsonb,
      created_at timestamptz not null default now()
    );
    create table sales.orders (
      id bigserial primary key,
      customer_id bigint not null references sales.customers(id),
      state sales.order_state not null default 'new',
      total sales.positive_money not null,
      invoice integer not null default nextval('sales.invoice_number'),
      placed_on date not null,
      note text
    );
    create index orders_customer on sales.orders(customer_id);
    create table audit.events (
      id uuid primary key,
      at timestamp without time zone not null,
      location audit.point,
      payload bytea,
      tags text[]
    );
    create view sales.big_orders as select * from sales.orders where total > 500;
    create function audit.touch() returns trigger language plpgsql as $$ begin new.at := now(); return new; end $$;
    create table public.documents_meta (id serial primary key, path text, attachment oid);
    insert into sales.customers (name, email, profile, created_at)
      select 'customer ' || g, 'c' || g || '@example.test',
             jsonb_build_object('tier', g % 3, 'tags', jsonb_build_array('a' || g, 'b')),
             timestamptz '2026-01-01 00:00:00+00' + g * interval '37 minutes'
      from generate_series(1, 400) g;
    insert into sales.orders (customer_id, state, total, placed_on, note)
      select 1 + (g % 400), (array['new','paid','shipped'])[1 + g % 3]::sales.order_state,
             round((10 + (g * 7919 % 100000) / 100.0)::numeric, 2), date '2026-01-01' + (g % 300),
             case when g % 5 = 0 then null else md5(g::text) end
      from generate_series(1, 3000) g;
    select setval('sales.invoice_number', 5000);
    insert into audit.events (id, at, location, payload, tags)
      select md5('event' || g)::uuid, timestamp '2026-02-01' + g * interval '1 second',
             row(g * 1.5, -g)::audit.point, decode(md5(g::text) || md5((g * 3)::text), 'hex'),
             array['x' || g, 'y']
      from generate_series(1, 1000) g;
    insert into public.documents_meta (path, attachment) values ('contract.pdf', lo_from_bytea(0, decode(repeat('4c6966656f6174', 5000), 'hex')));
    `,
  );
}

/** A small tree of document files, with nesting and a binary file. */
export function writeDocumentsTree(root: string): string[] {
  const files: Record<string, Buffer | string> = {
    'readme.txt': 'documents that belong to the database\n',
    'invoices/2026/inv-1000.pdf': Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 31) % 256)),
    'invoices/2026/inv-1007.pdf': 'pretend pdf 1007',
    'avatars/c1.png': Buffer.alloc(0),
  };
  for (const [relative, body] of Object.entries(files)) {
    const file = path.join(root, relative);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, body);
  }
  return Object.keys(files).sort();
}

/** One of the server's client programs (pg_dump, pg_restore) run as the superuser, as by hand. */
function runPgProgram(program: string, args: string[]): string {
  const s = stack();
  return execFileSync(
    path.join(s.pgBinDir, program),
    ['-h', '127.0.0.1', '-p', String(s.pgPort), '-U', s.pgSuperuser, ...args],
    {
      env: { ...process.env, PGPASSWORD: s.pgPassword },
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
      // Quiet when it works; when it fails, the thrown error carries what it printed.
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
}

/**
 * pg_restore of a custom-format dump into `database`, as a person restoring by hand would run it; with
 * `jobs`, in that many parallel jobs (`pg_restore -j`).
 */
export function restoreDumpByHand(database: string, dumpFile: string, jobs?: number): void {
  const parallel = jobs ? [`--jobs=${jobs}`] : [];
  runPgProgram('pg_restore', ['--no-owner', '--exit-on-error', ...parallel, '-d', database, dumpFile]);
}

/** An uncompressed custom-format pg_dump of `database` into `dumpFile`, made by hand outside Lifeboat. */
export function dumpByHand(database: string, dumpFile: string): void {
  runPgProgram('pg_dump', ['-Fc', '-Z0', '-f', dumpFile, database]);
}

/** The schema as pg_dump prints it, without the lines that name the dump's own version or time. */
export function schemaDump(database: string): string {
  return runPgProgram('pg_dump', ['--schema-only', '--no-owner', database])
    .split('\n')
    .filter((line) => !/^-- Dumped (from|by)|^\\(un)?restrict /.test(line))
    .join('\n');
}

/** An md5 over every row of every user table (sorted), plus large objects and sequence positions. */
export async function contentHashes(database: string): Promise<Record<string, string>> {
  const tables = await sql<{ schema: string; name: string }>(
    database,
    `select n.nspname as schema, c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where c.relkind = 'r' and n.nspname not in ('pg_catalog', 'information_schema') order by 1, 2`,
  );
  const result: Record<string, string> = {};
  for (const { schema, name } of tables) {
    const rows = await sql<{ hash: string | null; count: string }>(
      database,
      `select md5(coalesce(string_agg(t::text, E'\\n' order by t::text), '')) as hash, count(*) as count
       from "${schema}"."${name}" t`,
    );
    result[`${schema}.${name}`] = `${rows[0]?.count}:${rows[0]?.hash}`;
  }
  const objects = await sql<{ hash: string }>(
    database,
    `select md5(coalesce(string_agg(md5(lo_get(oid)), ',' order by oid), '')) as hash from pg_largeobject_metadata`,
  );
  result['<large objects>'] = objects[0]?.hash ?? '';
  const sequences = await sql<{ name: string; last_value: string }>(
    database,
    `select schemaname || '.' || sequencename as name, coalesce(last_value, 0) as last_value from pg_sequences order by 1`,
  );
  for (const seq of sequences) result[`<sequence ${seq.name}>`] = seq.last_value;
  return result;
}
