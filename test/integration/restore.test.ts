// Restores through the API against real PostgreSQL and Temporal, in every mode: afterwards the schema
// dump and per-table content hashes equal the backup's source state; documents are swapped in.
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { getBackup } from '../../catalog/backups.ts';
import { fillRichDatabase, schemaDump, writeDocumentsTree } from '../harness/fixtures.ts';
import {
  backedUpTarget,
  documentsSnapshot,
  snapshot,
  startRestore,
  waitForRestore,
  type BackedUpTarget,
  type DatabaseSnapshot,
} from '../harness/restore.ts';
import { createDatabase, scratchDir, sql, superuserUrl, useStack } from '../harness/stack.ts';

const s = useStack();
/** One rich source database with a documents tree, backed up once, restored in every mode. */
let source: BackedUpTarget;
let documentsDir: string;
let atBackup: DatabaseSnapshot;
let documentsAtBackup: Record<string, string>;

beforeAll(async () => {
  documentsDir = path.join(scratchDir('rdocs'), 'documents');
  writeDocumentsTree(documentsDir);
  source = await backedUpTarget(s, 'rsrc', fillRichDatabase, { documentsDir });
  atBackup = await snapshot(source.database);
  documentsAtBackup = documentsSnapshot(documentsDir);
});

describe('a full restore into the same target', () => {
  it('in place: makes the database and its documents exactly the backup again, after a safety backup', async () => {
    await sql(
      source.database,
      `create table public.added_later (id serial primary key, body text);
       insert into public.added_later (body) values ('gone after the restore');
       create schema scratch; create table scratch.t (x int);
       drop view sales.big_orders; drop table audit.events;
       update sales.orders set note = 'changed' where id % 2 = 0;
       delete from sales.orders where id > 2900;
       select setval('sales.invoice_number', 99999);
       select lo_unlink(oid) from pg_largeobject_metadata;`,
    );
    writeFileSync(path.join(documentsDir, 'readme.txt'), 'overwritten');
    writeFileSync(path.join(documentsDir, 'new-file.txt'), 'not in the backup');
    rmSync(path.join(documentsDir, 'invoices/2026/inv-1007.pdf'));
    const before = await snapshot(source.database);
    expect(before.hashes).not.toEqual(atBackup.hashes);

    const { operationId, preview } = await startRestore(s.api, source.backupId, {
      mode: 'full',
      method: 'in-place',
    });
    expect(preview.safetyBackup).toBe(true);
    expect(preview.estimatedDurationMs).toBeGreaterThan(0);
    expect(preview.backup.id).toBe(source.backupId);
    expect(preview.backup.serverVersion).toMatch(/^\d+\.\d+/);
    const warnings = Object.fromEntries(preview.warnings.map((w) => [w.code, w]));
    expect(warnings['objects-dropped']?.objects).toEqual([
      'schema scratch',
      'public.added_later',
      'scratch.t',
    ]);
    expect(warnings['tables-replaced']?.objects).toContain('sales.orders');
    expect(warnings['documents-replaced']).toBeDefined();
    expect(preview.tables.find((t) => t.name === 'events')).toMatchObject({
      action: 'create',
      hasData: true,
    });
    expect(preview.tables.find((t) => t.name === 'orders')).toMatchObject({ action: 'drop-and-create' });

    const ended = await waitForRestore(s.api, operationId);
    expect(ended).toMatchObject({ status: 'completed', errorCode: null, rollback: null });
    expect(await snapshot(source.database)).toEqual(atBackup);
    expect(documentsSnapshot(documentsDir)).toEqual(documentsAtBackup);
    expect(readdirSync(path.dirname(documentsDir))).toEqual(['documents']);

    // In order; no approval (the settings ask for none) and no rollback (nothing failed).
    const completed = ended.steps.filter((step) => step.status === 'completed').map((step) => step.step);
    expect(completed.join(' > ')).toBe(
      'validate > lock > safety-backup > restore-database > restore-documents > verify > finish',
    );
    const verification = (
      ended.result as { verification: { tables: { name: string; actualRows: number }[] } }
    ).verification;
    expect(verification.tables.find((t) => t.name === 'orders')?.actualRows).toBe(3000);
    const safety = await getBackup(s.db, ended.safetyBackupId!);
    expect(safety).toMatchObject({ trigger: 'pre_restore', status: 'completed', protected: false });
    expect(safety.targetId).toBe(source.target.id);
    expect(existsSync(path.join(s.workDir, `restore-${operationId}`))).toBe(false);
  });

  it('by swap: makes the database and its documents exactly the backup again, the old one kept aside', async () => {
    await sql(source.database, `delete from sales.orders where id > 100; create table public.later (id int)`);
    writeFileSync(path.join(documentsDir, 'readme.txt'), 'overwritten again');
    const { operationId, preview } = await startRestore(s.api, source.backupId, {
      mode: 'full',
      terminateConnections: true,
    });
    expect(preview.safetyBackup).toBe(false);
    const ended = await waitForRestore(s.api, operationId);
    expect(ended).toMatchObject({
      status: 'completed',
      errorCode: null,
      rollback: null,
      safetyBackupId: null,
    });
    expect(await snapshot(source.database)).toEqual(atBackup);
    expect(documentsSnapshot(documentsDir)).toEqual(documentsAtBackup);
    const completed = ended.steps.filter((step) => step.status === 'completed').map((step) => step.step);
    expect(completed.join(' > ')).toBe(
      'validate > lock > restore-database > verify > swap > restore-documents > finish',
    );
    const { setAside } = ended.result as { setAside: { database: string } };
    const [kept] = await sql<{ datname: string }>(
      'postgres',
      'select datname from pg_database where datname = $1',
      [setAside.database],
    );
    expect(kept?.datname).toBe(setAside.database);
  });
});

describe('restoring into another database', () => {
  it('creates a new database on the server that equals the source, without a safety backup', async () => {
    const name = `rnew_${Date.now().toString(36)}`;
    const { operationId, preview } = await startRestore(s.api, source.backupId, {
      mode: 'full',
      destination: { database: name },
    });
    expect(preview.safetyBackup).toBe(false);
    expect(preview.destination.exists).toBe(false);
    const ended = await waitForRestore(s.api, operationId);
    expect(ended).toMatchObject({ status: 'completed', safetyBackupId: null });
    expect(ended.steps.find((step) => step.step === 'safety-backup')?.status).toBe('skipped');
    expect(await snapshot(name)).toEqual(atBackup);
  });

  it('restores the schema only into another target: the same schema, every table empty', async () => {
    const other = await createDatabase('rschema');
    await sql(other, 'create table leftovers (id int); insert into leftovers values (1)');
    const target = await s.createTarget(`rschema-${other.slice(-8)}`, other);
    const { operationId, preview } = await startRestore(s.api, source.backupId, {
      mode: 'schema-only',
      destination: { target: target.name },
    });
    expect(preview.warnings.find((w) => w.code === 'objects-dropped')?.objects).toEqual(['public.leftovers']);
    const ended = await waitForRestore(s.api, operationId);
    expect(ended.status).toBe('completed');
    expect(schemaDump(other)).toBe(atBackup.schema);
    const after = await snapshot(other);
    for (const [table, hash] of Object.entries(after.hashes)) {
      if (!table.startsWith('<')) expect(hash, table).toMatch(/^0:/);
    }
  });
});

describe('data-only and selected-table restores', () => {
  it('replaces the rows of every table, the sequences and the large objects, keeping the schema', async () => {
    const copy = await createDatabase('rdata');
    const target = await s.createTarget(`rdata-${copy.slice(-8)}`, copy);
    const schemaOnly = await startRestore(s.api, source.backupId, {
      mode: 'schema-only',
      destination: { target: target.name },
    });
    expect((await waitForRestore(s.api, schemaOnly.operationId)).status).toBe('completed');
    await sql(
      copy,
      `insert into sales.customers (name, email) values ('someone else', 'x@example.test');
       insert into public.documents_meta (path, attachment) values ('other.pdf', lo_from_bytea(0, 'other'));
       select setval('sales.invoice_number', 42);`,
    );

    const { operationId, preview } = await startRestore(s.api, source.backupId, {
      mode: 'data-only',
      destination: { target: target.name },
    });
    expect(preview.warnings.find((w) => w.code === 'data-replaced')?.objects).toContain('sales.customers');
    const ended = await waitForRestore(s.api, operationId);
    expect(ended.status).toBe('completed');
    expect(await snapshot(copy)).toEqual(atBackup);
  });

  it('restores selected tables with their sequences, re-creating a dropped one, and leaves the rest alone', async () => {
    const copy = `rtables_${Date.now().toString(36)}`;
    const full = await startRestore(s.api, source.backupId, {
      mode: 'full',
      destination: { database: copy },
    });
    expect((await waitForRestore(s.api, full.operationId)).status).toBe('completed');
    const target = await s.createTarget(`rtables-${copy.slice(-8)}`, copy);
    await sql(
      copy,
      `update sales.orders set note = 'changed';
       delete from sales.orders where id > 2500;
       select setval('sales.orders_id_seq', 99999);
       drop table audit.events;
       insert into sales.customers (name, email) values ('kept', 'kept@example.test');`,
    );
    const changed = await snapshot(copy);

    const { operationId, preview } = await startRestore(s.api, source.backupId, {
      mode: 'tables',
      tables: ['sales.orders', 'audit.events'],
      destination: { target: target.name },
    });
    expect(preview.tables.map((t) => [`${t.schema}.${t.name}`, t.action])).toEqual([
      ['audit.events', 'create'],
      ['sales.orders', 'replace-rows'],
    ]);
    expect(preview.sequences).toEqual([{ schema: 'sales', name: 'orders_id_seq' }]);
    const ended = await waitForRestore(s.api, operationId);
    expect(ended.status).toBe('completed');

    const after = await snapshot(copy);
    expect(after.schema).toBe(atBackup.schema);
    const restoredKeys = ['sales.orders', 'audit.events', '<sequence sales.orders_id_seq>'];
    for (const key of restoredKeys) expect(after.hashes[key], key).toBe(atBackup.hashes[key]);
    for (const key of ['sales.customers', '<sequence sales.customers_id_seq>']) {
      expect(after.hashes[key], key).toBe(changed.hashes[key]);
      expect(after.hashes[key], key).not.toBe(atBackup.hashes[key]);
    }
  });
});

describe('other sessions on the destination', () => {
  it('are reported by the preview and, when asked, ended before the restore takes its locks', async () => {
    const { database: busy, backupId: busyBackup } = await backedUpTarget(s, 'rbusy', (database) =>
      sql(database, `create table jobs (id int primary key); insert into jobs values (1), (2)`),
    );
    const atBusyBackup = await snapshot(busy);
    await sql(busy, 'delete from jobs');
    const session = new pg.Client({ connectionString: superuserUrl(busy) });
    session.on('error', () => undefined);
    await session.connect();
    try {
      // An application's forgotten transaction: without terminateConnections the restore would wait for it.
      await session.query('begin; select count(*) from jobs');
      const { operationId, preview } = await startRestore(s.api, busyBackup, {
        mode: 'full',
        terminateConnections: true,
      });
      expect(preview.destination.activeConnections).toBe(1);
      expect(preview.warnings.map((w) => w.code)).toContain('active-connections');
      expect((await waitForRestore(s.api, operationId)).status).toBe('completed');
      expect(await snapshot(busy)).toEqual(atBusyBackup);
      await expect(session.query('select 1')).rejects.toThrow();
    } finally {
      await session.end().catch(() => undefined);
    }
  });
});
