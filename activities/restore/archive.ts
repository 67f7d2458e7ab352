// The restore's archive on its worker: the worker claimed, the archive validated there, and let go at the end.
import { rm } from 'node:fs/promises';
import { getRestoreOperation } from '../../catalog/restores.ts';
import { getBackup } from '../../catalog/backups.ts';
import { restorePercent, type RestoreProgressUpdate } from '../../domain/restore/progress.ts';
import type { TableName } from '../../domain/restore/options.ts';
import { restoreProgressSignal } from '../../workflows/restore-messages.ts';
import type { ActivityDeps } from '../deps.ts';
import { startPulse } from '../pulse.ts';
import { checkId, operationDir, operationIdentities, requireSafetyBackupKey } from './access.ts';
import { previewHolder, restoreHolder, type ArchiveCache } from './archive-cache.ts';

export interface PreparedRestore {
  manifestTables: (TableName & { rowEstimate: number; sizeBytes: number })[];
  hasDocuments: boolean;
  archiveBytes: number;
  /** Whether the archive was already extracted on this worker (by the preview, say) rather than fetched now. */
  shared: boolean;
}

export function createRestoreArchiveActivities(deps: ActivityDeps, archives: ArchiveCache) {
  return {
    /** Names the task queue of the worker that runs this activity: the next steps share its disk. */
    claimRestoreWorker(): Promise<string> {
      return Promise.resolve(deps.workerQueue);
    },

    /**
     * Validate: the archive on this worker, checked against the catalog and its manifest (CHECKSUM_MISMATCH,
     * before anything is touched) and unpacked for the next steps. The preview's extraction, when it was
     * made here, is taken over instead of fetched again.
     */
    async prepareRestore(request: {
      operationId: string;
      workflowId: string;
      backupId: string;
      previewId?: string | null | undefined;
    }): Promise<PreparedRestore> {
      const backup = await getBackup(deps.db, checkId(request.backupId, 'backup id'));
      const operation = await getRestoreOperation(deps.db, request.operationId);
      const available = operationIdentities(deps, request.operationId);
      await requireSafetyBackupKey(deps, operation.destination, await available());
      let fetched = 0;
      const stopPulse = startPulse(
        deps,
        request.workflowId,
        restoreProgressSignal,
        (): RestoreProgressUpdate => ({
          step: 'validate',
          bytes: fetched,
          percent: restorePercent('validate', fetched / Math.max(1, backup.sizeBytes ?? 1)),
        }),
        { restoreId: request.operationId },
      );
      try {
        const held = await archives.hold({
          backupId: request.backupId,
          holder: restoreHolder(request.operationId),
          identities: available,
          onBytes: (bytes) => {
            fetched = bytes;
          },
          takesOver: request.previewId ? previewHolder(request.previewId) : undefined,
        });
        return {
          manifestTables: held.archive.manifest.tables,
          hasDocuments: Object.keys(held.archive.files).some((name) => name.startsWith('documents/')),
          archiveBytes: held.archive.archiveBytes,
          shared: !held.fetched,
        };
      } finally {
        stopPulse();
      }
    },

    /** Removes the operation's scratch files from this worker and lets go of the archives it held. */
    async discardRestoreWorkDir(request: {
      operationId: string;
      previewId?: string | null | undefined;
    }): Promise<void> {
      await rm(operationDir(deps, request.operationId), { recursive: true, force: true });
      await archives.release(restoreHolder(request.operationId));
      if (request.previewId) await archives.release(previewHolder(request.previewId));
    },
  };
}
