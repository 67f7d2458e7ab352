// Restore by swap against the real server: the checked copy takes the database's place with its grants,
// settings and comment, the previous database is kept aside and later dropped by the sweep; a copy that
// fails its check is dropped with the target untouched; a role without CREATEDB restores in place.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { findSetAside } from '../../catalog/set-aside.ts';
import { swapNames } from '../../domain/restore/swap.ts';
import type { setAsideSweepWorkflow } from '../../workflows/set-aside-sweep.ts';
import { eventually } from '../harness/api.ts';
import { fillRichDatabase } from '../harness/fixtures.ts';
import { backedUpTarget, snapshot, startRestore, waitForRestore } from '../harness/restore.ts';
import { sql, stack, superuserUrl, useStack } from '../harness/stack.ts';

const s = useStack();

/** A backed-up rich database with a bulk table, then changed, with database-level grants and settings. */
async function swappableTarget(prefix: string) {
  const fill = async (database: string) => {
    await fillRichDatabase(database);
    await sql(
      database,
      `create table public.bulk (id int primary key, body text);
       insert into public.bulk select g, md5(g::text) from generate_series(1, 20000) g`,
    );
  };
  const made = await backedUpTarget(s, prefix, fill);
  const atBackup = await snapshot(made.database);
  const role = `swap_reader_${randomBytes(3).toString('hex')}`;
  await sql('postgres', `create role ${role}`);
  await sql(
    'postgres',
    `revoke temporary on database ${made.database} from public;
     grant connect, create on database ${made.database} to ${role};
     alter database ${made.database} set work_mem = '12MB';
     alter database ${made.database} set search_path = '$user', public, 'odd "schema"';
     alter role ${role} in database ${made.database} set statement_timeout = '5min';
     comment on database ${made.database} is 'the app''s own database'`,
  );
  await sql(
    made.database,
    `update sales.customers set name = 'after the backup' where id < 10; create table public.newer (id int)`,
  );
  return { ...made, atBackup, role };
}

/** What belongs to the database itself, as pg_database and pg_db_role_setting hold it. */
async function databaseProperties(database: string) {
  const [row] = await sql<{ acl: string; comment: string | null; owner: string; allowconn: boolean }>(
    'postgres',
    `select datacl::text as acl, shobj_description(oid, 'pg_database') as comment,
            pg_get_userbyid(datdba) as owner, datallowconn as allowconn
       from pg_database where datname = $1`,
    [database],
  );
  const settings = await sql<{ role: string | null; config: string[] }>(
    'postgres',
    `select case when setrole = 0 then null else pg_get_userbyid(setrole) end as role, setconfig as config
       from pg_db_role_setting s join pg_database d on d.oid = s.setdatabase where d.datname = $1 order by 1`,
    [database],
  );
  // The order of the items of an ACL carries no meaning: compared as a sorted list.
  const acl =
    row!.acl
      ?.replace(/^\{|\}$/g, '')
      .split(',')
      .sort() ?? null;
  return { ...row, acl, settings };
}

async function databaseExists(name: string): Promise<boolean> {
  return (await sql('postgres', 'select 1 from pg_database where datname = $1', [name])).length > 0;
}

describe('a full restore into a target, by swap', () => {
  it('swaps in the checked copy with the grants, settings and comment of the database it replaces, kept aside', async () => {
    const { database, backupId, atBackup } = await swappableTarget('swapok');
    const before = await snapshot(database);
    const propertiesBefore = await databaseProperties(database);

    const { operationId, preview } = await startRestore(s.api, backupId, {
      mode: 'full',
      terminateConnections: true,
    });
    expect(preview.safetyBackup).toBe(false);
    expect((preview as unknown as { path: { kind: string } }).path.kind).toBe('swap');
    const ended = await waitForRestore(s.api, operationId);
    expect(ended.status, JSON.stringify(ended)).toBe('completed');
    const names = swapNames(database, operationId);
    expect(ended.result).toMatchObject({ path: 'swap', setAside: { database: names.aside } });
    expect(ended.steps.map((step) => `${step.step}:${step.status}`)).toContain('swap:completed');

    expect(await snapshot(database)).toEqual(atBackup);
    const propertiesAfter = await databaseProperties(database);
    expect(propertiesAfter).toEqual({ ...propertiesBefore, allowconn: true });
    expect(await databaseExists(names.incoming)).toBe(false);

    // The database as it was is kept aside, closed to connections; opened here to compare it.
    expect((await databaseProperties(names.aside)).allowconn).toBe(false);
    await sql('postgres', `alter database ${names.aside} with allow_connections true`);
    expect(await snapshot(names.aside)).toEqual(before);

    const kept = await findSetAside(s.db, operationId);
    expect(kept).toMatchObject({ databaseName: database, asideName: names.aside, endedAt: null });
    const hoursKept = (Date.parse(kept!.keepUntil) - Date.parse(kept!.setAsideAt)) / 3_600_000;
    expect(hoursKept).toBeCloseTo(24, 1);

    // Its time up, the sweep drops it and records that it did.
    await s.db.query(
      `update restore_set_aside set keep_until = now() - interval '1 minute' where operation_id = $1`,
      [operationId],
    );
    const sweep = await s.client.workflow.execute<typeof setAsideSweepWorkflow>('setAsideSweepWorkflow', {
      taskQueue: s.worker.taskQueue,
      workflowId: `set-aside-sweep-test-${operationId}`,
      args: [],
    });
    expect(sweep.dropped).toContain(names.aside);
    expect(await databaseExists(names.aside)).toBe(false);
    expect(await findSetAside(s.db, operationId)).toMatchObject({ outcome: 'dropped' });
  });

  it('drops a copy that fails its check, and leaves the target exactly as it was', async () => {
    const { database, backupId } = await swappableTarget('swapbad');
    const before = await snapshot(database);
    const propertiesBefore = await databaseProperties(database);
    const { operationId } = await startRestore(s.api, backupId, { mode: 'full', terminateConnections: true });
    const { incoming } = swapNames(database, operationId);

    // One row more in the copy than the dump carries: inserted under a lock that the restore or its
    // check then waits for, so it is in before the check counts, whichever comes first.
    await eventually(
      async () =>
        (await databaseExists(incoming)) &&
        (await sql(incoming, `select to_regclass('public.bulk') as t`))[0]?.t
          ? true
          : undefined,
      90_000,
      'the restore to create public.bulk in the copy',
    );
    const intruder = new pg.Client({ connectionString: superuserUrl(incoming) });
    await intruder.connect();
    try {
      await intruder.query('begin');
      await intruder.query('lock table public.bulk in access exclusive mode');
      await intruder.query(`insert into public.bulk values (-1, 'not in the dump')`);
      await eventually(
        async () =>
          (
            await sql(
              'postgres',
              `select 1 from pg_stat_activity where datname = $1 and wait_event_type = 'Lock'`,
              [incoming],
            )
          ).length > 0 || undefined,
        90_000,
        'the restore to wait for the lock',
      );
      await intruder.query('commit');
    } finally {
      await intruder.end();
    }

    const ended = await waitForRestore(s.api, operationId);
    expect(ended.status).toBe('failed');
    expect(ended.errorCode).toBe('VERIFY_FAILED');
    expect(ended.rollback).toMatchObject({ status: 'completed' });
    expect(ended.rollback?.message).toContain('was never changed');
    expect(await databaseExists(incoming)).toBe(false);
    expect(await snapshot(database)).toEqual(before);
    expect(await databaseProperties(database)).toEqual(propertiesBefore);
    expect(await findSetAside(s.db, operationId)).toBeUndefined();
  });

  it('runs in place when the role lacks CREATEDB, and the preview says why', async () => {
    const { database, target, backupId, atBackup } = await swappableTarget('swapno');
    const role = `swap_owner_${randomBytes(3).toString('hex')}`;
    const password = randomBytes(12).toString('hex');
    // A member of the owner of everything, so it may replace it all, but neither superuser nor CREATEDB.
    await sql('postgres', `create role ${role} login nocreatedb password '${password}'`);
    await sql('postgres', `grant ${stack().pgSuperuser} to ${role}`);
    await s.replaceTarget(target, database, { username: role, password });

    const { operationId, preview } = await startRestore(s.api, backupId, { mode: 'full', noOwner: true });
    const path = (preview as unknown as { path: { kind: string; reasons: string[] } }).path;
    expect(path.kind).toBe('in-place');
    expect(path.reasons.join(' ')).toContain('lacks CREATEDB');
    expect(preview.safetyBackup).toBe(true);
    const ended = await waitForRestore(s.api, operationId, 180_000);
    expect(ended.status, JSON.stringify(ended.steps)).toBe('completed');
    expect(ended.result).toMatchObject({ path: 'in-place', setAside: null });
    expect(ended.safetyBackupId).not.toBeNull();
    expect((await snapshot(database)).hashes).toEqual(atBackup.hashes);
  });
});
