// The restore operation's record in the catalog: its steps, status, lock, approval and safety backup.
import {
  appendRestoreStep,
  findRestoreOperation,
  findUnfinishedRestore,
  finishRestoreOperation,
  getRestoreOperation,
  recordRestoreApproval,
  recordSafetyBackup,
  restoreLockKey,
  setRestoreStatus,
  setSafetyBackupProtected,
  type RestoreEnding,
  type RestoreStepRecord,
} from '../../catalog/restores.ts';
import { LifeboatError } from '../../domain/errors.ts';
import type { RestoreStatus, RestoreStep } from '../../domain/restore/progress.ts';
import type { ActivityDeps } from '../deps.ts';
import { announce } from '../live.ts';

export function createRestoreBookkeepingActivities(deps: ActivityDeps) {
  return {
    async recordRestoreStep(request: {
      operationId: string;
      step: RestoreStep;
      status: RestoreStepRecord['status'];
      code?: string | null;
      message?: string | null;
    }): Promise<void> {
      // Read first, for the live events only: the run's target, and whether this is its first step.
      const before = await findRestoreOperation(deps.db, request.operationId).catch(() => undefined);
      await appendRestoreStep(deps.db, request.operationId, {
        step: request.step,
        status: request.status,
        code: request.code ?? null,
        message: request.message ?? null,
      });
      const run = {
        restoreId: request.operationId,
        ...(before ? { target: before.targetName, targetId: before.targetId ?? undefined } : {}),
      };
      if (before?.steps.length === 0) await announce(deps, { type: 'restore.started', ...run });
      await announce(deps, {
        type: 'restore.step',
        ...run,
        step: request.step,
        status: request.status,
        errorCode: request.code ?? undefined,
      });
    },

    async setRestoreStatus(request: { operationId: string; status: RestoreStatus }): Promise<void> {
      await setRestoreStatus(deps.db, request.operationId, request.status);
    },

    /**
     * Confirms that this operation holds its database's lock (taken when the API recorded it, so that a
     * second request is refused at once) and marks it running. CONFLICT when another one holds it.
     */
    async lockRestore(request: { operationId: string }): Promise<void> {
      const operation = await getRestoreOperation(deps.db, request.operationId);
      if (operation.finishedAt) {
        throw new LifeboatError(
          'CONFLICT',
          `Restore ${operation.id} has already ended; it cannot run again.`,
        );
      }
      const holder = await findUnfinishedRestore(deps.db, await restoreLockKey(deps.db, operation.id));
      if (holder?.id !== operation.id) {
        throw new LifeboatError(
          'CONFLICT',
          `Another restore (${holder?.id ?? 'unknown'}) holds the database.`,
        );
      }
      await setRestoreStatus(deps.db, operation.id, 'running');
    },

    async recordRestoreApproval(request: { operationId: string; approvedBy: string }): Promise<void> {
      await recordRestoreApproval(deps.db, request.operationId, request.approvedBy);
    },

    async recordSafetyBackup(request: { operationId: string; backupId: string }): Promise<void> {
      await recordSafetyBackup(deps.db, request.operationId, request.backupId);
    },

    /** Hands the safety backup over to retention (`safetyRetentionDays`) once the restore no longer needs it. */
    async releaseSafetyBackup(request: { backupId: string }): Promise<void> {
      await setSafetyBackupProtected(deps.db, request.backupId, false);
    },

    async finishRestore(request: { operationId: string; ending: RestoreEnding }): Promise<void> {
      await finishRestoreOperation(deps.db, request.operationId, request.ending);
      await announce(deps, {
        type: 'restore.finished',
        restoreId: request.operationId,
        status: request.ending.status,
        errorCode: request.ending.errorCode ?? undefined,
      });
    },
  };
}
