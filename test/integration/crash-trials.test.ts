// Crash trials: a real worker process SIGKILLed inside each step of a backup and started again under the
// same id, and once never coming back while another worker takes over. Every run must end completed, with
// the stored archive in every destination matching the catalog, and nothing half-written listed.
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { getBackup, listBackupCopies, listBackups, type Backup } from '../../catalog/backups.ts';
import type { Target } from '../../catalog/targets.ts';
import { startBackup } from '../../services/backups.ts';
import { openStorage } from '../../storage/registry.ts';
import type { targetRetentionWorkflow } from '../../workflows/target-retention.ts';
import { eventually } from '../harness/api.ts';
import { startS3Server, type S3Server } from '../harness/s3-server.ts';
import { startSftpServer, type SftpServer } from '../harness/sftp-server.ts';
import { killWorkerProcesses, startWorkerProcess } from '../harness/worker-process.ts';
import { createCatalogTarget, createDatabase, scratchDir, sql, useStack } from '../harness/stack.ts';

// No worker in this process: each trial starts worker processes and kills them.
const { db, client, worker, storageDir } = useStack({ workers: 0 });
let s3: S3Server;
let sftp: SftpServer;
let target: Target;

beforeAll(async () => {
  s3 = await startS3Server();
  sftp = await startSftpServer();
  const source = await createDatabase('trials');
  // About 80 MB of hex text: every step takes a second or more, so each kill lands inside its step.
  await sql(
    source,
    `create table blobs (id int primary key, body text);
     insert into blobs select g, (select string_agg(md5(random()::text || g || s), '') from generate_series(1, 1200) s)
     from generate_series(1, 2000) g`,
  );
  const bucket = await s3.createBucket();
  target = await createCatalogTarget(db, worker.secrets, `trials-${source.slice(-8)}`, source, {
    // Two remote destinations: each upload takes long enough for a kill to land inside it.
    destinations: [sftp.url('trials'), s3.url(bucket, 'trials')],
  });
});

// Each trial's workers go with it: a live worker of an earlier trial would take the next trial's run.
afterEach(() => killWorkerProcesses());

afterAll(async () => {
  killWorkerProcesses();
  await s3?.stop();
  await sftp?.stop();
});

/** The activities a worker is running right now in the workflow, with the identity of that worker. */
async function runningActivities(workflowId: string): Promise<{ type: string; worker: string }[]> {
  const description = await client.workflow.getHandle(workflowId).describe();
  return (description.raw.pendingActivities ?? [])
    .filter((activity) => Number(activity.state) === 2) // PENDING_ACTIVITY_STATE_STARTED
    .map((activity) => ({
      type: activity.activityType?.name ?? '',
      worker: activity.lastWorkerIdentity ?? '',
    }));
}

/** Resolves once `activity` runs in the workflow (and `when` holds); the identity of the worker running it. */
function runningOf(workflowId: string, activity: string, when?: () => Promise<boolean>): Promise<string> {
  return eventually(
    async () => {
      const running = (await runningActivities(workflowId).catch(() => [])).find((a) => a.type === activity);
      return running && (!when || (await when())) ? running.worker : undefined;
    },
    120_000,
    `${activity} to run in ${workflowId}`,
  );
}

/**
 * Holds a lock in the catalog that the quick bookkeeping step needs, so that the kill lands while the
 * step waits inside it; `release` lets it go (the killed worker's own attempt ends with its process).
 */
async function holdCatalogLock(statement: string, params: unknown[]): Promise<{ release(): Promise<void> }> {
  const holder = await db.connect();
  await holder.query('begin');
  await holder.query(statement, params);
  return {
    async release() {
      await holder.query('rollback');
      holder.release();
    },
  };
}

/** How many times the workflow scheduled `activity` (a retry of one attempt is not a new schedule). */
async function timesScheduled(workflowId: string, activity: string): Promise<number> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  return (history.events ?? []).filter(
    (event) => event.activityTaskScheduledEventAttributes?.activityType?.name === activity,
  ).length;
}

/** The highest attempt number any run of `activity` reached: above 1 when a kill interrupted it. */
async function highestAttempt(workflowId: string, activity: string): Promise<number> {
  const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const scheduled = new Map<string, string>();
  let highest = 0;
  for (const event of events) {
    const id = String(event.eventId);
    const name = event.activityTaskScheduledEventAttributes?.activityType?.name;
    if (name) scheduled.set(id, name);
    const started = event.activityTaskStartedEventAttributes;
    if (started && scheduled.get(String(started.scheduledEventId)) === activity) {
      highest = Math.max(highest, started.attempt ?? 0);
    }
  }
  return highest;
}

async function sha256Of(stream: NodeJS.ReadableStream): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function launchOptions(workerId: string) {
  return { taskQueue: worker.taskQueue, workerId, storageDir, workDir: scratchDir(`trial-${workerId}`) };
}

async function kill(process: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => process.once('exit', resolve));
  process.kill('SIGKILL');
  await exited;
}

async function startTrialBackup(): Promise<{ backupId: string; workflowId: string }> {
  return startBackup(
    { db, temporal: client, ...worker },
    {
      target,
      trigger: 'manual',
      requestedBy: 'crash-trial',
      displayName: null,
      description: null,
      tags: [],
      protected: false,
    },
  );
}

/** Waits for the backup to end and checks what a completed backup must be, in every destination. */
async function expectCompletedEverywhere(backupId: string): Promise<Backup> {
  const backup = await eventually(
    async () => {
      const row = await getBackup(db, backupId);
      return row.status === 'running' ? undefined : row;
    },
    300_000,
    'the backup to end',
  );
  expect(backup).toMatchObject({ status: 'completed', errorCode: null, degraded: false });
  const copies = await listBackupCopies(db, backupId);
  expect(copies.map((copy) => [copy.position, copy.status])).toEqual([
    [0, 'completed'],
    [1, 'completed'],
  ]);
  for (const copy of copies) {
    const storage = openStorage(copy.storageUrl, (name) => process.env[name]);
    expect(await sha256Of(await storage.get(copy.storageKey)), copy.storageUrl).toBe(backup.sha256);
    const stored = await storage.list(`${target.name}/`);
    expect(stored.filter((key) => key.includes(backupId.replace(/-/g, '').slice(0, 8))).length).toBe(3);
    await storage.close?.();
  }
  return backup;
}

/** Backups of the target that are listed as completed: only the ones that truly are. */
async function completedIds(): Promise<string[]> {
  const page = await listBackups(db, { target: target.name, status: 'completed', limit: 100, offset: 0 });
  return page.items.map((backup) => backup.id);
}

const steps: { name: string; activity: string; when?: (backupId: string) => Promise<boolean> }[] = [
  // The dump, the archive and the upload to the first destination (SFTP) stream in one step.
  { name: 'the streamed dump, archive and first upload', activity: 'streamBackup' },
  {
    name: 'the upload to the second destination (S3)',
    activity: 'uploadArchive',
    when: async (backupId) => (await listBackupCopies(db, backupId)).length === 1,
  },
];

describe('a worker SIGKILLed inside a backup step and restarted under the same id', () => {
  it.each(steps)('finishes the backup when killed during $name', async ({ activity, when }) => {
    const workerId = `trial-${randomBytes(3).toString('hex')}`;
    const launch = launchOptions(workerId);
    const first = await startWorkerProcess(launch);
    const { backupId, workflowId } = await startTrialBackup();
    await runningOf(workflowId, activity, when && (() => when(backupId)));
    await kill(first);
    expect(await completedIds()).not.toContain(backupId);
    await startWorkerProcess(launch);
    await expectCompletedEverywhere(backupId);
    expect(await completedIds()).toContain(backupId);
    // The kill interrupted the step (it ran again on the restarted worker, from the dump when it was the
    // streamed step), and the run never had to start over on another worker.
    expect(await highestAttempt(workflowId, activity)).toBeGreaterThan(1);
    expect(await timesScheduled(workflowId, 'streamBackup')).toBe(1);
  });

  it('finishes the backup when killed while recording it as completed', async () => {
    const launch = launchOptions(`trial-${randomBytes(3).toString('hex')}`);
    const first = await startWorkerProcess(launch);
    const { backupId, workflowId } = await startTrialBackup();
    // Once the archive step has recorded the manifest, only the uploads stand before the record step.
    for (let polls = 0; polls < 6000; polls++) {
      if ((await getBackup(db, backupId)).manifest) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // Holds the row against the update that marks it completed; copies can still be recorded.
    const lock = await holdCatalogLock('select 1 from backups where id = $1 for no key update', [backupId]);
    expect(await completedIds()).not.toContain(backupId);
    try {
      await runningOf(workflowId, 'recordBackupCompleted');
      await kill(first);
    } finally {
      // The killed worker's update may still go through once the lock is gone (PostgreSQL finds the client
      // gone only later): the retried step must cope with that too.
      await lock.release();
    }
    await startWorkerProcess(launch);
    await expectCompletedEverywhere(backupId);
    // The step's killed attempt times out (start-to-close, 2 min) and its retry ends the workflow.
    await client.workflow.getHandle(workflowId).result();
    expect(await highestAttempt(workflowId, 'recordBackupCompleted')).toBeGreaterThan(1);
    expect(await timesScheduled(workflowId, 'streamBackup')).toBe(1);
  }, 420_000);

  it('finishes the retention pass of a target when killed inside it', async () => {
    const launch = launchOptions(`trial-${randomBytes(3).toString('hex')}`);
    const first = await startWorkerProcess(launch);
    const { backupId, workflowId: backupWorkflowId } = await startTrialBackup();
    await expectCompletedEverywhere(backupId);
    // The backup has started its own pass by the time it ends; that one is let to finish first.
    await client.workflow.getHandle(backupWorkflowId).result();
    // The pass that follows a backup, started as a backup starts it, while the categories it records wait.
    const lock = await holdCatalogLock('lock table backups in share mode', []);
    const workflowId = `retention/target-${target.id}`;
    try {
      await client.workflow
        .getHandle(workflowId)
        .result()
        .catch(() => undefined);
      await client.workflow.start<typeof targetRetentionWorkflow>('targetRetentionWorkflow', {
        taskQueue: worker.taskQueue,
        workflowId,
        args: [{ targetId: target.id, afterBackupId: backupId }],
      });
      await runningOf(workflowId, 'applyRetention');
      await kill(first);
    } finally {
      await lock.release();
    }
    await startWorkerProcess(launch);
    const retention = await client.workflow.getHandle<typeof targetRetentionWorkflow>(workflowId).result();
    expect(retention).toMatchObject({ targetId: target.id, failed: [] });
    expect(await completedIds()).toContain(backupId);
  }, 420_000);
});

describe('a worker SIGKILLed inside a backup step that never comes back', () => {
  it('lets another worker start the backup over from the dump and finish it', async () => {
    const workers: { process: ChildProcess; workDir: string }[] = [];
    for (const name of ['one', 'two']) {
      const launch = launchOptions(`${name}-${randomBytes(3).toString('hex')}`);
      workers.push({ process: await startWorkerProcess(launch), workDir: launch.workDir });
    }
    const { backupId, workflowId } = await startTrialBackup();
    await runningOf(workflowId, 'streamBackup');
    // The worker holding the run's scratch files is the one running its streamed step, once it has made
    // them (it looks at the source first).
    const holder = await eventually(
      () => Promise.resolve(workers.find((w) => existsSync(path.join(w.workDir, backupId)))),
      60_000,
      'the streamed step to make its scratch directory',
    );
    await kill(holder.process);
    // The step's retry waits on the gone worker's own queue until its schedule-to-start timeout (2 min);
    // then the other worker takes the run over from the dump.
    await expectCompletedEverywhere(backupId);
    expect(await timesScheduled(workflowId, 'streamBackup')).toBe(2);
  }, 420_000);
});
