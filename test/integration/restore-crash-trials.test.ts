// Crash trials of the restore: a real worker process SIGKILLed inside each step of a full restore over an
// existing target with documents (validate, the safety backup, the database, verify, and the rollback's
// restore from the safety backup), then started again under the same id. Every run must end completed, or
// rolled back, with the database identical by schema dump and per-table content hashes and the documents
// identical file by file; and the history must show that the kill interrupted the step (a later attempt).
// Once more with the worker killed inside the database restore and never coming back: another worker takes
// the step over.
// They run in place (method in-place); restore-swap-crash.test.ts kills a restore by swap inside its swap.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/api.ts';
import { fillRichDatabase, writeDocumentsTree } from '../harness/fixtures.ts';
import {
  backedUpTarget,
  documentsSnapshot,
  preview,
  restoreOperation,
  snapshot,
  startRestore,
  waitForRestore,
  type DatabaseSnapshot,
} from '../harness/restore.ts';
import { killWorkerProcess, killWorkerProcesses, startWorkerProcess } from '../harness/worker-process.ts';
import { scratchDir, sql, superuserUrl, useStack, waitForLockWaiter } from '../harness/stack.ts';

// No worker in this process: each trial starts worker processes and kills them.
const { client, worker, api, storageDir, createTarget } = useStack({ workers: 0 });

let database: string;
let backupId: string;
let documentsDir: string;
let atBackup: DatabaseSnapshot;
let documentsAtBackup: Record<string, string>;

function launchOptions(workerId: string) {
  return { taskQueue: worker.taskQueue, workerId, storageDir, workDir: scratchDir(`rtrial-${workerId}`) };
}

beforeAll(async () => {
  documentsDir = path.join(scratchDir('rtrials-docs'), 'documents');
  writeDocumentsTree(documentsDir);
  const setup = await startWorkerProcess(launchOptions(`rtrial-setup-${randomBytes(3).toString('hex')}`));
  ({ database, backupId } = await backedUpTarget(
    { api, createTarget },
    'rtrials',
    async (empty) => {
      await fillRichDatabase(empty);
      // About 50 MB of hex text, which compresses poorly: fetching, extracting, dumping and loading it
      // each take a second or more, so each kill lands inside its step.
      await sql(
        empty,
        `create table public.blobs (id int primary key, body text);
         insert into public.blobs
         select g, (select string_agg(md5(random()::text || g || s), '') from generate_series(1, 1000) s)
         from generate_series(1, 1600) g`,
      );
    },
    { documentsDir },
  ));
  atBackup = await snapshot(database);
  documentsAtBackup = documentsSnapshot(documentsDir);
  await killWorkerProcess(setup);
}, 240_000);

// Each trial's workers go with it: a live worker of an earlier trial would take the next trial's run.
afterEach(() => killWorkerProcesses());
afterAll(() => killWorkerProcesses());

/** The database and documents changed after the backup, so that "as before" differs from the backup. */
async function changeTarget(): Promise<{
  before: DatabaseSnapshot;
  documentsBefore: Record<string, string>;
}> {
  const tag = randomBytes(3).toString('hex');
  await sql(
    database,
    `update sales.customers set name = 'after the backup ${tag}' where id < 10;
     drop table if exists public.newer; create table public.newer (id int); insert into public.newer values (1);`,
  );
  writeFileSync(path.join(documentsDir, 'later.txt'), `after the backup ${tag}`);
  return { before: await snapshot(database), documentsBefore: documentsSnapshot(documentsDir) };
}

/** The activities a worker is running right now in the workflow. */
async function runningActivities(workflowId: string): Promise<string[]> {
  const description = await client.workflow.getHandle(workflowId).describe();
  return (description.raw.pendingActivities ?? [])
    .filter((activity) => Number(activity.state) === 2) // PENDING_ACTIVITY_STATE_STARTED
    .map((activity) => activity.activityType?.name ?? '');
}

/** The identity of the worker running `activity` in the workflow now (`lifeboat@<worker id>/own`). */
async function workerRunning(workflowId: string, activity: string): Promise<string> {
  const description = await client.workflow.getHandle(workflowId).describe();
  const running = (description.raw.pendingActivities ?? []).find(
    (pending) => Number(pending.state) === 2 && pending.activityType?.name === activity,
  );
  if (!running?.lastWorkerIdentity) throw new Error(`${activity} does not run in ${workflowId}`);
  return running.lastWorkerIdentity;
}

/** For each time the workflow scheduled `activity`, in order: the task queue it went to and how it ended. */
async function activityRuns(
  workflowId: string,
  activity: string,
): Promise<{ taskQueue: string; ended: string }[]> {
  const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const runs = new Map<string, { taskQueue: string; ended: string }>();
  for (const event of events) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled?.activityType?.name === activity) {
      runs.set(String(event.eventId), { taskQueue: scheduled.taskQueue?.name ?? '', ended: 'open' });
    }
    const endings = {
      completed: event.activityTaskCompletedEventAttributes,
      failed: event.activityTaskFailedEventAttributes,
      timedOut: event.activityTaskTimedOutEventAttributes,
    };
    for (const [ended, attributes] of Object.entries(endings)) {
      const run = attributes && runs.get(String(attributes.scheduledEventId));
      if (run) run.ended = ended;
    }
  }
  return [...runs.values()];
}

/** Resolves once `activity` runs in the workflow. */
async function runningOf(workflowId: string, activity: string): Promise<void> {
  await eventually(
    async () =>
      (await runningActivities(workflowId).catch((): string[] => [])).includes(activity) ? true : undefined,
    120_000,
    `${activity} to run in ${workflowId}`,
  );
}

/** The restore's safety backup: its child backupWorkflow (other children tell its events). */
function safetyBackupWorkflow(workflowId: string): Promise<string> {
  return eventually(
    async () => {
      const description = await client.workflow.getHandle(workflowId).describe();
      const children = description.raw.pendingChildren ?? [];
      return children.find((child) => child.workflowTypeName === 'backupWorkflow')?.workflowId ?? undefined;
    },
    120_000,
    'the safety backup to start',
  );
}

/**
 * For each time the workflow scheduled `activity`, in order, the attempt that ended it (Temporal records
 * the started event of the last attempt only): above 1 when a kill interrupted an earlier one.
 */
async function endingAttempts(workflowId: string, activity: string): Promise<number[]> {
  const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const scheduled = new Set<string>();
  const attempts: number[] = [];
  for (const event of events) {
    if (event.activityTaskScheduledEventAttributes?.activityType?.name === activity) {
      scheduled.add(String(event.eventId));
    }
    const started = event.activityTaskStartedEventAttributes;
    if (started && scheduled.has(String(started.scheduledEventId))) attempts.push(started.attempt ?? 0);
  }
  return attempts;
}

async function workflowOf(operationId: string): Promise<string> {
  return (await restoreOperation(api, operationId)).workflowId;
}

/** A session on the target holding locks in an open transaction until released. */
async function session(): Promise<{
  pid: number;
  query: (text: string) => Promise<unknown>;
  waitsForLock: () => Promise<void>;
  release: () => Promise<void>;
}> {
  const connection = new pg.Client({ connectionString: superuserUrl(database) });
  await connection.connect();
  await connection.query('begin');
  const pid = (await connection.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
  return {
    pid,
    query: (text) => connection.query(text),
    waitsForLock: async () => {
      await eventually(
        async () => {
          const rows = await sql(
            database,
            `select 1 from pg_stat_activity where pid = $1 and wait_event_type = 'Lock'`,
            [pid],
          );
          return rows.length ? true : undefined;
        },
        60_000,
        `session ${pid} to queue for its lock`,
      );
    },
    async release() {
      await connection.query('rollback').catch(() => undefined);
      await connection.end().catch(() => undefined);
    },
  };
}

async function expectCompleted(operationId: string): Promise<void> {
  const ended = await waitForRestore(api, operationId, 300_000);
  expect(ended, ended.errorMessage ?? '').toMatchObject({ status: 'completed', errorCode: null });
  expect(await snapshot(database)).toEqual(atBackup);
  expect(documentsSnapshot(documentsDir)).toEqual(documentsAtBackup);
}

describe('a worker SIGKILLed inside a restore step and restarted under the same id', () => {
  it('finishes the restore when killed during validate (fetch, verify, extract)', async () => {
    await changeTarget();
    const launch = launchOptions(`rtrial-${randomBytes(3).toString('hex')}`);
    const previewer = await startWorkerProcess(launch);
    const previewed = await preview(api, backupId, { mode: 'full', method: 'in-place' });
    // Restarted after its preview, the worker holds no extraction in memory: validate fetches, verifies and
    // extracts the archive itself, which takes long enough for the kill to land inside it.
    await killWorkerProcess(previewer);
    const first = await startWorkerProcess(launch);
    const started = await api.json<{ operationId: string }>(
      'POST',
      `/api/admin/backups/${backupId}/restore`,
      {
        body: { mode: 'full', method: 'in-place', confirmationToken: previewed.confirmationToken },
      },
    );
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const { operationId } = started.body;
    const workflowId = await workflowOf(operationId);
    await runningOf(workflowId, 'prepareRestore');
    await killWorkerProcess(first);
    await startWorkerProcess(launch);
    await expectCompleted(operationId);
    expect((await endingAttempts(workflowId, 'prepareRestore'))[0]).toBeGreaterThan(1);
  }, 420_000);

  it('finishes the restore when killed during the safety backup (its dump)', async () => {
    await changeTarget();
    const launch = launchOptions(`rtrial-${randomBytes(3).toString('hex')}`);
    const first = await startWorkerProcess(launch);
    const { operationId } = await startRestore(api, backupId, { mode: 'full', method: 'in-place' });
    const workflowId = await workflowOf(operationId);
    const child = await safetyBackupWorkflow(workflowId);
    await runningOf(child, 'streamBackup');
    await killWorkerProcess(first);
    await startWorkerProcess(launch);
    await expectCompleted(operationId);
    expect((await endingAttempts(child, 'streamBackup'))[0]).toBeGreaterThan(1);
    const safety = (await restoreOperation(api, operationId)).safetyBackupId;
    const backup = await api.json<{ status: string; protected: boolean }>(
      'GET',
      `/api/admin/backups/${safety}`,
    );
    expect(backup.body).toMatchObject({ status: 'completed', protected: false });
  }, 420_000);

  it('finishes the restore when killed during the database restore', async () => {
    await changeTarget();
    const launch = launchOptions(`rtrial-${randomBytes(3).toString('hex')}`);
    const first = await startWorkerProcess(launch);
    // The restore queues behind this lock, so the kill lands while psql holds an open transaction.
    const blocker = await session();
    try {
      await blocker.query('lock table sales.customers in access share mode');
      const { operationId } = await startRestore(api, backupId, { mode: 'full', method: 'in-place' });
      const restoring = `lifeboat-restore-${operationId}`;
      const firstPid = await waitForLockWaiter(database, restoring, { what: 'the first restore session' });
      await killWorkerProcess(first);
      await startWorkerProcess(launch);
      // The retried step ends the first attempt's orphaned session and queues behind the lock itself.
      await waitForLockWaiter(database, restoring, { replacing: firstPid, what: 'the retried session' });
      await blocker.release();
      await expectCompleted(operationId);
      expect(await endingAttempts(await workflowOf(operationId), 'restoreDatabase')).toEqual([2]);
    } finally {
      await blocker.release();
    }
  }, 420_000);

  it('finishes the restore when killed during verify', async () => {
    await changeTarget();
    const launch = launchOptions(`rtrial-${randomBytes(3).toString('hex')}`);
    const first = await startWorkerProcess(launch);
    // A holds the restore at its lock on public.blobs; B queues behind the restore for the restored table
    // and holds it once the restore committed, so that verify waits for it and the kill lands inside.
    const a = await session();
    const b = await session();
    try {
      await a.query('lock table public.blobs in access share mode');
      const { operationId } = await startRestore(api, backupId, { mode: 'full', method: 'in-place' });
      const workflowId = await workflowOf(operationId);
      await waitForLockWaiter(database, `lifeboat-restore-${operationId}`, { what: 'the restore to queue' });
      const locked = b.query('lock table public.blobs in access exclusive mode');
      await b.waitsForLock();
      await a.release();
      await locked;
      await waitForLockWaiter(database, 'lifeboat-restore-verify', { what: 'verify to wait for the lock' });
      await runningOf(workflowId, 'verifyRestore');
      await killWorkerProcess(first);
      await startWorkerProcess(launch);
      await b.release();
      await expectCompleted(operationId);
      expect(await endingAttempts(workflowId, 'verifyRestore')).toEqual([expect.any(Number)]);
      expect((await endingAttempts(workflowId, 'verifyRestore'))[0]).toBeGreaterThan(1);
    } finally {
      await a.release();
      await b.release();
    }
  }, 420_000);

  it('rolls the restore back from the safety backup when killed during the rollback', async () => {
    const { before, documentsBefore } = await changeTarget();
    const launch = launchOptions(`rtrial-${randomBytes(3).toString('hex')}`);
    const first = await startWorkerProcess(launch);
    // A holds the restore at its lock on public.blobs; B takes the restored table right after the commit
    // and deletes a row of it, so that verify fails and the restore rolls back; C queues behind B and
    // holds the table against the rollback's restore, so that the kill lands inside it.
    const a = await session();
    const b = await session();
    const c = await session();
    try {
      await a.query('lock table public.blobs in access share mode');
      const { operationId } = await startRestore(api, backupId, { mode: 'full', method: 'in-place' });
      const workflowId = await workflowOf(operationId);
      const restoring = `lifeboat-restore-${operationId}`;
      await waitForLockWaiter(database, restoring, { what: 'the restore to queue' });
      const taken = b.query('lock table public.blobs in access exclusive mode');
      await b.waitsForLock();
      await a.release();
      await taken;
      await b.query('delete from public.blobs where id = 1');
      const held = c.query('lock table public.blobs in access share mode');
      await c.waitsForLock();
      await b.query('commit');
      await held;
      await eventually(
        async () => ((await restoreOperation(api, operationId)).status === 'rolling_back' ? true : undefined),
        120_000,
        'the restore to roll back',
      );
      const firstPid = await waitForLockWaiter(database, restoring, { what: "the rollback's restore" });
      await runningOf(workflowId, 'restoreDatabase');
      await killWorkerProcess(first);
      await startWorkerProcess(launch);
      await waitForLockWaiter(database, restoring, { replacing: firstPid, what: 'the retried rollback' });
      await c.release();

      const ended = await waitForRestore(api, operationId, 300_000);
      expect(ended).toMatchObject({
        status: 'failed',
        errorCode: 'VERIFY_FAILED',
        rollback: { status: 'completed' },
      });
      expect(ended.steps.map((step) => `${step.step}:${step.status}`)).toEqual(
        expect.arrayContaining(['verify:failed', 'rollback:started', 'rollback:completed']),
      );
      expect(await snapshot(database)).toEqual(before);
      expect(documentsSnapshot(documentsDir)).toEqual(documentsBefore);
      // The restore's own load ended in one attempt; the rollback's was interrupted and retried.
      const attempts = await endingAttempts(workflowId, 'restoreDatabase');
      expect(attempts).toHaveLength(2);
      expect(attempts[0]).toBe(1);
      expect(attempts[1]).toBeGreaterThan(1);
      const safety = await api.json<{ status: string; protected: boolean }>(
        'GET',
        `/api/admin/backups/${ended.safetyBackupId}`,
      );
      expect(safety.body).toMatchObject({ status: 'completed', protected: false });
    } finally {
      await a.release();
      await b.release();
      await c.release();
    }
  }, 420_000);
});

describe('a worker SIGKILLed inside a restore step that never comes back', () => {
  it('lets another worker take the database restore over and finish the restore', async () => {
    await changeTarget();
    const ids = ['one', 'two'].map((name) => `rtrial-${name}-${randomBytes(3).toString('hex')}`);
    const processes = new Map<string, ChildProcess>();
    for (const id of ids) processes.set(id, await startWorkerProcess(launchOptions(id)));
    // The restore queues behind this lock, so the kill lands while psql holds an open transaction.
    const blocker = await session();
    try {
      await blocker.query('lock table sales.customers in access share mode');
      const { operationId } = await startRestore(api, backupId, { mode: 'full', method: 'in-place' });
      const workflowId = await workflowOf(operationId);
      await waitForLockWaiter(database, `lifeboat-restore-${operationId}`, { what: 'the restore to queue' });
      const identity = await workerRunning(workflowId, 'restoreDatabase');
      const gone = ids.find((id) => identity === `lifeboat@${id}/own`);
      expect(gone, identity).toBeDefined();
      const other = ids.find((id) => id !== gone)!;
      await killWorkerProcess(processes.get(gone!)!);
      // Its psql saw its input end without COMMIT: once the lock is free, that transaction rolls back.
      await blocker.release();
      // The step's retry waits on the gone worker's own queue until its schedule-to-start timeout (2 min);
      // then the restore claims the other worker, which fetches the archive again and restores.
      await expectCompleted(operationId);
      expect(await activityRuns(workflowId, 'restoreDatabase')).toEqual([
        { taskQueue: `${worker.taskQueue}@${gone}`, ended: 'timedOut' },
        { taskQueue: `${worker.taskQueue}@${other}`, ended: 'completed' },
      ]);
    } finally {
      await blocker.release();
    }
  }, 420_000);
});
