// Restore drills against the real server: a rich database with documents is restored into a scratch
// database on the drill server and passes every check; a failing SQL assertion and a flipped byte in the
// stored archive fail the drill (naming the check, marking the copy broken, telling the operators), and
// retention then keeps the newest backup a drill proved. No scratch database is left behind.
import { serve, type ServerType } from '@hono/node-server';
import { execa } from 'execa';
import { copyFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { extractArchive } from '../../archive/read.ts';
import { writeArchive } from '../../archive/write.ts';
import { getBackup, listBackupCopies } from '../../catalog/backups.ts';
import { eventId, notifyWorkflowId } from '../../domain/notifications/events.ts';
import { planTarget } from '../../services/retention.ts';
import { eventually } from '../harness/api.ts';
import { dumpByHand, fillRichDatabase, restoreDumpByHand, writeDocumentsTree } from '../harness/fixtures.ts';
import { backUp } from '../harness/restore.ts';
import { createDatabase, scratchDir, sql, useStack } from '../harness/stack.ts';

const s = useStack();

// The settings are the catalog's, shared with the other files of the run: no drill server after this one.
afterAll(async () => {
  await s.api.json('PATCH', '/api/admin/backups/settings', {
    body: { drills: { server: null, servers: [], assertions: [] } },
  });
});

interface DrillBody {
  id: string;
  status: string;
  checks: { name: string; label?: string; status: string; detail: string }[];
  errorMessage: string | null;
  rtoSeconds: number | null;
  storageUrl: string | null;
  scratchDatabase: string | null;
}

/** A rich database: schemas, an odd identifier, enums, partitions, a large object, a materialized view, an extension. */
async function fillDrillDatabase(database: string): Promise<void> {
  await fillRichDatabase(database);
  await sql(
    database,
    `create extension pg_trgm;
     create table public."Odd ""Name"" Table" (id int primary key, label text);
     insert into public."Odd ""Name"" Table" select g, 'label ' || g from generate_series(1, 50) g;
     create table sales.ledger (id int, booked date not null, amount numeric) partition by range (booked);
     create table sales.ledger_2026h1 partition of sales.ledger for values from ('2026-01-01') to ('2026-07-01');
     create table sales.ledger_2026h2 partition of sales.ledger for values from ('2026-07-01') to ('2027-01-01');
     insert into sales.ledger select g, date '2026-01-01' + g % 360, g * 1.5 from generate_series(1, 720) g;
     create materialized view sales.order_totals as select state, sum(total) from sales.orders group by state;
     create index customers_name_trgm on sales.customers using gin (name gin_trgm_ops);`,
  );
}

/** A drill server of its own for a test: a target on a fresh database of the harness's server. */
async function drillServer() {
  const database = await createDatabase('drillhost');
  return s.createTarget(`drill-server-${database.slice(-8)}`, database);
}

async function settings(body: Record<string, unknown>): Promise<void> {
  const response = await s.api.json('PATCH', '/api/admin/backups/settings', { body });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
}

async function drillOf(backupId: string): Promise<DrillBody> {
  const started = await s.api.json<{ drillId: string }>('POST', `/api/admin/backups/${backupId}/drills`);
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  return eventually(
    async () => {
      const { body } = await s.api.json<DrillBody>('GET', `/api/admin/drills/${started.body.drillId}`);
      return ['queued', 'running'].includes(body.status) ? undefined : body;
    },
    180_000,
    'the drill to end',
  );
}

async function drillDatabasesLeft(): Promise<string[]> {
  const rows = await sql<{ datname: string }>(
    'postgres',
    `select datname from pg_database where starts_with(datname, 'lifeboat_drill_')`,
  );
  return rows.map((row) => row.datname);
}

const checkOf = (drill: DrillBody, name: string) => drill.checks.find((check) => check.name === name);

describe('a restore drill', () => {
  it('restores a rich database with documents on the drill server and passes every check', async () => {
    const server = await drillServer();
    const database = await createDatabase('drillrich');
    await fillDrillDatabase(database);
    const documentsDir = path.join(scratchDir('drill-docs'), 'documents');
    writeDocumentsTree(documentsDir);
    const target = await s.createTarget(`drillrich-${database.slice(-8)}`, database, { documentsDir });
    await settings({
      drills: {
        server: server.name,
        afterBackup: false,
        assertions: [
          {
            target: target.name,
            name: 'enough orders',
            sql: 'select count(*) from sales.orders',
            operator: '>',
            value: 1000,
          },
          {
            target: target.name,
            name: 'recent customers',
            sql: 'select max(created_at) from sales.customers',
            withinHoursOfBackup: 24 * 365,
          },
        ],
      },
    });
    const backupId = await backUp(s.api, target.name);

    const drill = await drillOf(backupId);
    expect(drill.status, JSON.stringify(drill.checks)).toBe('passed');
    for (const name of ['archive', 'pg_restore', 'row counts', 'schema', 'amcheck', 'documents']) {
      expect(checkOf(drill, name)?.status, `${name}: ${checkOf(drill, name)?.detail}`).toBe('passed');
    }
    expect(drill.checks.filter((check) => check.name === 'assertion').map((check) => check.label)).toEqual([
      'enough orders',
      'recent customers',
    ]);
    expect(checkOf(drill, 'assertion')?.detail).toContain('returned 3000');
    expect(drill.rtoSeconds).toBeGreaterThan(0);
    expect(drill.scratchDatabase).toMatch(/^lifeboat_drill_/);
    expect(await drillDatabasesLeft()).toEqual([]);

    const backup = await s.api.json<{ verification: { status: string; drillId: string } | null }>(
      'GET',
      `/api/admin/backups/${backupId}`,
    );
    expect(backup.body.verification).toMatchObject({ status: 'passed', drillId: drill.id });
    const report = await s.api.json<{
      newestVerified: { backupId: string } | null;
      kept: { proven: number };
    }>('GET', `/api/admin/targets/${target.id}/restorability`);
    expect(report.body.newestVerified?.backupId).toBe(backupId);
    expect(report.body.kept.proven).toBe(1);
    const listed = await s.api.json<{ items: { id: string }[] }>(
      'GET',
      `/api/admin/backups/${backupId}/drills`,
    );
    expect(listed.body.items.map((item) => item.id)).toEqual([drill.id]);

    // The same through the CLI, served: `lifeboat drill --wait` follows a drill to its verdict.
    const served = await new Promise<ServerType>((resolve) => {
      const started = serve({ fetch: s.api.app.fetch, hostname: '127.0.0.1', port: 0 }, () =>
        resolve(started),
      );
    });
    try {
      const cli = (...args: string[]) =>
        execa(process.execPath, [path.resolve(import.meta.dirname, '../../cli/main.ts'), ...args], {
          env: {
            LIFEBOAT_API_URL: `http://127.0.0.1:${(served.address() as AddressInfo).port}`,
            LIFEBOAT_TOKEN: s.api.tokens.operator,
          },
          extendEnv: false,
          reject: false,
          timeout: 180_000,
        });
      const followed = await cli('drill', backupId, '--wait');
      expect(followed.exitCode, followed.stderr).toBe(0);
      expect(followed.stderr).toContain('passed  row counts');
      const table = await cli('drills');
      expect(table.exitCode, table.stderr).toBe(0);
      expect(table.stdout.split('\n')[0]).toMatch(/^finished\s+target\s+status\s+restore time/);
      expect(table.stdout).toContain(target.name);
    } finally {
      served.close();
    }
  });

  it('fails on a failing SQL assertion, with its name and value, and tells the operators', async () => {
    const server = await drillServer();
    const database = await createDatabase('drillassert');
    await fillRichDatabase(database);
    const target = await s.createTarget(`drillassert-${database.slice(-8)}`, database);
    await settings({
      drills: {
        server: server.name,
        afterBackup: false,
        assertions: [
          {
            target: target.name,
            name: 'a million orders',
            sql: 'select count(*) from sales.orders',
            operator: '>=',
            value: 1_000_000,
          },
        ],
      },
    });
    const backupId = await backUp(s.api, target.name);
    const drill = await drillOf(backupId);
    expect(drill.status).toBe('failed');
    expect(drill.errorMessage).toContain('a million orders');
    expect(drill.errorMessage).toContain('returned 3000');
    expect(checkOf(drill, 'row counts')?.status).toBe('passed');
    // The notification goes out once the drill's ending is recorded.
    const told = s.client.workflow.getHandle(notifyWorkflowId({ id: eventId('drill.failed', drill.id) }));
    const described = await eventually(() => told.describe().catch(() => undefined), 30_000, 'drill.failed');
    expect(described.type).toBe('notifyWorkflow');
    expect(await drillDatabasesLeft()).toEqual([]);
  });

  it('catches a flipped byte in a stored copy: that copy is marked broken, and retention keeps the newest proven backup', async () => {
    const server = await drillServer();
    const database = await createDatabase('drillflip');
    await fillRichDatabase(database);
    const target = await s.createTarget(`drillflip-${database.slice(-8)}`, database);
    await settings({ drills: { server: server.name, afterBackup: false, assertions: [] } });
    const proven = await backUp(s.api, target.name);
    expect((await drillOf(proven)).status).toBe('passed');

    const damaged = await backUp(s.api, target.name);
    const backup = await getBackup(s.db, damaged);
    const file = path.join(s.storageDir, backup.storageKey!);
    const bytes = readFileSync(file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    writeFileSync(file, bytes);

    const drill = await drillOf(damaged);
    expect(drill.status).toBe('failed');
    expect(checkOf(drill, 'archive')).toMatchObject({ status: 'failed' });
    expect(checkOf(drill, 'archive')?.detail).toContain('sha256');
    expect(checkOf(drill, 'pg_restore')?.status).toBe('skipped');
    const [copy] = await listBackupCopies(s.db, damaged);
    const broken = await s.db.query<{ broken_at: Date | null }>(
      'select broken_at from backup_copies where backup_id = $1 and storage_url = $2',
      [damaged, copy!.storageUrl],
    );
    expect(broken.rows[0]?.broken_at).not.toBeNull();

    // Keep only the last backup: the newest proven one stays all the same, and the newest says it is unproven.
    const { plan } = await planTarget(s.db, target.id, new Date(), {
      ...(await s.api.json<{ retention: Record<string, unknown> }>('GET', '/api/admin/backups/settings')).body
        .retention,
      keepLast: 1,
      keepHourly: 0,
      keepDaily: 0,
      keepWeekly: 0,
      keepMonthly: 0,
      keepYearly: 0,
    } as never);
    const reasons = new Map(plan.keep.map((kept) => [kept.id, kept.reasons]));
    expect(reasons.get(proven)).toContain('verified');
    expect(reasons.get(damaged)).toEqual(expect.arrayContaining(['newest', 'unverified']));
    expect(plan.remove.map((removed) => removed.id)).not.toContain(proven);
  });

  it('takes its turn on the drill server: with concurrency 1, two drills never run at once', async () => {
    const server = await drillServer();
    const database = await createDatabase('drillturn');
    await fillRichDatabase(database);
    const target = await s.createTarget(`drillturn-${database.slice(-8)}`, database);
    await settings({ drills: { server: server.name, afterBackup: false, concurrency: 1, assertions: [] } });
    const backupId = await backUp(s.api, target.name);
    const [a, b] = await Promise.all([drillOf(backupId), drillOf(backupId)]);
    expect([a.status, b.status]).toEqual(['passed', 'passed']);
    const windows = await s.db.query<{ started_at: Date; finished_at: Date }>(
      'select started_at, finished_at from drills where id = any($1) order by started_at',
      [[a.id, b.id]],
    );
    const [first, second] = windows.rows;
    expect(second!.started_at.getTime()).toBeGreaterThanOrEqual(first!.finished_at.getTime());
  });

  it('fails the row check for a dump that restores but lost the rows of a table, its checksums made to match', async () => {
    const server = await drillServer();
    const database = await createDatabase('drilllost');
    await fillRichDatabase(database);
    await sql(database, 'analyze');
    const target = await s.createTarget(`drilllost-${database.slice(-8)}`, database);
    await settings({ drills: { server: server.name, afterBackup: false, assertions: [] } });
    const backupId = await backUp(s.api, target.name);

    // The archive rebuilt around a dump of the same database with sales.orders emptied, and the catalog's
    // sha256, size and manifest made to match it: every checksum holds, only the rows are wrong.
    const backup = await getBackup(s.db, backupId);
    const stored = path.join(s.storageDir, backup.storageKey!);
    const work = scratchDir('drill-lost');
    const extracted = await extractArchive({ file: stored, destination: path.join(work, 'x') });
    const original = [...extracted.files.entries()].find(([name]) => name.startsWith('database/'))!;
    const edited = await createDatabase('drilledit');
    restoreDumpByHand(edited, original[1]);
    await sql(edited, 'alter table sales.orders disable trigger all; delete from sales.orders');
    const dumpFile = path.join(work, 'edited.dump');
    dumpByHand(edited, dumpFile);
    const entryName = `database/${database}.dump`;
    const manifest = { ...extracted.manifest, files: undefined, dumpParts: undefined };
    const rebuilt = await writeArchive({
      sources: [{ entryName, file: dumpFile, sizeBytes: statSync(dumpFile).size, mtime: new Date() }],
      manifest: { ...manifest, formatVersion: 1 } as never,
      outputFile: path.join(work, 'rebuilt.tar.zst'),
      compression: 'zstd',
    });
    copyFileSync(path.join(work, 'rebuilt.tar.zst'), stored);
    await s.db.query('update backups set sha256 = $2, size_bytes = $3, manifest = $4 where id = $1', [
      backupId,
      rebuilt.sha256,
      rebuilt.sizeBytes,
      JSON.stringify(rebuilt.manifest),
    ]);
    await s.db.query('update backup_copies set size_bytes = $2 where backup_id = $1', [
      backupId,
      rebuilt.sizeBytes,
    ]);

    const drill = await drillOf(backupId);
    expect(drill.status).toBe('failed');
    expect(checkOf(drill, 'archive')?.status).toBe('passed');
    expect(checkOf(drill, 'pg_restore')?.status).toBe('passed');
    expect(checkOf(drill, 'row counts')).toMatchObject({ status: 'failed' });
    expect(checkOf(drill, 'row counts')?.detail).toContain('sales.orders holds 0 rows, against about 3000');
  });
});
