// The backup's catalog bookkeeping, on any worker: the run's row (its only writer), its copies, its ending.
import { archiveKey } from '../../domain/naming.ts';
import type { BackupPlan, BackupRequest } from '../../domain/backup.ts';
import {
  insertRunningBackup,
  markBackupCompleted,
  markBackupEnded,
  recordBackupCopy,
  type BackupCopy,
} from '../../catalog/backups.ts';
import { getTarget } from '../../catalog/targets.ts';
import { removeBackupObjects } from '../../storage/backup-objects.ts';
import { destinationsOf } from '../../services/backup-copies.ts';
import type { ActivityDeps } from '../deps.ts';
import { announce } from '../live.ts';

export function createBackupRecordActivities(deps: ActivityDeps) {
  return {
    /**
     * Writes the run's catalog row (status running; idempotent under retry) and freezes its plan from
     * the target as it is now. The row comes first, so that a plan that cannot be carried out (a
     * destination URL that no longer opens) ends as a recorded failure, not as nothing at all.
     */
    async recordBackupStarted(request: BackupRequest): Promise<BackupPlan> {
      const target = await getTarget(deps.db, request.targetId);
      await insertRunningBackup(deps.db, {
        id: request.backupId,
        targetId: target.id,
        targetName: target.name,
        workflowId: request.workflowId,
        trigger: request.trigger,
        requestedBy: request.requestedBy,
        displayName: request.displayName,
        description: request.description,
        tags: request.tags,
        protected: request.protected,
        startedAt: request.startedAt,
      });
      await announce(deps, {
        type: 'backup.started',
        backupId: request.backupId,
        target: target.name,
        targetId: target.id,
        trigger: request.trigger,
        status: 'running',
      });
      const destinations = await destinationsOf(deps, target);
      // A destination that cannot be opened fails the backup now, with a clear error, not after the dump.
      for (const url of destinations) deps.storages.open(url);
      const recipients = target.encryptionRecipients?.length ? target.encryptionRecipients : null;
      return {
        targetId: target.id,
        targetName: target.name,
        connection: target.connection,
        documentsDir: target.documentsDir,
        compression: target.compression,
        recipients,
        destinations,
        key: archiveKey(
          target.name,
          new Date(request.startedAt),
          request.backupId,
          target.compression,
          recipients !== null,
        ),
      };
    },

    /** Names the task queue of the worker that runs this activity: the next steps share its disk. */
    claimWorker(): Promise<string> {
      return Promise.resolve(deps.workerQueue);
    },

    /** Records how one copy ended: completed, or failed with the code of its last attempt. */
    async recordBackupCopy(request: { backupId: string } & Omit<BackupCopy, 'recordedAt'>): Promise<void> {
      const { backupId, ...copy } = request;
      await recordBackupCopy(deps.db, backupId, copy);
    },

    /** Marks the backup completed: its primary copy is stored and verified. */
    async recordBackupCompleted(request: {
      backupId: string;
      key: string;
      storageUrl: string;
      sizeBytes: number;
      sha256: string;
      md5: string;
      dumpMs: number;
      archiveMs: number;
      uploadMs: number;
      degraded: boolean;
    }): Promise<void> {
      const { backupId, key, ...completed } = request;
      await markBackupCompleted(deps.db, backupId, {
        ...completed,
        storageKey: key,
        finishedAt: new Date().toISOString(),
      });
      await announce(deps, {
        type: 'backup.finished',
        backupId,
        status: 'completed',
        bytes: completed.sizeBytes,
        degraded: completed.degraded,
      });
    },

    /** Records a failed or cancelled run, with the copies that could not be removed from storage yet. */
    async recordBackupEnded(request: {
      backupId: string;
      status: 'failed' | 'cancelled';
      errorCode: string;
      errorMessage: string;
      leftovers?: { position: number; storageUrl: string; storageKey: string }[];
    }): Promise<void> {
      const { leftovers = [], ...ended } = request;
      await markBackupEnded(deps.db, request.backupId, { ...ended, finishedAt: new Date().toISOString() });
      for (const leftover of leftovers) {
        await recordBackupCopy(deps.db, request.backupId, {
          ...leftover,
          status: 'failed',
          sizeBytes: null,
          errorCode: 'STORAGE_UNAVAILABLE',
          errorMessage: 'Left behind by the failed run; removed when retention forgets the run.',
        });
      }
      await announce(deps, {
        type: 'backup.finished',
        backupId: request.backupId,
        status: request.status,
        errorCode: request.errorCode,
      });
    },

    /** Removes an archive and its sidecars from every destination; nothing there is fine. */
    async discardStoredArchive(request: { key: string; destinations: string[] }): Promise<void> {
      for (const url of request.destinations) await removeBackupObjects(deps.storages.open(url), request.key);
    },
  };
}
