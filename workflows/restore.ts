// restoreWorkflow: (approval) → validate → lock → safety backup → database → documents → verify → finish;
// each step that changed something pushes its compensation, and a failure or cancellation runs them back.
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  executeChild,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import type { RestoredDatabase } from '../activities/restore/database.ts';
import type { SwapPlan } from '../activities/restore/swap.ts';
import type { RestoreRollback } from '../catalog/restores.ts';
import type { ErrorCode } from '../domain/errors.ts';
import { backupWorkflowId } from '../domain/naming.ts';
import { eventId, type EventKind, type LifeboatEvent } from '../domain/notifications/events.ts';
import { provablyRolledBack, restoreAttemptDetails } from '../domain/restore/failure.ts';
import {
  needsSafetyBackup,
  type RestoreDestination,
  type RestoreOptions,
} from '../domain/restore/options.ts';
import { restorePercent, type RestoreProgress, type RestoreStep } from '../domain/restore/progress.ts';
import type { VerificationReport } from '../domain/restore/verify.ts';
import { statusAttribute, targetAttribute, triggerAttribute } from '../domain/search-attributes.ts';
import { backupWorkflow } from './backup.ts';
import { describeFailure } from './failure.ts';
import { emitEvent } from './notify.ts';
import { bookkeepingOptions, swapOptions, verifyOptions } from './options.ts';
import { approveUpdate, restoreProgressQuery, restoreProgressSignal } from './restore-messages.ts';
import { workerSteps } from './restore-worker.ts';

export interface RestoreWorkflowInput {
  operationId: string;
  backupId: string;
  destination: RestoreDestination;
  options: RestoreOptions;
  /** The destination's documents directory, when documents are restored. */
  documentsDir: string | null;
  /** The owner of the token that asked (not its name): the approver must be another owner. */
  requestedBy: string;
  /** From the settings when the restore was asked for: wait for another admin's approval this long. */
  approval: { required: boolean; timeoutMs: number } | null;
  /** The preview whose token confirmed the restore, and the worker that holds the archive it extracted. */
  preview?: { previewId: string; archiveQueue: string | null } | null | undefined;
  /** From the settings: how long a restore by swap keeps the database it replaced (default 24). */
  keepAsideHours?: number | undefined;
}

export interface RestoreWorkflowResult {
  operationId: string;
  status: 'completed';
  safetyBackupId: string | null;
  approvedBy: string | null;
  restoredTables: number;
  verification: VerificationReport;
  durationsMs: { database: number };
  /** How the database was replaced: swapped in, or restored in place. */
  path?: 'swap' | 'in-place';
  /** A restore by swap: the database as it was, kept under this name until then. */
  setAside?: { database: string; keepUntil: string } | null;
}

/** What undoes one change of the restore, and how the rollback reads when this change was the first. */
interface Compensation {
  undo: () => Promise<unknown>;
  message: string;
}

const bookkeeping = proxyActivities<Activities>(bookkeepingOptions);
const swapping = proxyActivities<Activities>(swapOptions);
const verifying = proxyActivities<Activities>(verifyOptions);

/** Tells a restore's event (never failing or delaying the restore): its destination, source and mode. */
function emitRestoreEvent(
  kind: EventKind,
  input: RestoreWorkflowInput,
  { rollback, ...extra }: Partial<LifeboatEvent> & { rollback?: string | undefined } = {},
): Promise<void> {
  return emitEvent({
    id: eventId(kind, input.operationId),
    kind,
    occurredAt: new Date().toISOString(),
    target: { id: input.destination.targetId, name: input.destination.targetName },
    restoreId: input.operationId,
    backupId: input.backupId,
    restore: {
      mode: input.options.mode,
      database: input.destination.database,
      sourceBackupId: input.backupId,
      requestedBy: input.requestedBy,
      rollback,
    },
    ...extra,
  });
}

export async function restoreWorkflow(input: RestoreWorkflowInput): Promise<RestoreWorkflowResult> {
  const { operationId, destination, options } = input;
  const { workflowId } = workflowInfo();
  const previewId = input.preview?.previewId ?? null;
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
      // Who asks is checked first: the requester is refused the same way whatever the restore's state.
      validator: ({ approver }) => {
        if (approver === input.requestedBy) {
          throw ApplicationFailure.nonRetryable(
            'The admin who asked for the restore cannot approve it; another admin must.',
            'FORBIDDEN',
          );
        }
        if (approvedBy !== null) {
          throw ApplicationFailure.nonRetryable(
            `This restore was already approved by ${approvedBy}.`,
            'CONFLICT',
          );
        }
        if (!awaitingApproval) {
          throw ApplicationFailure.nonRetryable(
            input.approval?.required
              ? 'This restore no longer waits for an approval: it timed out or was cancelled.'
              : 'This restore does not need an approval.',
            'CONFLICT',
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

  const onWorker = workerSteps(input.preview?.archiveQueue ?? null);
  let safetyBackupId: string | null = null;
  let approvalExpired = false;
  let restored: RestoredDatabase | undefined;
  let verification: VerificationReport | undefined;
  let swap: SwapPlan | null = null;
  let incomingOid: string | null = null;
  let setAside: { database: string; keepUntil: string } | null = null;
  /** What the restore changed so far, the latest last: undone from the end. */
  const compensations: Compensation[] = [];

  /** Puts the destination back as it was before the restore; records and returns how that went. */
  async function compensate(): Promise<RestoreRollback> {
    if (!compensations.length)
      return { status: 'not_needed', code: null, message: 'Nothing had been changed.' };
    enter('rollback');
    progress = { ...progress, status: 'rolling_back' };
    await bookkeeping.setRestoreStatus({ operationId, status: 'rolling_back' });
    await record('rollback', 'started');
    try {
      for (const compensation of [...compensations].reverse()) await compensation.undo();
      // The first change names the rollback: the database dropped, or restored from the safety backup.
      const message = compensations[0]!.message;
      await record('rollback', 'completed', message);
      return { status: 'completed', code: null, message };
    } catch (error) {
      const failure = describeFailure(error);
      log.error('The rollback failed; the safety backup stays protected', { operationId, ...failure });
      await record('rollback', 'failed', failure.message, failure.code);
      return { status: 'failed', code: failure.code, message: failure.message };
    }
  }

  /** Restores the destination from the safety backup: the database as it was before the restore. */
  function rollbackFrom(backupId: string): Compensation {
    return {
      undo: () =>
        onWorker.run((a) =>
          a.restoreDatabase({
            operationId,
            workflowId,
            backupId,
            destination,
            options: { ...options, mode: 'full', tables: [], documents: false, noOwner: false },
            purpose: 'rollback',
          }),
        ),
      message: `Restored from safety backup ${backupId}.`,
    };
  }

  try {
    if (input.approval?.required) {
      enter('approval');
      progress = { ...progress, status: 'awaiting_approval' };
      // Accepting before the catalog says awaiting_approval: whoever reads it there and approves at once
      // is answered by the workflow, never refused as "not waiting". (No command moves: replay-safe.)
      awaitingApproval = true;
      await bookkeeping.setRestoreStatus({ operationId, status: 'awaiting_approval' });
      await record('approval', 'waiting', 'Waiting for another admin to approve.');
      await emitRestoreEvent('restore.awaiting_approval', input);
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
    await emitRestoreEvent('restore.started', input);
    await record('validate', 'started');
    const prepared = await onWorker.run((a) =>
      a.prepareRestore({ operationId, workflowId, backupId: input.backupId, previewId }),
    );
    await record(
      'validate',
      'completed',
      `Archive of ${prepared.archiveBytes} bytes matches the catalog and its manifest` +
        (prepared.shared ? '; its extraction on this worker was reused.' : '.'),
    );

    enter('lock');
    await bookkeeping.lockRestore({ operationId });
    await record(
      'lock',
      'completed',
      `${destination.targetName} (${destination.database}) is locked for this restore.`,
    );

    // Restores asked for before swaps existed have no method, and run in place as they always did.
    if (options.method !== undefined && options.method !== 'in-place') {
      const chosen = await swapping.chooseRestorePath({
        operationId,
        backupId: input.backupId,
        destination,
        options,
      });
      swap = chosen.swap;
      if (!swap) await record('lock', 'completed', chosen.reasons.join(' '));
    }

    if (swap) {
      const plan = swap;
      enter('safety-backup');
      // Pushed before the call: the database may be created by an attempt whose answer is lost.
      compensations.push({
        undo: () => swapping.dropIncomingDatabase({ operationId, destination, swap: plan, incomingOid }),
        message: `The restored copy "${plan.names.incoming}" was dropped; "${destination.database}" was never changed.`,
      });
      incomingOid = (await swapping.createIncomingDatabase({ operationId, destination, swap: plan })).oid;
      await record(
        'safety-backup',
        'skipped',
        `Restore by swap: into "${plan.names.incoming}" first; "${destination.database}" as it is now will be ` +
          `kept as "${plan.names.aside}" for ${input.keepAsideHours ?? 24} h as the safety copy.`,
      );
    } else if (needsSafetyBackup(destination)) {
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
      compensations.push({
        undo: () => bookkeeping.dropRestoreDatabase({ operationId, destination }),
        message: 'The database the restore created was dropped.',
      });
      await record('safety-backup', 'skipped', `New database "${destination.database}": nothing to protect.`);
    }

    enter('restore-database');
    await record('restore-database', 'started', `Mode ${options.mode}.`);
    // Pushed before the call: a failed attempt may still have committed, unless it proves otherwise.
    const fromSafetyBackup = safetyBackupId ? rollbackFrom(safetyBackupId) : null;
    if (fromSafetyBackup) compensations.push(fromSafetyBackup);
    let calls = 0;
    try {
      restored = await onWorker.run((a) => {
        calls++;
        return a.restoreDatabase({
          operationId,
          workflowId,
          backupId: input.backupId,
          destination,
          options,
          purpose: 'restore',
          incoming: swap?.names.incoming,
        });
      });
    } catch (error) {
      // PostgreSQL rolled it back, and no earlier attempt could have committed: nothing to undo.
      if (
        fromSafetyBackup &&
        provablyRolledBack(restoreAttemptDetails(describeFailure(error).details), calls)
      ) {
        compensations.pop();
      }
      throw error;
    }
    await record(
      'restore-database',
      'completed',
      `${restored.expected.length} tables, ${restored.bytes} bytes of SQL in ${restored.durationMs} ms (pg_restore ${restored.pgRestoreVersion}).`,
    );

    const restoreDocumentsStep = async () => {
      if (options.documents && input.documentsDir) {
        enter('restore-documents');
        const documentsDir = input.documentsDir;
        await record('restore-documents', 'started', documentsDir);
        compensations.push({
          undo: () =>
            onWorker.run((a) =>
              a.rollbackDocuments({ operationId, workflowId, documentsDir, safetyBackupId }),
            ),
          message: `Restored from safety backup ${safetyBackupId ?? '(none)'}.`,
        });
        const documents = await onWorker.run((a) =>
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
    };
    const loaded = restored;
    const verifyStep = async (into: RestoreDestination) => {
      enter('verify');
      await record(
        'verify',
        'started',
        into.database === destination.database ? null : `In "${into.database}".`,
      );
      verification = await verifying.verifyRestore({
        destination: into,
        mode: options.mode,
        expected: loaded.expected,
        manifestTables: prepared.manifestTables,
      });
      await record(
        'verify',
        'completed',
        `${verification.tables.length} tables present with the rows of the archive.`,
      );
    };

    if (swap) {
      // Checked where it was restored, before it replaces anything.
      await verifyStep({ ...destination, database: swap.names.incoming });
      const plan = swap;
      const oid = incomingOid!;
      enter('swap');
      await record(
        'swap',
        'started',
        `"${plan.names.incoming}" takes the place of "${destination.database}".`,
      );
      // Pushed before the call: the swap may commit in an attempt whose answer is lost.
      compensations.push({
        undo: () => swapping.swapBackRestored({ operationId, destination, swap: plan, incomingOid: oid }),
        message: 'Swapped back.',
      });
      const swapped = await swapping.swapInRestored({
        operationId,
        destination,
        swap: plan,
        incomingOid: oid,
        terminateConnections: options.terminateConnections,
        keepHours: input.keepAsideHours ?? 24,
      });
      setAside = { database: swapped.aside, keepUntil: swapped.keepUntil };
      compensations[0]!.message =
        `Swapped back: "${destination.database}" is the database as it was before the restore again; ` +
        `the restored copy was dropped.`;
      await record(
        'swap',
        'completed',
        `"${destination.database}" is the restored database; the previous one is kept as "${swapped.aside}" until ${swapped.keepUntil}.`,
      );
      await restoreDocumentsStep();
    } else {
      await restoreDocumentsStep();
      await verifyStep(destination);
    }
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
      await onWorker.cleanUp((a) => a.discardRestoreWorkDir({ operationId, previewId }));
      await bookkeeping.finishRestore({
        operationId,
        ending: { status, errorCode: failure.code, errorMessage: failure.message, rollback, result: null },
      });
      progress = { ...progress, status, currentTable: null };
      const ending = rollback.status === 'completed' ? 'restore.rolled_back' : 'restore.failed';
      await emitRestoreEvent(ending, input, {
        error: { code: failure.code, message: failure.message },
        durationMs: Date.now() - workflowInfo().startTime.getTime(),
        rollback: rollback.status === 'not_needed' ? undefined : (rollback.message ?? rollback.status),
      });
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

  // Verified: from here on nothing is undone, and a cancellation no longer interrupts.
  return CancellationScope.nonCancellable(async () => {
    enter('finish');
    const result: RestoreWorkflowResult = {
      operationId,
      status: 'completed',
      safetyBackupId,
      approvedBy,
      restoredTables: restored.expected.length,
      verification: verification!,
      durationsMs: { database: restored.durationMs },
      path: swap ? 'swap' : 'in-place',
      setAside,
    };
    if (safetyBackupId) await bookkeeping.releaseSafetyBackup({ backupId: safetyBackupId });
    if (options.documents && input.documentsDir) {
      const documentsDir = input.documentsDir;
      await onWorker
        .run((a) => a.finishDocuments({ operationId, documentsDir }))
        .catch((error: unknown) =>
          log.warn('The previous documents tree could not be removed', { operationId, error: String(error) }),
        );
    }
    await onWorker.cleanUp((a) => a.discardRestoreWorkDir({ operationId, previewId }));
    await record('finish', 'completed');
    // Last: recording the end releases the lock, and the catalog then shows the whole story.
    await bookkeeping.finishRestore({
      operationId,
      ending: { status: 'completed', errorCode: null, errorMessage: null, rollback: null, result },
    });
    progress = { step: 'done', percent: 100, currentTable: null, status: 'completed' };
    upsertSearchAttributes([{ key: statusAttribute, value: 'completed' }]);
    await emitRestoreEvent('restore.completed', input, {
      durationMs: Date.now() - workflowInfo().startTime.getTime(),
    });
    return result;
  });
}
