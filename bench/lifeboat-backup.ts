// Lifeboat under measurement: the real worker process, a target in the catalog, and backupWorkflow
// started with the Temporal client, timed from start to result while the worker's RSS is sampled.
import type { Client } from '@temporalio/client';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { getBackup } from '../catalog/backups.ts';
import { createSecretBox } from '../catalog/secret-box.ts';
import { createTarget, type Target } from '../catalog/targets.ts';
import { backupWorkflowId, type Compression } from '../domain/naming.ts';
import { resolveTargetInput } from '../domain/target.ts';
import type { PostgresCluster } from '../stack/postgres-cluster.ts';
import { backupWorkflow } from '../workflows/backup.ts';
import { peakBetween, readStatusBytes, resetPeakRss, sampleRss, type RssSample } from './measure.ts';
import { activityWindows, type ActivityWindow } from './workflow-timeline.ts';

const repoRoot = path.resolve(import.meta.dirname, '..');
/** How long the worker idles after it starts polling before its baseline RSS is read. */
const settleMs = 3_000;

export interface WorkerSettings {
  catalogUrl: string;
  secretKey: string;
  temporalAddress: string;
  taskQueue: string;
  workerId: string;
  storageDir: string;
  workDir: string;
  workflowBundlePath: string;
  logFile: string;
}

export interface WorkerProcess {
  pid: number;
  baselineRssBytes: number;
  stop(): Promise<void>;
}

async function waitForPolling(child: ChildProcess): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      if (chunk.toString().includes(' polling ')) {
        child.stdout?.off('data', onData);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`the worker exited (${code}) before it polled`)));
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
  });
}

/** `node worker/main.ts` with the benchmark's environment; resolves once it polls and has settled. */
export async function startWorkerProcess(settings: WorkerSettings): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [path.join(repoRoot, 'worker', 'main.ts')], {
    cwd: repoRoot,
    env: {
      ...process.env,
      LIFEBOAT_DATABASE_URL: settings.catalogUrl,
      LIFEBOAT_SECRET_KEY: settings.secretKey,
      TEMPORAL_ADDRESS: settings.temporalAddress,
      LIFEBOAT_TASK_QUEUE: settings.taskQueue,
      LIFEBOAT_WORKER_ID: settings.workerId,
      LIFEBOAT_STORAGE_URL: `file://${settings.storageDir}`,
      LIFEBOAT_WORK_DIR: settings.workDir,
      LIFEBOAT_WORKFLOW_BUNDLE: settings.workflowBundlePath,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(settings.logFile, { flags: 'a' });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  try {
    await waitForPolling(child);
    await new Promise((resolve) => setTimeout(resolve, settleMs));
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  return {
    pid: child.pid!,
    baselineRssBytes: readStatusBytes(child.pid!, 'VmRSS') ?? 0,
    stop: () => stopChild(child),
  };
}

/** A target for `database` on the benchmark cluster, its password sealed with the worker's key. */
export async function createBenchTarget(
  db: pg.Pool,
  secretKey: string,
  cluster: PostgresCluster,
  database: string,
  compression: Compression | undefined,
): Promise<Target> {
  const resolved = resolveTargetInput({
    ...(compression ? { compression } : {}),
    name: database.replace(/_/g, '-'),
    host: '127.0.0.1',
    port: cluster.port,
    database,
    username: cluster.superuser,
    password: cluster.password,
  });
  if (!resolved.ok) throw new Error(`${resolved.field}: ${resolved.message}`);
  return createTarget(db, createSecretBox(secretKey), resolved.value);
}

export interface LifeboatMeasurement {
  ms: number;
  archiveBytes: number;
  /** The pg_dump file inside the archive, as the manifest lists it. */
  dumpBytes: number;
  /** How pg_dump and the archive were compressed, from the manifest. */
  formats: string;
  dumpMs: number;
  archiveMs: number;
  uploadMs: number;
  /** VmRSS when the workflow was started. */
  startRssBytes: number;
  peakRssBytes: number;
  polledPeakRssBytes: number;
  /** Highest polled RSS while each step's activity ran; `start` is from the workflow's start to the dump's. */
  stepPeakRssBytes: Record<Step, number>;
  /** Time activities waited between being scheduled and a worker starting them, all activities summed. */
  queueMs: number;
  /** Time the catalog and cleanup activities ran (everything but the three steps). */
  bookkeepingMs: number;
}

export type Step = 'start' | 'dump' | 'archive' | 'upload';

const stepActivities: Record<Exclude<Step, 'start'>, string> = {
  dump: 'dumpDatabase',
  archive: 'buildArchive',
  upload: 'uploadArchive',
};

function stepPeaks(windows: readonly ActivityWindow[], samples: readonly RssSample[]): Record<Step, number> {
  const windowOf = (step: Exclude<Step, 'start'>) => windows.find((w) => w.name === stepActivities[step]);
  const peak = (step: Exclude<Step, 'start'>) => {
    const window = windowOf(step);
    return window ? peakBetween(samples, window.startedAtMs, window.closedAtMs) : Number.NaN;
  };
  const dumpStartedAtMs = windowOf('dump')?.startedAtMs ?? Number.NaN;
  return {
    start: peakBetween(samples, samples[0]?.atMs ?? Number.NaN, dumpStartedAtMs),
    dump: peak('dump'),
    archive: peak('archive'),
    upload: peak('upload'),
  };
}

function sum(values: number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

/** One backupWorkflow run, start to result; the stored archive is removed afterwards to save disk. */
export async function timeLifeboatBackup(options: {
  client: Client;
  db: pg.Pool;
  worker: WorkerProcess;
  taskQueue: string;
  target: Target;
  storageDir: string;
}): Promise<LifeboatMeasurement> {
  const { client, worker, target } = options;
  const backupId = randomUUID();
  const startedAt = new Date();
  const peakResettable = resetPeakRss(worker.pid);
  const sampler = sampleRss(worker.pid);
  const startedMs = performance.now();
  const handle = await client.workflow.start(backupWorkflow, {
    taskQueue: options.taskQueue,
    workflowId: backupWorkflowId(target.name, startedAt, backupId),
    args: [
      {
        backupId,
        targetId: target.id,
        trigger: 'manual',
        requestedBy: 'bench',
        displayName: null,
        description: null,
        tags: ['bench'],
        protected: false,
        startedAt: startedAt.toISOString(),
      },
    ],
  });
  const result = await handle.result();
  const ms = performance.now() - startedMs;
  const rss = sampler.stop();
  const windows = await activityWindows(handle);
  const steps = new Set(Object.values(stepActivities));
  const row = await getBackup(options.db, backupId);
  await rm(path.join(options.storageDir, target.name), { recursive: true, force: true });
  return {
    ms,
    archiveBytes: result.sizeBytes,
    dumpBytes: row.manifest?.files.find((file) => file.path.startsWith('database/'))?.sizeBytes ?? Number.NaN,
    formats: row.manifest
      ? `pg_dump ${row.manifest.pgDump.format} (compression ${row.manifest.pgDump.compression}), ` +
        `archive ${row.manifest.archive.compression}`
      : 'unknown',
    dumpMs: row.durationsMs.dump ?? Number.NaN,
    archiveMs: row.durationsMs.archive ?? Number.NaN,
    uploadMs: row.durationsMs.upload ?? Number.NaN,
    startRssBytes: rss.samples[0]?.rssBytes ?? Number.NaN,
    peakRssBytes: peakResettable && rss.hwmBytes !== undefined ? rss.hwmBytes : rss.polledPeakBytes,
    polledPeakRssBytes: rss.polledPeakBytes,
    stepPeakRssBytes: stepPeaks(windows, rss.samples),
    queueMs: sum(windows.map((w) => w.startedAtMs - w.scheduledAtMs)),
    bookkeepingMs: sum(windows.filter((w) => !steps.has(w.name)).map((w) => w.closedAtMs - w.startedAtMs)),
  };
}
