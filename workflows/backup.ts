// backupWorkflow: dump, archive and primary upload streamed on one worker, other copies, then record; failures
// and cancellation clean up.
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import type { BackupPlan, BackupRequest } from '../domain/backup.ts';
import { eventId, type LifeboatEvent } from '../domain/notifications/events.ts';
import { backupSteps, progressPercent, type BackupProgress, type BackupStep } from '../domain/progress.ts';
import { statusAttribute } from '../domain/search-attributes.ts';
import { describeFailure, isLostWorker, isScratchMissing } from './failure.ts';
import { progressQuery, progressSignal, recordedUpdate } from './messages.ts';
import { emitEvent } from './notify.ts';
import { drillWorkflow } from './drill.ts';
import { startAbandonedChild } from './start-abandoned.ts';
import { targetRetentionWorkflow } from './target-retention.ts';
import {
  bookkeepingOptions,
  cleanupOptions,
  discardOptions,
  maxWorkerClaims,
  onWorkerOptions,
} from './options.ts';

/**
 * What starts a backup. Schedules start every run with the same arguments, so a scheduled run has no
 * backupId or startedAt of its own: the workflow makes them, deterministically, from its own start.
 */
export type BackupWorkflowInput = Omit<BackupRequest, 'workflowId' | 'backupId' | 'startedAt'> &
  Partial<Pick<BackupRequest, 'backupId' | 'startedAt'>>;

export interface BackupWorkflowResult {
  backupId: string;
  status: 'completed';
  storageUrl: string;
  key: string;
  sizeBytes: number;
  sha256: string;
  /** A secondary copy failed after its retries; the primary one is complete and verified. */
  degraded: boolean;
}

/**
 * Runs started before the streamed backup replay its separate dump and archive steps; new runs take the
 * one streamed step (`streamBackup`).
 */
const streamedBackupPatch = 'streamed-backup';

const bookkeeping = proxyActivities<Activities>(bookkeepingOptions);
const discarding = proxyActivities<Activities>(discardOptions);

/**
 * Removes what a failed run may have put in each destination. A destination that still fails keeps its
 * object listed as a leftover copy of the failed backup, which retention removes when it forgets the run.
 */
async function discardFromEach(key: string, destinations: readonly string[]): Promise<number[]> {
  const leftovers: number[] = [];
  for (const [position, destination] of destinations.entries()) {
    try {
      await discarding.discardStoredArchive({ key, destinations: [destination] });
    } catch (error) {
      log.warn('Could not remove a failed backup from a destination; retention will retry', {
        destination,
        error: String(error),
      });
      leftovers.push(position);
    }
  }
  return leftovers;
}

/**
 * A new backup may release older ones. Retention runs as a workflow of its own that outlives this one:
 * the backup (and a restore waiting on its safety backup) never waits for it, and its failure is recorded
 * in its own history. One pass per target at a time; a pass already running covers this backup too, and
 * the daily sweep retries whatever is left.
 */
async function startRetentionAfterBackup(targetId: string, backupId: string): Promise<void> {
  await startAbandonedChild(
    targetRetentionWorkflow,
    {
      workflowId: `retention/target-${targetId}`,
      args: [{ targetId, afterBackupId: backupId }],
      staticSummary: `Retention after backup ${backupId}`,
    },
    'Retention after the backup could not start; the daily pass will apply it',
  );
}

/** Asked once or twice, never long: the backup is done, and the nightly drills catch up. */
const drillRequests = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 2 },
});

/**
 * Proves the backup restorable by a drill of its own, when the settings ask for drills after backups
 * (never failing or delaying the backup; the nightly drills catch up on what is not started here).
 */
async function startDrillAfterBackup(backupId: string): Promise<void> {
  const drill = await drillRequests.requestDrillAfterBackup({ backupId }).catch((error: unknown) => {
    log.warn('The drill after the backup could not be recorded', { error: String(error) });
    return null;
  });
  if (!drill) return;
  await startAbandonedChild(
    drillWorkflow,
    {
      workflowId: drill.workflowId,
      args: [{ drillId: drill.drillId, targetId: drill.targetId }],
      staticSummary: `Drill of backup ${backupId}`,
    },
    'The drill after the backup could not start; the nightly drills will cover it',
  );
}

/** What every event of this run says: the backup, its target, the schedule that started it, how long. */
function backupFacts(request: BackupRequest, input: BackupWorkflowInput, plan: BackupPlan | undefined) {
  const now = new Date();
  return {
    occurredAt: now.toISOString(),
    target: plan ? { id: plan.targetId, name: plan.targetName } : { id: request.targetId },
    backupId: request.backupId,
    scheduleId: input.schedule?.name,
    trigger: input.trigger,
    durationMs: now.getTime() - Date.parse(request.startedAt),
  } satisfies Partial<LifeboatEvent>;
}

export async function backupWorkflow(input: BackupWorkflowInput): Promise<BackupWorkflowResult> {
  const { workflowId, startTime } = workflowInfo();
  const request: BackupRequest = {
    ...input,
    workflowId,
    backupId: input.backupId ?? uuid4(),
    startedAt: input.startedAt ?? startTime.toISOString(),
  };
  let progress: BackupProgress = { step: 'starting', percent: 0, bytes: 0, status: 'running' };
  const enter = (step: BackupStep) => {
    progress = { ...progress, step, percent: progressPercent(step, 0), bytes: 0 };
  };
  setHandler(progressQuery, () => progress);
  // The streamed step moves from dump to archive to upload by itself; a late report of an earlier step
  // is ignored.
  setHandler(progressSignal, (update) => {
    if (backupSteps.indexOf(update.step) >= backupSteps.indexOf(progress.step))
      progress = { ...progress, step: update.step, percent: update.percent, bytes: update.bytes };
  });

  let plan: BackupPlan | undefined;
  // The API waits on this update until the run's catalog row exists (or the run ended without one).
  let recorded = false;
  setHandler(recordedUpdate, async () => {
    await condition(() => recorded);
  });
  let workerQueue: string | undefined;
  let scratchDiscarded = false;
  /** Removes the run's scratch files from the worker that holds them; best effort, once. */
  const discardScratch = async (): Promise<void> => {
    if (!workerQueue || scratchDiscarded) return;
    scratchDiscarded = true;
    const cleanup = proxyActivities<Activities>({ ...cleanupOptions, taskQueue: workerQueue });
    await cleanup.discardWorkDir({ backupId: request.backupId }).catch(() => undefined);
  };

  try {
    try {
      plan = await bookkeeping.recordBackupStarted(request);
    } finally {
      recorded = true;
    }
    const { key, destinations } = plan;
    for (let claim = 1; ; claim++) {
      workerQueue = await bookkeeping.claimWorker();
      const onWorker = proxyActivities<Activities>({ ...onWorkerOptions, taskQueue: workerQueue });
      try {
        enter('dump');
        const archiveRequest = {
          backupId: request.backupId,
          workflowId,
          plan,
          trigger: input.trigger,
          tags: input.tags,
          startedAt: request.startedAt,
        };
        let dump: { dumpMs: number };
        let archive: {
          archiveFile: string;
          sizeBytes: number;
          sha256: string;
          md5: string;
          archiveMs: number;
        };
        /** The primary copy when the streamed step stored and verified it already. */
        let streamed: { storageUrl: string; uploadMs: number } | undefined;
        if (patched(streamedBackupPatch)) {
          const done = await onWorker.streamBackup(archiveRequest);
          dump = done;
          archive = done;
          if (done.streamedTo) streamed = { storageUrl: done.streamedTo, uploadMs: done.uploadMs };
        } else {
          dump = await onWorker.dumpDatabase({ backupId: request.backupId, workflowId, plan });
          enter('archive');
          archive = await onWorker.buildArchive(archiveRequest);
        }
        enter('upload');
        const upload = (destination: string) =>
          onWorker.uploadArchive({
            backupId: request.backupId,
            workflowId,
            destination,
            key,
            archiveFile: archive.archiveFile,
            sizeBytes: archive.sizeBytes,
            sha256: archive.sha256,
            md5: archive.md5,
          });
        const copy = (position: number, outcome: { errorCode: string; errorMessage: string } | null) =>
          bookkeeping.recordBackupCopy({
            backupId: request.backupId,
            position,
            storageUrl: destinations[position]!,
            storageKey: key,
            status: outcome ? 'failed' : 'completed',
            sizeBytes: outcome ? null : archive.sizeBytes,
            errorCode: outcome?.errorCode ?? null,
            errorMessage: outcome?.errorMessage ?? null,
          });
        // The primary copy decides the backup; a secondary one that fails after its retries only
        // degrades it, with the reason recorded on that copy.
        const stored = streamed ?? (await upload(destinations[0]!));
        await copy(0, null);
        let degraded = false;
        const missingCopies: string[] = [];
        for (let position = 1; position < destinations.length; position++) {
          try {
            await upload(destinations[position]!);
            await copy(position, null);
          } catch (error) {
            if (isCancellation(error) || isScratchMissing(error)) throw error;
            const failure = describeFailure(error);
            log.warn('A secondary copy failed; the backup is degraded', {
              destination: destinations[position],
              code: failure.code,
            });
            degraded = true;
            missingCopies.push(`${destinations[position]!}: ${failure.code}: ${failure.message}`);
            await copy(position, { errorCode: failure.code, errorMessage: failure.message });
          }
        }
        enter('record');
        await bookkeeping.recordBackupCompleted({
          backupId: request.backupId,
          key,
          storageUrl: stored.storageUrl,
          sizeBytes: archive.sizeBytes,
          sha256: archive.sha256,
          md5: archive.md5,
          dumpMs: dump.dumpMs,
          archiveMs: archive.archiveMs,
          uploadMs: stored.uploadMs,
          degraded,
        });
        progress = { step: 'done', percent: 100, bytes: archive.sizeBytes, status: 'completed' };
        upsertSearchAttributes([{ key: statusAttribute, value: 'completed' }]);
        // Rules decide who hears of it (and whether it is degraded or large enough to say so).
        await emitEvent({
          ...backupFacts(request, input, plan),
          id: eventId('backup.succeeded', request.backupId),
          kind: 'backup.succeeded',
          sizeBytes: archive.sizeBytes,
          warnings: missingCopies.length ? missingCopies : undefined,
        });
        await startRetentionAfterBackup(plan.targetId, request.backupId);
        await startDrillAfterBackup(request.backupId);
        return {
          backupId: request.backupId,
          status: 'completed',
          storageUrl: stored.storageUrl,
          key,
          sizeBytes: archive.sizeBytes,
          sha256: archive.sha256,
          degraded,
        };
      } catch (error) {
        const lost = isLostWorker(error);
        if (!(lost || isScratchMissing(error)) || claim >= maxWorkerClaims) throw error;
        // The worker holding the scratch files is gone, or its files are: start over from the dump.
        log.warn('Starting the backup over from the dump', {
          reason: lost ? 'the worker holding its files is gone' : describeFailure(error).message,
          claim,
        });
      }
    }
  } catch (error) {
    const cancelled = isCancellation(error);
    const failure = cancelled
      ? { code: 'CANCELLED' as const, message: 'The backup was cancelled.' }
      : describeFailure(error);
    progress = { ...progress, status: cancelled ? 'cancelled' : 'failed' };
    await CancellationScope.nonCancellable(async () => {
      // Scratch files go before the ending is recorded: a run seen as failed or cancelled has left nothing.
      await discardScratch();
      const leftovers = plan ? await discardFromEach(plan.key, plan.destinations) : [];
      await bookkeeping.recordBackupEnded({
        backupId: request.backupId,
        status: cancelled ? 'cancelled' : 'failed',
        errorCode: failure.code,
        errorMessage: failure.message,
        leftovers: leftovers.map((position) => ({
          position,
          storageUrl: plan!.destinations[position]!,
          storageKey: plan!.key,
        })),
      });
      // A cancellation was asked for by someone, who knows of it; a failure is told.
      if (!cancelled) {
        await emitEvent({
          ...backupFacts(request, input, plan),
          id: eventId('backup.failed', request.backupId),
          kind: 'backup.failed',
          error: { code: failure.code, message: failure.message },
        });
      }
    });
    upsertSearchAttributes([{ key: statusAttribute, value: cancelled ? 'cancelled' : 'failed' }]);
    if (cancelled) throw error;
    throw ApplicationFailure.create({
      type: failure.code,
      message: failure.message,
      nonRetryable: true,
      cause: error as Error,
    });
  } finally {
    await CancellationScope.nonCancellable(discardScratch);
  }
}
