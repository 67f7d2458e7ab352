// Lifeboat under measurement: backupWorkflow started with the Temporal client on the benchmark's worker,
// timed from start to result while the worker's RSS is polled, and the activity windows of a run's history.
import type { WorkflowHandle } from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { getBackup } from '../../catalog/backups.ts';
import type { Target } from '../../catalog/targets.ts';
import { backupWorkflowId } from '../../domain/naming.ts';
import { backupWorkflow } from '../../workflows/backup.ts';
import { peakBetween, poll, readStatusBytes, resetPeakRss } from './measure.ts';
import { storageDir, type BenchStack, type WorkerProcess } from './stack.ts';

export interface ActivityWindow {
  name: string;
  scheduledAtMs: number;
  startedAtMs: number;
  closedAtMs: number;
}

const toMs = (at?: { seconds?: unknown; nanos?: number | null } | null) =>
  Number(at?.seconds ?? 0) * 1000 + (at?.nanos ?? 0) / 1e6;
const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);

/** Every activity of a finished run in the order it was scheduled; a retried one once, with its last try. */
export async function activityWindows(handle: WorkflowHandle): Promise<ActivityWindow[]> {
  const windows = new Map<number, ActivityWindow>();
  for (const event of (await handle.fetchHistory()).events ?? []) {
    const [atMs, scheduled] = [toMs(event.eventTime), event.activityTaskScheduledEventAttributes];
    const name = scheduled?.activityType?.name ?? 'unknown';
    if (scheduled)
      windows.set(Number(event.eventId), { name, scheduledAtMs: atMs, startedAtMs: NaN, closedAtMs: NaN });
    const started = windows.get(Number(event.activityTaskStartedEventAttributes?.scheduledEventId));
    if (started) started.startedAtMs = atMs;
    const closed =
      event.activityTaskCompletedEventAttributes ??
      event.activityTaskFailedEventAttributes ??
      event.activityTaskTimedOutEventAttributes ??
      event.activityTaskCanceledEventAttributes;
    const closing = windows.get(Number(closed?.scheduledEventId));
    if (closing) closing.closedAtMs = atMs;
  }
  return [...windows.values()];
}

/** Milliseconds the activities called `name` ran (started → closed), summed. */
export function windowMs(windows: readonly ActivityWindow[], name: string): number {
  return sum(windows.filter((w) => w.name === name).map((w) => w.closedAtMs - w.startedAtMs));
}

export type BackupMeasurement = Awaited<ReturnType<typeof timeLifeboatBackup>>;
/**
 * The activities of a run: the streamed step holds the dump, the archive and the upload to the first
 * destination at once; uploadArchive runs only for other destinations (or when the streamed upload failed).
 */
const steps = { stream: 'streamBackup', upload: 'uploadArchive' };
const span = (window: ActivityWindow) => window.closedAtMs - window.startedAtMs;

/** One backupWorkflow run, start to result; the stored archive is removed afterwards unless it is kept. */
export async function timeLifeboatBackup(
  stack: BenchStack,
  worker: WorkerProcess,
  target: Target,
  keep?: true,
) {
  const [backupId, startedAt] = [randomUUID(), new Date()];
  const peakResettable = resetPeakRss(worker.pid);
  const sampler = poll(() => readStatusBytes(worker.pid, 'VmRSS'));
  const startedMs = performance.now();
  const handle = await stack.client.workflow.start(backupWorkflow, {
    taskQueue: worker.taskQueue,
    workflowId: backupWorkflowId(target.name, startedAt, backupId),
    args: [
      {
        ...{ backupId, targetId: target.id, trigger: 'manual', requestedBy: 'bench', displayName: null },
        ...{ description: null, tags: ['bench'], protected: !!keep, startedAt: startedAt.toISOString() },
      },
    ],
  });
  const { sizeBytes: archiveBytes } = await handle.result();
  const ms = performance.now() - startedMs;
  const [samples, hwmBytes] = [sampler.stop(), readStatusBytes(worker.pid, 'VmHWM')];
  const windows = await activityWindows(handle);
  const { manifest, durationsMs } = await getBackup(stack.db, backupId);
  if (!keep) await rm(path.join(storageDir, target.name), { recursive: true, force: true });
  const polledPeakRssBytes = Math.max(0, ...samples.map((sample) => sample.value));
  const windowOf = (name: string) => windows.find((w) => w.name === name);
  const peakOf = (name: string, window = windowOf(name)) =>
    window ? peakBetween(samples, window.startedAtMs, window.closedAtMs) : NaN;
  const durations = (['dump', 'archive', 'upload'] as const).map((step) => durationsMs[step] ?? NaN);
  const [dumpMs, archiveMs, uploadMs] = durations as [number, number, number];
  const { pgDump, archive, files } = manifest!;
  return {
    ...{ backupId, ms, archiveBytes },
    /** The pg_dump file inside the archive, as the manifest lists it, and the formats the manifest gives. */
    dumpBytes:
      manifest!.dumpParts?.sizeBytes ??
      files.find((file) => file.path.startsWith('database/'))?.sizeBytes ??
      NaN,
    dumpParts: manifest!.dumpParts?.parts.length ?? 0,
    formats: `pg_dump ${pgDump.format} (compression ${pgDump.compression}), archive ${archive.compression}`,
    /** The catalog's durationsMs of the three steps, and the rest of the workflow (time − steps). */
    ...{ dumpMs, archiveMs, uploadMs, restMs: ms - dumpMs - archiveMs - uploadMs },
    /** Time activities waited between being scheduled and a worker starting them, summed. */
    queueMs: sum(windows.map((w) => w.startedAtMs - w.scheduledAtMs)),
    /** Time the catalog and cleanup activities ran (everything but the three steps). */
    bookkeepingMs: sum(windows.filter((w) => !Object.values(steps).includes(w.name)).map(span)),
    /** VmRSS when the workflow was started; VmHWM at its end (reset at its start); the polling's peak. */
    startRssBytes: samples[0]?.value ?? NaN,
    peakRssBytes: peakResettable && hwmBytes !== undefined ? hwmBytes : polledPeakRssBytes,
    polledPeakRssBytes,
    /** Highest polled RSS until the dump starts, and while each step's activity ran. */
    startPeakRssBytes: peakBetween(
      samples,
      samples[0]?.atMs ?? NaN,
      windowOf(steps.stream)?.startedAtMs ?? NaN,
    ),
    /** The streamed step's peak stands for the dump's and the archive's, which run inside it together. */
    dumpPeakRssBytes: peakOf(steps.stream),
    archivePeakRssBytes: peakOf(steps.stream),
    uploadPeakRssBytes: peakOf(steps.upload),
  };
}
