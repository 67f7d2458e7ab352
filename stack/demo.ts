// The demo that the embedded defaults back up: a small shop database and a documents directory.
import { mkdirSync, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';

export async function ensureDatabase(adminUrl: string, name: string): Promise<boolean> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('select 1 from pg_database where datname = $1', [name]);
    if (rowCount) return false;
    await admin.query(`create database "${name}"`);
    return true;
  } finally {
    await admin.end();
  }
}

export async function fillDemoDatabase(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`
      create schema shop;
      create table shop.customers (id serial primary key, name text not null, email text unique, joined timestamptz not null);
      create table shop.orders (id serial primary key, customer_id int references shop.customers(id),
                                total numeric(10,2) not null, items jsonb not null, placed timestamptz not null);
      insert into shop.customers (name, email, joined)
        select 'Customer ' || g, 'customer' || g || '@example.test', now() - g * interval '3 hours' from generate_series(1, 500) g;
      insert into shop.orders (customer_id, total, items, placed)
        select 1 + g % 500, (g % 9000) / 7.0, jsonb_build_array(jsonb_build_object('sku', 'SKU-' || g % 97, 'qty', 1 + g % 4)),
               now() - g * interval '17 minutes'
        from generate_series(1, 5000) g;
    `);
  } finally {
    await client.end();
  }
}

export function ensureDemoDocuments(dir: string): void {
  if (existsSync(dir)) return;
  mkdirSync(path.join(dir, 'invoices'), { recursive: true });
  writeFileSync(
    path.join(dir, 'README.txt'),
    'Files that belong to the demo shop database; Lifeboat archives them with it.\n',
  );
  for (let i = 1; i <= 3; i++) {
    writeFileSync(
      path.join(dir, 'invoices', `invoice-${1000 + i}.txt`),
      `Invoice ${1000 + i}\nTotal: ${i * 42}.00\n`,
    );
  }
}
