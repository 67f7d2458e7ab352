// restoreWorkflow: (approval) → validate → lock → safety backup → database → documents → verify → finish;
// any failure or cancellation compensates from the safety backup. restorePreviewWorkflow: the preview.
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  executeChild,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
  TimeoutFailure,
  upsertSearchAttributes,
  uuid4,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import type { RestoredDatabase, RestorePreview } from '../activities/restore.ts';
import type { RestoreEnding } from '../catalog/restores.ts';
import type { ErrorCode } from '../domain/errors.ts';
import { backupWorkflowId } from '../domain/naming.ts';
import {
  needsSafetyBackup,
  restorePercent,
  type RestoreDestination,
  type RestoreOptions,
  type RestoreProgress,
  type RestoreStep,
  type VerificationReport,
} from '../domain/restore.ts';
import { statusAttribute, targetAttribute, triggerAttribute } from '../domain/search-attributes.ts';
import { backupWorkflow, describeFailure } from './backup.ts';
import { bookkeepingOptions, cleanupOptions, maxWorkerClaims, onWorkerOptions } from './options.ts';
import { approveUpdate, restoreProgressQuery, restoreProgressSignal } from './restore-messages.ts';

export interface RestoreWorkflowInput {
  operationId: string;
  backupId: string;
  destination: RestoreDestination;
  options: RestoreOptions;
  /** The destination's documents directory, when documents are restored. */
  documentsDir: string | null;
  requestedBy: string;
  /** From the settings when the restore was asked for: wait for another admin's approval this long. */
  approval: { required: boolean; timeoutMs: number } | null;
}

export interface RestoreWorkflowResult {
  operationId: string;
  status: 'completed';
  safetyBackupId: string | null;
  approvedBy: string | null;
  restoredTables: number;
  verification: VerificationReport;
  durationsMs: { database: number };
}

/** Errors that another attempt cannot fix: the restore failed and PostgreSQL rolled it back. */
const restoreFailures = ['PG_RESTORE_FAILED', 'VERIFY_FAILED', 'CONFLICT', 'INSUFFICIENT_SPACE'];

/**
 * The restore steps on the worker holding the archive. A cancellation waits for the activity to report
 * how it ended, so the workflow always knows whether the database was written.
 */
const restoreOnWorkerOptions: ActivityOptions = {
  ...onWorkerOptions,
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { ...onWorkerOptions.retry, maximumAttempts: 3, nonRetryableErrorTypes: restoreFailures },
};

const bookkeeping = proxyActivities<Activities>(bookkeepingOptions);
const verifying = proxyActivities<Activities>({
  startToCloseTimeout: '1h',
  retry: { ...bookkeepingOptions.retry, maximumAttempts: 3, nonRetryableErrorTypes: ['VERIFY_FAILED'] },
});

function lostWorker(error: unknown): boolean {
  return (
    error instanceof ActivityFailure &&
    error.cause instanceof TimeoutFailure &&
    error.cause.timeoutType === 'SCHEDULE_TO_START'
  );
}

/** True when the failure proves that nothing was committed: the first and only attempt rolled back. */
function provablyRolledBack(error: unknown, calls: number): boolean {
  if (calls !== 1 || !(error instanceof ActivityFailure)) return false;
  const cause = error.cause;
  if (!(cause instanceof ApplicationFailure)) return false;
  const details = cause.details?.[0] as { rolledBack?: boolean; attempt?: number } | undefined;
  return details?.rolledBack === true && details.attempt === 1;
}

export async function restoreWorkflow(input: RestoreWorkflowInput): Promise<RestoreWorkflowResult> {
  const { operationId, destination, options } = input;
  const { workflowId } = workflowInfo();
  let progress: RestoreProgress = { step: 'validate', percent: 0, currentTable: null, status: 'running' };
  const enter = (step: RestoreStep) => {
    progress = { ...progress, step, percent: restorePercent(step, 0), currentTable: null };
  };
  setHandler(restoreProgressQuery, () => progress);
  setHandler(restoreProgressSignal, (update) => {
    if (update.step === progress.step) {
      progress = { ...progress, percent: update.percent, currentTable: update.currentTable ?? null };
    }
  });

  let awaitingApproval = false;
  let approvedBy: string | null = null;
  setHandler(
    approveUpdate,
    ({ approver }) => {
      approvedBy = approver;
      return { approvedBy: approver, approvedAt: new Date().toISOString() };
    },
    {
      validator: ({ approver }) => {
        if (!awaitingApproval) {
          throw ApplicationFailure.nonRetryable('This restore is not waiting for an approval.', 'CONFLICT');
        }
        if (approver === input.requestedBy) {
          throw ApplicationFailure.nonRetryable(
            'The admin who asked for the restore cannot approve it; another admin must.',
            'FORBIDDEN',
          );
        }
      },
    },
  );

  const record = (
    step: RestoreStep,
    status: 'started' | 'completed' | 'failed' | 'skipped' | 'waiting',
    message: string | null = null,
    code: ErrorCode | null = null,
  ) => bookkeeping.recordRestoreStep({ operationId, step, status, code, message });

  let workerQueue: string | undefined;
  /** Runs `call` on the worker holding the files; if that worker is gone, on another one. */
  async function onWorker<T>(call: (activities: Activities) => Promise<T>): Promise<T> {
    for (let claim = 1; ; claim++) {
      workerQueue ??= await bookkeeping.claimRestoreWorker();
      const activities = proxyActivities<Activities>({ ...restoreOnWorkerOptions, taskQueue: workerQueue });
      try {
        return await call(activities);
      } catch (error) {
        if (!lostWorker(error) || claim >= maxWorkerClaims) throw error;
        // The next worker fetches the archive again: every step brings what it needs.
        workerQueue = undefined;
      }
    }
  }

  let safetyBackupId: string | null = null;
  let databaseWritten = false;
  let documentsWritten = false;
  let createdDatabase = false;
  let approvalExpired = false;
  let restored: RestoredDatabase | undefined;
  let verification: VerificationReport | undefined;

  /** Puts the destination back as it was before the restore; records and returns how that went. */
  async function compensate(): Promise<NonNullable<RestoreEnding['rollback']>> {
    if (!databaseWritten && !documentsWritten && !createdDatabase) {
      return { status: 'not_needed', code: null, message: 'Nothing had been changed.' };
    }
    enter('rollback');
    progress = { ...progress, status: 'rolling_back' };
    await bookkeeping.setRestoreStatus({ operationId, status: 'rolling_back' });
    await record('rollback', 'started');
    try {
      if (documentsWritten && input.documentsDir) {
        const documentsDir = input.documentsDir;
        await onWorker((a) => a.rollbackDocuments({ operationId, workflowId, documentsDir, safetyBackupId }));
      }
      if (createdDatabase) {
        await bookkeeping.dropRestoreDatabase({ operationId, destination });
      } else if (databaseWritten && safetyBackupId) {
        const backupId = safetyBackupId;
        await onWorker((a) =>
          a.restoreDatabase({
            operationId,
            workflowId,
            backupId,
            destination,
            options: { ...options, mode: 'full', tables: [], documents: false, noOwner: false },
            purpose: 'rollback',
          }),
        );
      }
      const message = createdDatabase
        ? 'The database the restore created was dropped.'
        : `Restored from safety backup ${safetyBackupId ?? '(none)'}.`;
      await record('rollback', 'completed', message);
      return { status: 'completed', code: null, message };
    } catch (error) {
      const failure = describeFailure(error);
      log.error('The rollback failed; the safety backup stays protected', { operationId, ...failure });
      await record('rollback', 'failed', failure.message, failure.code);
      return { status: 'failed', code: failure.code, message: failure.message };
    }
  }

  try {
    if (input.approval?.required) {
      enter('approval');
      progress = { ...progress, status: 'awaiting_approval' };
      await bookkeeping.setRestoreStatus({ operationId, status: 'awaiting_approval' });
      await record('approval', 'waiting', 'Waiting for another admin to approve.');
      awaitingApproval = true;
      const approved = await condition(() => approvedBy !== null, input.approval.timeoutMs);
      awaitingApproval = false;
      if (!approved) {
        approvalExpired = true;
        throw ApplicationFailure.nonRetryable(
          `No other admin approved the restore within ${Math.round(input.approval.timeoutMs / 1000)} seconds; it was cancelled.`,
          'CANCELLED',
        );
      }
      await bookkeeping.recordRestoreApproval({ operationId, approvedBy: approvedBy! });
      await record('approval', 'completed', `Approved by ${approvedBy!}.`);
      progress = { ...progress, status: 'running' };
    }

    enter('validate');
    await record('validate', 'started');
    const prepared = await onWorker((a) =>
      a.prepareRestore({ operationId, workflowId, backupId: input.backupId }),
    );
    await record(
      'validate',
      'completed',
      `Archive of ${prepared.archiveBytes} bytes matches the catalog and its manifest.`,
    );

    enter('lock');
    await bookkeeping.lockRestore({ operationId });
    await record(
      'lock',
      'completed',
      `${destination.targetName} (${destination.database}) is locked for this restore.`,
    );

    if (needsSafetyBackup(destination)) {
      enter('safety-backup');
      const backupId = uuid4();
      const startedAt = new Date();
      safetyBackupId = backupId;
      await bookkeeping.recordSafetyBackup({ operationId, backupId });
      await record('safety-backup', 'started', `Backup ${backupId}.`);
      await executeChild(backupWorkflow, {
        workflowId: backupWorkflowId(destination.targetName, startedAt, backupId),
        args: [
          {
            backupId,
            startedAt: startedAt.toISOString(),
            targetId: destination.targetId,
            trigger: 'pre_restore',
            requestedBy: input.requestedBy,
            displayName: `Before restore ${operationId}`,
            description: `Safety backup taken before restoring backup ${input.backupId}.`,
            tags: ['pre-restore'],
            protected: true,
          },
        ],
        typedSearchAttributes: [
          { key: targetAttribute, value: destination.targetName },
          { key: triggerAttribute, value: 'pre_restore' },
          { key: statusAttribute, value: 'running' },
        ],
      });
      await record('safety-backup', 'completed', `Backup ${backupId}, protected until the restore ends.`);
    } else {
      await bookkeeping.createRestoreDatabase({ operationId, destination });
      createdDatabase = true;
      await record('safety-backup', 'skipped', `New database "${destination.database}": nothing to protect.`);
    }

    enter('restore-database');
    await record('restore-database', 'started', `Mode ${options.mode}.`);
    databaseWritten = true;
    let calls = 0;
    try {
      restored = await onWorker((a) => {
        calls++;
        return a.restoreDatabase({
          operationId,
          workflowId,
          backupId: input.backupId,
          destination,
          options,
          purpose: 'restore',
        });
      });
    } catch (error) {
      // PostgreSQL rolled it back, and no earlier attempt could have committed: nothing to undo.
      if (provablyRolledBack(error, calls)) databaseWritten = false;
      throw error;
    }
    await record(
      'restore-database',
      'completed',
      `${restored.expected.length} tables, ${restored.bytes} bytes of SQL in ${restored.durationMs} ms (pg_restore ${restored.pgRestoreVersion}).`,
    );

    if (options.documents && input.documentsDir) {
      enter('restore-documents');
      const documentsDir = input.documentsDir;
      await record('restore-documents', 'started', documentsDir);
      documentsWritten = true;
      const documents = await onWorker((a) =>
        a.restoreDocuments({ operationId, workflowId, backupId: input.backupId, documentsDir }),
      );
      await record(
        'restore-documents',
        'completed',
        `${documents.files} files in place; the previous tree is kept until the end.`,
      );
    } else {
      await record('restore-documents', 'skipped');
    }

    enter('verify');
    await record('verify', 'started');
    verification = await verifying.verifyRestore({
      destination,
      mode: options.mode,
      expected: restored.expected,
      manifestTables: prepared.manifestTables,
    });
    await record(
      'verify',
      'completed',
      `${verification.tables.length} tables present with the rows of the archive.`,
    );
  } catch (error) {
    awaitingApproval = false;
    const cancelled = isCancellation(error) || approvalExpired;
    const failure = isCancellation(error)
      ? { code: 'CANCELLED' as const, message: 'The restore was cancelled.' }
      : describeFailure(error);
    const failedStep = progress.step;
    const status = cancelled ? 'cancelled' : 'failed';
    await CancellationScope.nonCancellable(async () => {
      await record(failedStep, 'failed', failure.message, failure.code);
      const rollback = await compensate();
      // A failed rollback leaves the safety backup protected: it is what the database must come back from.
      if (safetyBackupId && rollback.status !== 'failed') {
        await bookkeeping.releaseSafetyBackup({ backupId: safetyBackupId });
      }
      await cleanUp();
      await bookkeeping.finishRestore({
        operationId,
        ending: { status, errorCode: failure.code, errorMessage: failure.message, rollback, result: null },
      });
      progress = { ...progress, status, currentTable: null };
    });
    upsertSearchAttributes([{ key: statusAttribute, value: status }]);
    if (isCancellation(error)) throw error;
    throw ApplicationFailure.create({
      type: failure.code,
      message: failure.message,
      nonRetryable: true,
      cause: error as Error,
    });
  }

  async function cleanUp(): Promise<void> {
    if (!workerQueue) return;
    const cleanup = proxyActivities<Activities>({ ...cleanupOptions, taskQueue: workerQueue });
    await cleanup.discardRestoreWorkDir({ operationId }).catch(() => undefined);
  }

  // Verified: from here on nothing is undone, and a cancellation no longer interrupts.
  return CancellationScope.nonCancellable(async () => {
    enter('finish');
    const result: RestoreWorkflowResult = {
      operationId,
      status: 'completed',
      safetyBackupId,
      approvedBy,
      restoredTables: restored.expected.length,
      verification: verification,
      durationsMs: { database: restored.durationMs },
    };
    if (safetyBackupId) await bookkeeping.releaseSafetyBackup({ backupId: safetyBackupId });
    if (documentsWritten && input.documentsDir) {
      const documentsDir = input.documentsDir;
      await onWorker((a) => a.finishDocuments({ operationId, documentsDir })).catch((error: unknown) =>
        log.warn('The previous documents tree could not be removed', { operationId, error: String(error) }),
      );
    }
    await cleanUp();
    await record('finish', 'completed');
    // Last: recording the end releases the lock, and the catalog then shows the whole story.
    await bookkeeping.finishRestore({
      operationId,
      ending: { status: 'completed', errorCode: null, errorMessage: null, rollback: null, result },
    });
    progress = { step: 'done', percent: 100, currentTable: null, status: 'completed' };
    upsertSearchAttributes([{ key: statusAttribute, value: 'completed' }]);
    return result;
  });
}

export interface RestorePreviewInput {
  previewId: string;
  backupId: string;
  destination: RestoreDestination;
  options: RestoreOptions;
  documentsDir: string | null;
}

const previewing = proxyActivities<Activities>({
  startToCloseTimeout: '1h',
  heartbeatTimeout: '30s',
  retry: { ...bookkeepingOptions.retry, maximumAttempts: 2 },
});

/** The preview runs on a worker (it reads the archive with pg_restore) and changes nothing. */
export async function restorePreviewWorkflow(input: RestorePreviewInput): Promise<RestorePreview> {
  return previewing.describeRestore(input);
}
