// Restores that must not change anything, or must undo what they changed: a flipped byte in the archive,
// a dump needing a role the server lacks, pg_restore killed, a cancellation before and after the commit,
// and a second restore of the same database. Each ends with the target byte for byte as before.
// Restores here run in place (method in-place); restore-swap*.test.ts covers the restore by swap.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { getBackup } from '../../catalog/backups.ts';
import { eventually } from '../harness/api.ts';
import { fillRichDatabase, writeDocumentsTree } from '../harness/fixtures.ts';
import {
  backedUpTarget,
  backUp,
  documentsSnapshot,
  preview,
  restoreOperation,
  snapshot,
  startRestore,
  waitForLockedRestore,
  waitForRestore,
} from '../harness/restore.ts';
import { createDatabase, scratchDir, sql, superuserUrl, useStack } from '../harness/stack.ts';

const s = useStack();

/** A backed-up target whose database then changed, so that "as before" differs from the backup. */
async function changedAfterBackup(prefix: string, options: { documents?: boolean; rows?: number } = {}) {
  const documentsDir = options.documents ? path.join(scratchDir(`${prefix}-docs`), 'documents') : undefined;
  if (documentsDir) writeDocumentsTree(documentsDir);
  const fill = async (empty: string): Promise<void> => {
    await fillRichDatabase(empty);
    if (!options.rows) return;
    await sql(
      empty,
      `create table public.bulk (id int primary key, body text);
       insert into public.bulk select g, repeat(md5(g::text), 4) from generate_series(1, ${options.rows}) g`,
    );
  };
  const { database, target, backupId } = await backedUpTarget(
    s,
    prefix,
    fill,
    documentsDir ? { documentsDir } : {},
  );
  await sql(
    database,
    `update sales.customers set name = 'after the backup' where id < 10;
     create table public.newer (id int); insert into public.newer values (1);`,
  );
  if (documentsDir) writeFileSync(path.join(documentsDir, 'readme.txt'), 'changed after the backup');
  return { database, target, backupId, documentsDir };
}

/** A session holding a lock in an open transaction until released. */
async function holdLock(database: string, statement: string) {
  const client = new pg.Client({ connectionString: superuserUrl(database) });
  await client.connect();
  await client.query('begin');
  const pid = (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
  const locked = client.query(statement);
  return {
    pid,
    locked,
    async release() {
      await locked.catch(() => undefined);
      await client.query('rollback');
      await client.end();
    },
  };
}

/** A full restore that queues behind a lock on sales.customers; `whileQueued` runs, then the lock goes. */
async function restoreBehindLock(
  database: string,
  backupId: string,
  whileQueued: (operationId: string) => Promise<void> | void,
): Promise<string> {
  const lock = await holdLock(database, 'select count(*) from sales.customers');
  try {
    const { operationId } = await startRestore(s.api, backupId, { mode: 'full', method: 'in-place' });
    await waitForLockedRestore(database, operationId);
    await whileQueued(operationId);
    return operationId;
  } finally {
    await lock.release();
  }
}

describe('a flipped byte in the archive', () => {
  it('is refused with CHECKSUM_MISMATCH, by the preview and by a restore confirmed before, changing nothing', async () => {
    const { database, target, backupId, documentsDir } = await changedAfterBackup('rflip', {
      documents: true,
    });
    const before = await snapshot(database);
    const documentsBefore = documentsSnapshot(documentsDir!);
    const confirmed = await preview(s.api, backupId, { mode: 'full', method: 'in-place' });

    const backup = await getBackup(s.db, backupId);
    const archive = path.join(s.storageDir, backup.storageKey!);
    const bytes = readFileSync(archive);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    writeFileSync(archive, bytes);

    const refused = await s.api.json<{ error: { code: string } }>(
      'POST',
      `/api/admin/backups/${backupId}/restore/preview`,
      { body: { mode: 'full', method: 'in-place' } },
    );
    expect(refused).toMatchObject({ status: 422, body: { error: { code: 'CHECKSUM_MISMATCH' } } });

    const started = await s.api.json<{ operationId: string }>(
      'POST',
      `/api/admin/backups/${backupId}/restore`,
      {
        body: { mode: 'full', method: 'in-place', confirmationToken: confirmed.confirmationToken },
      },
    );
    expect(started.status).toBe(202);
    const ended = await waitForRestore(s.api, started.body.operationId);
    expect(ended).toMatchObject({
      status: 'failed',
      errorCode: 'CHECKSUM_MISMATCH',
      safetyBackupId: null,
      rollback: { status: 'not_needed' },
    });
    expect(ended.steps.map((step) => `${step.step}:${step.status}`)).toEqual([
      'validate:started',
      'validate:failed',
    ]);
    expect(await snapshot(database)).toEqual(before);
    expect(documentsSnapshot(documentsDir!)).toEqual(documentsBefore);
    const backups = await s.api.json<{ total: number }>('GET', `/api/admin/backups?target=${target.name}`);
    expect(backups.body.total).toBe(1);
  });
});

describe('a restore that fails midway', () => {
  it('needing a role the server lacks: PostgreSQL rolls it all back, and the error says why', async () => {
    const database = await createDatabase('rrole');
    const role = `gone_${database.slice(-8)}`;
    await fillRichDatabase(database);
    await sql(
      database,
      `create role ${role}; create table public.owned (id int); insert into public.owned values (1), (2);
       alter table public.owned owner to ${role};`,
    );
    const target = await s.createTarget(`rrole-${database.slice(-8)}`, database);
    const backupId = await backUp(s.api, target.name);
    await sql(
      database,
      `drop table public.owned; drop role ${role}; delete from sales.orders where id > 100;`,
    );
    const before = await snapshot(database);

    const { operationId, preview: previewed } = await startRestore(s.api, backupId, {
      mode: 'full',
      method: 'in-place',
    });
    expect(previewed.warnings.find((w) => w.code === 'missing-roles')?.objects).toEqual([role]);
    const ended = await waitForRestore(s.api, operationId);
    expect(ended).toMatchObject({ status: 'failed', errorCode: 'PG_RESTORE_FAILED' });
    expect(ended.errorMessage).toContain(`role "${role}" does not exist`);
    expect(ended.rollback?.status).toBe('not_needed');
    expect(await snapshot(database)).toEqual(before);
    const safety = await getBackup(s.db, ended.safetyBackupId!);
    expect(safety).toMatchObject({ trigger: 'pre_restore', protected: false });
  });

  it('with pg_restore killed: nothing is committed, the target stays as it was', async () => {
    const { database, backupId } = await changedAfterBackup('rkill', { rows: 60_000 });
    const before = await snapshot(database);
    // The restore queues behind the lock, so pg_restore is mid-stream when it is killed.
    const operationId = await restoreBehindLock(database, backupId, (operationId) => {
      const pids = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' })
        .split('\n')
        .filter((line) => line.includes('pg_restore') && line.includes(`restore-${operationId}`))
        .map((line) => Number(line.trim().split(/\s+/)[0]));
      expect(pids).toHaveLength(1);
      process.kill(pids[0]!, 'SIGKILL');
    });
    const ended = await waitForRestore(s.api, operationId);
    expect(ended).toMatchObject({ status: 'failed', errorCode: 'PG_RESTORE_FAILED' });
    expect(ended.errorMessage).toContain('SIGKILL');
    expect(await snapshot(database)).toEqual(before);
  });
});

describe('cancelling a restore', () => {
  it('while it loads the database: rolled back; a second restore of the same target meanwhile is a 409', async () => {
    const { database, target, backupId } = await changedAfterBackup('rcancel');
    const before = await snapshot(database);
    const operationId = await restoreBehindLock(database, backupId, async (operationId) => {
      const running = await restoreOperation(s.api, operationId);
      expect(running.progress).toMatchObject({ step: 'restore-database', status: 'running' });
      const status = await s.api.json<{ items: { id: string; progress: { step: string } | null }[] }>(
        'GET',
        `/api/admin/backups/restore/status?target=${target.name}`,
        { token: s.api.tokens.viewer },
      );
      expect(status.body.items).toMatchObject([{ id: operationId, progress: { step: 'restore-database' } }]);

      const second = await preview(s.api, backupId, { mode: 'data-only' });
      const refused = await s.api.json<{ error: { code: string } }>(
        'POST',
        `/api/admin/backups/${backupId}/restore`,
        {
          body: { mode: 'data-only', confirmationToken: second.confirmationToken },
        },
      );
      expect(refused).toMatchObject({ status: 409, body: { error: { code: 'CONFLICT' } } });

      const cancel = await s.api.json('POST', `/api/admin/restores/${operationId}/cancel`);
      expect(cancel.status).toBe(202);
    });
    const ended = await waitForRestore(s.api, operationId);
    expect(ended).toMatchObject({ status: 'cancelled', errorCode: 'CANCELLED' });
    expect(ended.rollback?.status).toBe('completed');
    expect(await snapshot(database)).toEqual(before);
  });

  it('after the database was replaced: the safety backup and the kept documents bring everything back', async () => {
    const { database, backupId, documentsDir } = await changedAfterBackup('rundo', { documents: true });
    const before = await snapshot(database);
    const documentsBefore = documentsSnapshot(documentsDir!);
    // A holds the restore at its first lock; B queues behind the restore for the new sales.customers and
    // holds it once the restore committed, so verification waits there and the cancellation lands after
    // the commit.
    const first = await holdLock(database, 'select count(*) from sales.customers');
    const second = new pg.Client({ connectionString: superuserUrl(database) });
    await second.connect();
    let operationId: string;
    try {
      ({ operationId } = await startRestore(s.api, backupId, { mode: 'full', method: 'in-place' }));
      await waitForLockedRestore(database, operationId);
      await second.query('begin');
      const secondPid = (await second.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
      const secondLocked = second.query('lock table sales.customers in access exclusive mode');
      await eventually(
        async () => {
          const rows = await sql(
            database,
            `select 1 from pg_stat_activity where pid = $1 and wait_event_type = 'Lock'`,
            [secondPid],
          );
          return rows.length ? true : undefined;
        },
        30_000,
        'the second session to queue',
      );
      await first.release();
      await secondLocked;
      await eventually(
        async () => {
          const rows = await sql(
            database,
            `select 1 from pg_stat_activity where application_name = 'lifeboat-restore-verify' and wait_event_type = 'Lock'`,
          );
          return rows.length ? true : undefined;
        },
        60_000,
        'verification to wait for the lock',
      );
      const during = await restoreOperation(s.api, operationId);
      expect(during.progress?.step).toBe('verify');
      expect(during.steps.map((step) => `${step.step}:${step.status}`)).toContain(
        'restore-documents:completed',
      );
      expect((await s.api.json('POST', `/api/admin/restores/${operationId}/cancel`)).status).toBe(202);
    } finally {
      await first.release().catch(() => undefined);
      await second.query('rollback').catch(() => undefined);
      await second.end();
    }
    const ended = await waitForRestore(s.api, operationId);
    expect(ended).toMatchObject({
      status: 'cancelled',
      errorCode: 'CANCELLED',
      rollback: { status: 'completed' },
    });
    expect(ended.steps.map((step) => `${step.step}:${step.status}`)).toEqual(
      expect.arrayContaining(['verify:failed', 'rollback:started', 'rollback:completed']),
    );
    expect(await snapshot(database)).toEqual(before);
    expect(documentsSnapshot(documentsDir!)).toEqual(documentsBefore);
    const safety = await getBackup(s.db, ended.safetyBackupId!);
    expect(safety).toMatchObject({ status: 'completed', protected: false });
  });
});
