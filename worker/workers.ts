// The worker processes' Temporal side: one worker on the shared queue, one on this worker's own queue.
import { Client } from '@temporalio/client';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import path from 'node:path';
import type pg from 'pg';
import { createActivities } from '../activities/index.ts';
import type { SecretBox } from '../catalog/secret-box.ts';
import type { DocumentsPolicy } from '../domain/access-policy.ts';
import type { Storage } from '../storage/storage.ts';
import type { StorageRegistry } from '../storage/registry.ts';
import { ensureStaleCheckSchedule } from './notify-schedule.ts';
import { ensureRetentionSchedule } from './retention-schedule.ts';
import { ensureSetAsideSweepSchedule } from './set-aside-schedule.ts';
import { ensureDrillSchedule } from './drill-schedule.ts';
import { sweepScratch } from './scratch.ts';
import { ownQueueTuning, sharedQueueTuning } from './tuning.ts';

export interface WorkerSettings {
  temporalAddress: string;
  namespace: string;
  taskQueue: string;
  workerId: string;
  db: pg.Pool;
  secrets: SecretBox;
  storage: Storage;
  storages: StorageRegistry;
  workDir: string;
  pgBinDirs: readonly string[];
  identityFile?: string | undefined;
  readEnv: (name: string) => string | undefined;
  /** Reads the secret variables notification channels name, when a notification is sent. */
  readNotifyEnv: (name: string) => string | undefined;
  documents: DocumentsPolicy;
  lifeboatVersion: string;
  progressIntervalMs?: number;
  /**
   * Create the daily retention schedule and the notifications' stale check at start (default); tests with
   * throwaway queues turn it off.
   */
  ensureSchedules?: boolean;
  /**
   * A prebuilt bundle (worker/main.ts builds one into the work dir, tests build one per run); without it
   * workflows are bundled in this process at start, with webpack in its memory.
   */
  workflowBundlePath?: string;
  /** How many scratch-file steps (dump, archive, upload, restore) run at once on this worker; 4 by default. */
  stepSlots?: number;
}

export interface LifeboatWorkers {
  workerQueue: string;
  run(): Promise<void>;
  shutdown(): void;
}

/** The task queue of one worker's scratch-file steps: stable across restarts of the same worker id. */
export function workerQueueName(taskQueue: string, workerId: string): string {
  return `${taskQueue}@${workerId}`;
}

export async function createLifeboatWorkers(settings: WorkerSettings): Promise<LifeboatWorkers> {
  // A restarted worker keeps the files of the runs still open: their next step resumes from them.
  const bundle = settings.workflowBundlePath;
  const bundleInWorkDir = bundle && path.dirname(path.resolve(bundle)) === path.resolve(settings.workDir);
  await sweepScratch(settings.workDir, settings.db, bundleInWorkDir ? [path.basename(bundle)] : []);

  const connection = await NativeConnection.connect({ address: settings.temporalAddress });
  // The client (progress signals, the retention schedule) shares the worker's native connection:
  // no second gRPC stack in memory.
  const client = new Client({ connection, namespace: settings.namespace });
  const workerQueue = workerQueueName(settings.taskQueue, settings.workerId);

  const activities = createActivities({
    db: settings.db,
    secrets: settings.secrets,
    storage: settings.storage,
    storages: settings.storages,
    workDir: settings.workDir,
    workerQueue,
    pgBinDirs: settings.pgBinDirs,
    identityFile: settings.identityFile,
    readEnv: settings.readEnv,
    readNotifyEnv: settings.readNotifyEnv,
    documents: settings.documents,
    lifeboatVersion: settings.lifeboatVersion,
    progressIntervalMs: settings.progressIntervalMs ?? 2_000,
    reportProgress: async (workflowId, signal, update) => {
      await client.workflow
        .getHandle(workflowId)
        .signal(signal, update)
        .catch(() => undefined);
    },
  });

  if (settings.ensureSchedules !== false) {
    await ensureRetentionSchedule(client, settings.taskQueue);
    await ensureStaleCheckSchedule(client, settings.taskQueue);
    await ensureSetAsideSweepSchedule(client, settings.taskQueue);
    await ensureDrillSchedule(client, settings.taskQueue);
  }

  const workflowSource: Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> = settings.workflowBundlePath
    ? { workflowBundle: { codePath: settings.workflowBundlePath } }
    : { workflowsPath: new URL('../workflows/index.ts', import.meta.url).pathname };

  const shared = await Worker.create({
    connection,
    namespace: settings.namespace,
    taskQueue: settings.taskQueue,
    identity: `lifeboat@${settings.workerId}`,
    activities,
    ...workflowSource,
    ...sharedQueueTuning,
  });
  const own = await Worker.create({
    connection,
    namespace: settings.namespace,
    taskQueue: workerQueue,
    identity: `lifeboat@${settings.workerId}/own`,
    activities,
    ...ownQueueTuning(settings.stepSlots ?? 4),
  });

  return {
    workerQueue,
    async run() {
      try {
        await Promise.all([shared.run(), own.run()]);
      } finally {
        await connection.close();
      }
    },
    shutdown() {
      for (const worker of [shared, own]) {
        if (worker.getState() === 'RUNNING') worker.shutdown();
      }
    },
  };
}
