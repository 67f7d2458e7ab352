// Generates (or reuses) a benchmark database of a requested size with server-side INSERT … SELECT:
// prose-like text, jsonb, numeric, timestamptz and incompressible random bytea, in realistic proportions.
import pg from 'pg';
import type { PostgresCluster } from '../stack/postgres-cluster.ts';
import { adminQuery } from './bench-stack.ts';

const mb = 1_000_000;
/** Customers per batch at most; the other tables grow in proportion, about 100 MB per batch. */
const maxBatchCustomers = 12_000;
const completeMarker = 'lifeboat bench data, complete';

export interface GeneratedDatabase {
  name: string;
  sizeBytes: number;
  reused: boolean;
  generateMs: number | null;
}

export function benchDatabaseName(targetMb: number): string {
  return `bench_${targetMb}mb`;
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

async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

async function databaseSize(url: string): Promise<number> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ size: string }>(
      'select pg_database_size(current_database()) as size',
    );
    return Number(rows[0]!.size);
  });
}

/** True when the database exists and a previous run finished generating it. */
async function isComplete(cluster: PostgresCluster, name: string): Promise<boolean> {
  return withClient(cluster.url('postgres'), async (client) => {
    const { rows } = await client.query<{ comment: string | null }>(
      `select shobj_description(oid, 'pg_database') as comment from pg_database where datname = $1`,
      [name],
    );
    return rows[0]?.comment === completeMarker;
  });
}

/** Runs one batch's statements on two connections at once (the machine has two cores). */
async function insertBatch(pool: pg.Pool, lo: number, hi: number): Promise<void> {
  await Promise.all(batchSql.map((text) => pool.query(text, [lo, hi])));
}

async function fill(url: string, targetBytes: number, log: (line: string) => void): Promise<void> {
  await withClient(url, (client) => client.query(schemaSql));
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  try {
    let customers = 0;
    let bytesPerCustomer = 0;
    for (let size = await databaseSize(url); size < targetBytes;) {
      // Aim 1% past the target, so that the last batch does not fall just short and need another.
      const wanted = bytesPerCustomer ? Math.ceil((targetBytes * 1.01 - size) / bytesPerCustomer) : 2_000;
      const batch = Math.max(500, Math.min(maxBatchCustomers, wanted));
      await insertBatch(pool, customers, customers + batch);
      customers += batch;
      const grown = await databaseSize(url);
      bytesPerCustomer = (grown - size) / batch || bytesPerCustomer;
      size = grown;
      log(`  ${customers} customers, ${(size / mb).toFixed(0)} MB of ${(targetBytes / mb).toFixed(0)}`);
    }
  } finally {
    await pool.end();
  }
  // Vacuum once now, so that every later pg_dump reads settled pages (hint bits set, nothing to write).
  await withClient(url, async (client) => {
    await client.query('drop schema bench_gen cascade');
    await client.query('vacuum (freeze, analyze)');
    await client.query('checkpoint');
  });
}

export interface TableShare {
  name: string;
  rows: number;
  /** Heap, TOAST and indexes. */
  bytes: number;
}

/** The generated tables with their row counts and on-disk sizes, largest first. */
export async function describeTables(cluster: PostgresCluster, database: string): Promise<TableShare[]> {
  return withClient(cluster.url(database), async (client) => {
    const { rows } = await client.query<{ name: string; rows: string; bytes: string }>(
      `select relname as name, reltuples::bigint as rows, pg_total_relation_size(oid) as bytes
         from pg_class where relnamespace = 'app'::regnamespace and relkind = 'r' order by 3 desc`,
    );
    return rows.map((row) => ({ name: row.name, rows: Number(row.rows), bytes: Number(row.bytes) }));
  });
}

/** What each table holds, for the report. */
export const tableContents: Record<string, string> = {
  messages: 'subject and body: prose-like text of 40–240 words (Zipf-distributed vocabulary)',
  attachments: 'random bytea of 128–1828 bytes (gen_random_bytes: incompressible), file name, type',
  orders: 'jsonb items (1–5), numeric(12,2) total, timestamptz, optional text note',
  events: 'jsonb payload (uuid, IP, path, numbers), timestamptz, kind',
  customers: 'name, email, numeric(14,2) balance, timestamptz, jsonb profile',
};

/** The database of about `targetMb` MB, generated on first use and reused while it is complete. */
export async function ensureBenchDatabase(
  cluster: PostgresCluster,
  targetMb: number,
  log: (line: string) => void,
): Promise<GeneratedDatabase> {
  const name = benchDatabaseName(targetMb);
  const url = cluster.url(name);
  if (await isComplete(cluster, name)) {
    return { name, sizeBytes: await databaseSize(url), reused: true, generateMs: null };
  }
  log(`generating ${name} (${targetMb} MB)…`);
  const startedMs = performance.now();
  await adminQuery(cluster, `drop database if exists ${name} with (force)`);
  await adminQuery(cluster, `create database ${name}`);
  await fill(url, targetMb * mb, log);
  await adminQuery(cluster, `comment on database ${name} is '${completeMarker}'`);
  const generateMs = performance.now() - startedMs;
  return { name, sizeBytes: await databaseSize(url), reused: false, generateMs };
}
