// Generates (or reuses) a benchmark database of a requested size with server-side INSERT … SELECT:
// prose-like text, jsonb, numeric, timestamptz and incompressible random bytea, in realistic proportions.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';
import type { PostgresCluster } from '../../stack/postgres-cluster.ts';
import { log } from './results.ts';
import { adminQuery, clusterDataDir, query } from './stack.ts';

const mb = 1_000_000;
/** Customers per batch at most; the other tables grow in proportion, about 100 MB per batch. */
const maxBatchCustomers = 12_000;
const completeMarker = 'lifeboat bench data, complete';

export interface GeneratedDatabase {
  name: string;
  sizeBytes: number;
  reused: boolean;
  generateMs: number | null;
  /** Rows, bytes (heap, TOAST and indexes) and what each table holds, largest first. */
  tables: { name: string; rows: number; bytes: number; content: string }[];
}

/**
 * The vocabulary: 20,000 made-up words of 1–5 syllables. Words are drawn with a Zipf (1/rank)
 * distribution, so text compresses about as well as English prose does (gzip: a third of its size).
 */
const schemaSql = `
  create extension pgcrypto;
  create schema bench_gen;
  select setseed(0.4242);
  create table bench_gen.words as
    with syllables as (select array['a','e','i','o','u','ka','ne','ri','to','ma','la','se','di','po','ve','ber',
      'con','tion','ing','ed','er','st','pre','pro','ex','in','un','re','al','ly','ment','ness','ous','ive','ate',
      'ic','an','or','th','sh','ch','pl','gr','tr','str','ow','ea','ai','ou','ight','and','end','ant','ist','ure',
      'age','ble','ful','less'] as s)
    select g as rank,
           (select string_agg(part, '') from (select s[1 + floor(random() * array_length(s, 1))::int] as part
              from generate_series(1, 1 + g % 4 + (random() < 0.3)::int)) p) as word
    from syllables, generate_series(1, 20000) g;
  alter table bench_gen.words add primary key (rank);

  create function bench_gen.prose(word_count int) returns text language sql volatile as $$
    select string_agg((select w.word from bench_gen.words w where w.rank = q.r) ||
                      case when random() < 0.07 then '.' when random() < 0.05 then ',' else '' end, ' ')
    from (select floor(exp(random() * ln(20000)))::int as r from generate_series(1, word_count)) q
  $$;
  create function bench_gen.moment() returns timestamptz language sql volatile as $$
    select timestamptz '2019-01-01 00:00:00+00' + random() * interval '6 years'
  $$;
  create function bench_gen.random_bytes(length int) returns bytea language sql volatile as $$
    select case when length > 1024 then gen_random_bytes(1024) || gen_random_bytes(length - 1024)
                else gen_random_bytes(length) end
  $$;

  create schema app;
  create table app.customers (id bigint primary key, name text not null, email text not null,
    created_at timestamptz not null, balance numeric(14,2) not null, profile jsonb not null);
  create table app.orders (id bigint primary key, customer_id bigint not null, placed_at timestamptz not null,
    status text not null, total numeric(12,2) not null, items jsonb not null, note text);
  create table app.messages (id bigint primary key, customer_id bigint not null, sent_at timestamptz not null,
    subject text not null, body text not null);
  create table app.attachments (id bigint primary key, message_id bigint not null, file_name text not null,
    content_type text not null, created_at timestamptz not null, content bytea not null);
  create table app.events (id bigint primary key, customer_id bigint, at timestamptz not null, kind text not null,
    payload jsonb not null);
  comment on table app.messages is 'subject and body: prose-like text of 40–240 words (Zipf-distributed vocabulary)';
  comment on table app.attachments is
    'random bytea of 128–1828 bytes (gen_random_bytes: incompressible), file name, type';
  comment on table app.orders is 'jsonb items (1–5), numeric(12,2) total, timestamptz, optional text note';
  comment on table app.events is 'jsonb payload (uuid, IP, path, numbers), timestamptz, kind';
  comment on table app.customers is 'name, email, numeric(14,2) balance, timestamptz, jsonb profile';
`;

/** One batch: customers (lo, hi] and the rows that belong to them; $1 = lo, $2 = hi. */
const batchSql = [
  `insert into app.customers
     select g, initcap(bench_gen.prose(2)), lower(translate(bench_gen.prose(1), ' .,', '')) || '.' || g || '@' ||
              (array['example.com','mail.test','corp.example','shop.test'])[1 + g % 4],
            bench_gen.moment(), round((random() * random() * 20000)::numeric, 2),
            jsonb_build_object('locale', (array['en-GB','de-DE','fr-FR','en-US','es-ES'])[1 + (random() * 4)::int],
              'newsletter', random() < 0.4, 'tags', to_jsonb(string_to_array(bench_gen.prose(3), ' ')),
              'address', jsonb_build_object('street', initcap(bench_gen.prose(2)) || ' ' || (1 + (random() * 300)::int),
                'city', initcap(bench_gen.prose(1)), 'zip', lpad((random() * 99999)::int::text, 5, '0')))
     from generate_series($1::bigint + 1, $2::bigint) g`,
  `insert into app.orders
     select g, $1::bigint + 1 + (random() * ($2::bigint - $1::bigint - 1))::bigint, bench_gen.moment(),
            (array['new','paid','shipped','delivered','refunded'])[1 + (random() * 4)::int],
            round((random() * 900 + 5)::numeric, 2),
            (select jsonb_agg(jsonb_build_object('sku', 'SKU-' || lpad((random() * 99999)::int::text, 5, '0'),
                'name', bench_gen.prose(3), 'qty', 1 + (random() * 5)::int,
                'unit_price', round((random() * 200)::numeric, 2)))
               from generate_series(1, 1 + (random() * 4)::int + (g * 0)::int)),
            case when random() < 0.5 then bench_gen.prose(8 + (random() * 30)::int) end
     from generate_series($1::bigint * 3 + 1, $2::bigint * 3) g`,
  `insert into app.messages
     select g, $1::bigint + 1 + (random() * ($2::bigint - $1::bigint - 1))::bigint, bench_gen.moment(),
            initcap(bench_gen.prose(3 + (random() * 6)::int)), bench_gen.prose(40 + (random() * 200)::int)
     from generate_series($1::bigint * 4 + 1, $2::bigint * 4) g`,
  `insert into app.attachments
     select g, $1::bigint * 4 + 1 + (random() * ($2::bigint - $1::bigint - 1) * 4)::bigint,
            translate(bench_gen.prose(2), ' .,', '-') || (array['.pdf','.png','.jpg','.zip'])[1 + g % 4],
            (array['application/pdf','image/png','image/jpeg','application/zip'])[1 + g % 4],
            bench_gen.moment(), bench_gen.random_bytes(128 + (random() * 1700)::int)
     from generate_series($1::bigint * 2 + 1, $2::bigint * 2) g`,
  `insert into app.events
     select g, case when random() < 0.9 then $1::bigint + 1 + (random() * ($2::bigint - $1::bigint - 1))::bigint end,
            bench_gen.moment(), (array['login','logout','view','search','purchase','error'])[1 + (random() * 5)::int],
            jsonb_build_object('session', gen_random_uuid(), 'ip', concat_ws('.', (random() * 255)::int,
              (random() * 255)::int, (random() * 255)::int, (random() * 255)::int),
              'path', '/' || translate(bench_gen.prose(2), ' .,', '/'), 'duration_ms', (random() * 5000)::int,
              'score', round((random() * 100)::numeric, 4), 'query', bench_gen.prose(1 + (random() * 4)::int))
     from generate_series($1::bigint * 3 + 1, $2::bigint * 3) g`,
];

const sizeOf = async (url: string) =>
  (await query<{ size: number }>(url, 'select pg_database_size(current_database())::float8 as size'))[0]!
    .size;

async function fill(url: string, targetBytes: number): Promise<void> {
  await query(url, schemaSql);
  // One batch's statements run on two connections at once (the machine has two cores).
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  try {
    let [customers, bytesPerCustomer] = [0, 0];
    for (let size = await sizeOf(url); size < targetBytes;) {
      // Aim 1% past the target, so that the last batch does not fall just short and need another.
      const wanted = bytesPerCustomer ? Math.ceil((targetBytes * 1.01 - size) / bytesPerCustomer) : 2_000;
      const batch = Math.max(500, Math.min(maxBatchCustomers, wanted));
      await Promise.all(batchSql.map((text) => pool.query(text, [customers, customers + batch])));
      customers += batch;
      const grown = await sizeOf(url);
      [bytesPerCustomer, size] = [(grown - size) / batch || bytesPerCustomer, grown];
      log(`  ${customers} customers, ${(size / mb).toFixed(0)} MB of ${(targetBytes / mb).toFixed(0)}`);
    }
  } finally {
    await pool.end();
  }
  // Vacuum once now, so that every later pg_dump reads settled pages (hint bits set, nothing to write).
  for (const text of ['drop schema bench_gen cascade', 'vacuum (freeze, analyze)', 'checkpoint']) {
    await query(url, text);
  }
}

/** The database `bench_<targetMb>mb` of about `targetMb` MB, generated unless a complete one is there. */
export async function ensureBenchDatabase(
  cluster: PostgresCluster,
  targetMb: number,
): Promise<GeneratedDatabase> {
  const [name, admin] = [`bench_${targetMb}mb`, cluster.url('postgres')];
  const url = cluster.url(name);
  const comment = `select shobj_description(oid, 'pg_database') as marker from pg_database where datname = $1`;
  let generateMs: number | null = null;
  if ((await query<{ marker: string }>(admin, comment, [name]))[0]?.marker !== completeMarker) {
    log(`generating ${name} (${targetMb} MB)…`);
    const startedMs = performance.now();
    await adminQuery(cluster, `drop database if exists ${name} with (force)`);
    await adminQuery(cluster, `create database ${name}`);
    await fill(url, targetMb * mb);
    await adminQuery(cluster, `comment on database ${name} is '${completeMarker}'`);
    generateMs = performance.now() - startedMs;
  }
  const sizeBytes = await sizeOf(url);
  log(`${name}: ${(sizeBytes / mb).toFixed(1)} MB${generateMs === null ? ' (reused)' : ''}`);
  const tables = await query<GeneratedDatabase['tables'][number]>(
    url,
    `select relname as name, reltuples::float8 as rows, pg_total_relation_size(oid)::float8 as bytes,
            obj_description(oid, 'pg_class') as content
       from pg_class where relnamespace = 'app'::regnamespace and relkind = 'r' order by 3 desc`,
  );
  return { name, sizeBytes, reused: generateMs === null, generateMs, tables };
}

/** Reads every file of the database once, so that no contender pays for reading it from disk first. */
export async function warmPageCache(cluster: PostgresCluster, database: string): Promise<void> {
  const sql = 'select oid from pg_database where datname = $1';
  const [row] = await query<{ oid: number }>(cluster.url('postgres'), sql, [database]);
  execFileSync('sh', ['-c', 'cat "$0"/* > /dev/null', path.join(clusterDataDir, 'base', String(row!.oid))]);
}
