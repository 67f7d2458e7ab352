// A restore by swap whose worker process is SIGKILLed between the two renames of the swap: PostgreSQL
// never commits half a swap, the restarted worker swaps again, and the restore ends with the backup's
// database in place and the previous one kept aside, both whole. Also the swap and its undo on their own.
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { swapNames } from '../../domain/restore/swap.ts';
import { createIncomingDatabase, swapBack, swapIn } from '../../postgres/swap.ts';
import { eventually } from '../harness/api.ts';
import { fillRichDatabase } from '../harness/fixtures.ts';
import { backedUpTarget, snapshot, startRestore, waitForRestore } from '../harness/restore.ts';
import {
  createDatabase,
  scratchDir,
  sql,
  stack,
  superuserUrl,
  useStack,
  waitForLockWaiter,
} from '../harness/stack.ts';
import { killWorkerProcess, killWorkerProcesses, startWorkerProcess } from '../harness/worker-process.ts';

const { worker, api, storageDir, createTarget } = useStack({ workers: 0 });

afterAll(() => killWorkerProcesses());

const names = async (...databases: string[]) =>
  (
    await sql<{ datname: string }>(
      'postgres',
      'select datname from pg_database where datname = any($1) order by 1',
      [databases],
    )
  ).map((row) => row.datname);

describe('a restore by swap', () => {
  it('killed between the two renames, swaps again after the restart and ends whole', async () => {
    const launch = {
      taskQueue: worker.taskQueue,
      workerId: 'swap-crash-worker',
      storageDir,
      workDir: scratchDir('swap-crash-work'),
    };
    const first = await startWorkerProcess(launch);
    const { database, backupId } = await backedUpTarget({ api, createTarget }, 'swapkill', fillRichDatabase);
    const atBackup = await snapshot(database);
    await sql(database, `delete from sales.orders where id > 10; create table public.later (id int)`);
    const before = await snapshot(database);

    const { operationId } = await startRestore(api, backupId, { mode: 'full', terminateConnections: true });
    const { incoming, aside } = swapNames(database, operationId);
    await eventually(
      async () => (await names(incoming)).length > 0 || undefined,
      90_000,
      'the incoming copy',
    );

    // COMMENT takes a lock on the incoming database that its rename waits for; the rename of the
    // original, the swap's first statement, has been made in the same transaction by then.
    const blocker = new pg.Client({ connectionString: superuserUrl('postgres') });
    await blocker.connect();
    try {
      await blocker.query('begin');
      await blocker.query(`comment on database ${incoming} is 'held by the test'`);
      await waitForLockWaiter('postgres', 'lifeboat-restore-swap', {
        what: 'the swap to wait between its renames',
      });
      await killWorkerProcess(first);
      // Nothing of the half-made swap is visible: the transaction never committed.
      expect(await names(database, incoming, aside)).toEqual([database, incoming].sort());
    } finally {
      await blocker.query('rollback').catch(() => undefined);
      await blocker.end();
    }

    await startWorkerProcess(launch);
    const ended = await waitForRestore(api, operationId, 240_000);
    expect(ended.status, JSON.stringify(ended.steps)).toBe('completed');
    expect(ended.result).toMatchObject({ path: 'swap', setAside: { database: aside } });
    expect(await names(database, incoming, aside)).toEqual([aside, database].sort());
    expect(await snapshot(database)).toEqual(atBackup);
    await sql('postgres', `alter database ${aside} with allow_connections true`);
    expect(await snapshot(aside)).toEqual(before);
  });

  it('is undone by swapping back: the original database returns whole under its name, open again', async () => {
    const database = await createDatabase('swapback');
    await fillRichDatabase(database);
    const before = await snapshot(database);
    const s = stack();
    const connection = { host: '127.0.0.1', port: s.pgPort, database, username: s.pgSuperuser };
    const operationId = crypto.randomUUID();
    const swapNamesNow = swapNames(database, operationId);
    const [original] = await sql<{ oid: string }>(
      'postgres',
      'select oid::text as oid from pg_database where datname = $1',
      [database],
    );
    const incomingOid = await createIncomingDatabase(connection, s.pgPassword, {
      database,
      names: swapNamesNow,
      marker: `test ${operationId}`,
    });
    await sql(swapNamesNow.incoming, 'create table replaced (id int)');
    const request = { database, names: swapNamesNow, originalOid: original!.oid, incomingOid };

    expect(await swapIn(connection, s.pgPassword, { ...request, terminateConnections: true })).toEqual({
      swapped: 'now',
    });
    expect(await swapIn(connection, s.pgPassword, { ...request, terminateConnections: true })).toEqual({
      swapped: 'already',
    });
    expect(await sql(database, `select to_regclass('public.replaced') as t`)).toEqual([{ t: 'replaced' }]);

    expect(await swapBack(connection, s.pgPassword, request)).toEqual({ swappedBack: true });
    expect(await swapBack(connection, s.pgPassword, request)).toEqual({ swappedBack: false });
    expect(await snapshot(database)).toEqual(before);
    expect(await names(database, swapNamesNow.incoming, swapNamesNow.aside)).toEqual(
      [database, swapNamesNow.incoming].sort(),
    );
  });
});
