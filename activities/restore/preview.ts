// The preview: the archive on this worker and the destination as it is, described; nothing is changed.
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { listDocuments } from '../../archive/write.ts';
import { getBackup } from '../../catalog/backups.ts';
import { sealedPreviewIdentity } from '../../catalog/restore-tokens.ts';
import { LifeboatError } from '../../domain/errors.ts';
import {
  needsSafetyBackup,
  qualifiedName,
  tableKey,
  type RestoreDestination,
  type RestoreOptions,
} from '../../domain/restore/options.ts';
import {
  dumpSchemas,
  estimateRestoreDurationMs,
  previewTables,
  restoreWarnings,
  type RestorePreview,
} from '../../domain/restore/preview.ts';
import type { RestoreProgressUpdate } from '../../domain/restore/progress.ts';
import { selectTables, tocOwners, tocTables } from '../../domain/restore/toc.ts';
import { findRestoreTools } from '../../postgres/binaries.ts';
import { inspectDestination } from '../../postgres/inspect.ts';
import { readToc } from '../../postgres/pg-restore.ts';
import { restoreProgressSignal } from '../../workflows/restore-messages.ts';
import type { ActivityDeps } from '../deps.ts';
import { startPulse } from '../pulse.ts';
import { checkId, destinationAccess, identities, requireSafetyBackupKey } from './access.ts';
import { dumpFileOf, previewHolder, type ArchiveCache } from './archive-cache.ts';
import { decideRestorePath } from './swap.ts';

export interface DescribeRestoreRequest {
  previewId: string;
  backupId: string;
  destination: RestoreDestination;
  options: RestoreOptions;
  documentsDir: string | null;
  /** Until when this worker keeps the extracted archive for the restore the preview's token may confirm. */
  keepArchiveUntil: string;
}

export interface DescribedRestore {
  preview: RestorePreview;
  /** The task queue of the worker that holds the extracted archive: the restore goes there first. */
  archiveQueue: string;
}

export function createRestorePreviewActivities(deps: ActivityDeps, archives: ArchiveCache) {
  return {
    /**
     * The preview of a restore: what the backup holds (manifest and pg_restore's table of contents), the
     * destination as it is, what will be dropped or replaced, warnings and an estimated duration. Reads
     * the archive on this worker, where it stays extracted for the restore, and changes nothing anywhere.
     */
    async describeRestore(request: DescribeRestoreRequest): Promise<DescribedRestore> {
      const backup = await getBackup(deps.db, checkId(request.backupId, 'backup id'));
      const { target, password } = await destinationAccess(deps, request.destination);
      const available = await identities(deps, sealedPreviewIdentity(deps.db, request.previewId));
      await requireSafetyBackupKey(deps, request.destination, available);
      const holder = previewHolder(checkId(request.previewId, 'preview id'));
      const dir = path.join(deps.workDir, `preview-${randomUUID()}`);
      const stopPulse = startPulse(deps, null, restoreProgressSignal, (): RestoreProgressUpdate => ({
        step: 'validate',
        bytes: 0,
        percent: 0,
      }));
      let described = false;
      try {
        await mkdir(dir, { recursive: true, mode: 0o700 });
        const { archive } = await archives.hold({
          backupId: backup.id,
          holder,
          identities: () => Promise.resolve(available),
          untilMs: Date.parse(request.keepArchiveUntil),
        });
        const manifest = archive.manifest;
        const dumpFile = dumpFileOf(archive);
        const probe = await inspectDestination(target.connection, request.destination.database, password, []);
        const tools = await findRestoreTools(deps.pgBinDirs, probe.serverVersionNum, manifest.pgDump.version);
        const toc = await readToc(tools.pgRestore, dumpFile, dir);
        const owners = tocOwners(toc.entries);
        const state = await inspectDestination(
          target.connection,
          request.destination.database,
          password,
          owners,
        );
        if (request.destination.kind === 'new-database' && state.exists) {
          throw new LifeboatError(
            'CONFLICT',
            `Database "${request.destination.database}" already exists; restore into a new name, or register it as a target.`,
          );
        }
        if (request.destination.kind === 'target' && !state.exists) {
          throw new LifeboatError('NOT_FOUND', `Database "${request.destination.database}" does not exist.`);
        }
        const dumpTables = tocTables(toc.entries, toc.dataEntries);
        const selection =
          request.options.mode === 'tables'
            ? selectTables(
                toc.entries,
                toc.dataEntries,
                request.options.tables,
                new Set(state.tables.map(tableKey)),
              )
            : undefined;
        if (selection?.unknown.length) {
          // A well-formed request naming what this backup does not hold: a conflict with its content.
          throw new LifeboatError(
            'CONFLICT',
            `The backup has no table ${selection.unknown.map(qualifiedName).join(', ')}.`,
            { field: 'tables' },
          );
        }
        const documentsNow =
          request.documentsDir && existsSync(request.documentsDir)
            ? (await listDocuments(request.documentsDir, deps.documents)).length
            : null;
        const dumpSizeBytes = (await stat(dumpFile)).size;
        const warnings = restoreWarnings({
          mode: request.options.mode,
          destinationKind: request.destination.kind,
          destinationExists: state.exists,
          backupServerVersionNum: manifest.database.serverVersionNum,
          backupServerVersion: manifest.database.serverVersion,
          destinationServerVersionNum: state.serverVersionNum,
          destinationServerVersion: state.serverVersion,
          dumpTables,
          destinationTables: state.tables,
          destinationSchemas: state.schemas,
          dumpSchemas: dumpSchemas(toc.entries, dumpTables),
          selection,
          activeConnections: state.activeConnections,
          superuser: state.superuser,
          missingRoles: owners.filter((owner) => !state.roles.includes(owner)),
          noOwner: request.options.noOwner,
          documents: request.options.documents,
          backupHasDocuments: manifest.documents !== null && manifest.documents.fileCount > 0,
          destinationDocumentFiles: documentsNow ?? 0,
          backupDocumentFiles: manifest.documents?.fileCount ?? 0,
        });
        const chosen = await decideRestorePath(deps, {
          operationId: request.previewId,
          backupId: backup.id,
          destination: request.destination,
          options: request.options,
        });
        // The swap keeps the database aside on its server instead: no dump-based safety backup.
        const safetyBackup = chosen.path === 'in-place' && needsSafetyBackup(request.destination);
        const preview: RestorePreview = {
          backup: {
            id: backup.id,
            targetName: backup.targetName,
            startedAt: backup.startedAt,
            ageSeconds: Math.max(0, Math.round((Date.now() - Date.parse(backup.startedAt)) / 1000)),
            serverVersion: manifest.database.serverVersion,
            sizeBytes: backup.sizeBytes,
            dumpSizeBytes,
            pgDumpVersion: manifest.pgDump.version,
            documents: manifest.documents,
          },
          destination: {
            kind: request.destination.kind,
            targetName: request.destination.targetName,
            database: request.destination.database,
            host: target.connection.host,
            port: target.connection.port,
            exists: state.exists,
            serverVersion: state.serverVersion,
            sizeBytes: state.sizeBytes,
            activeConnections: state.activeConnections,
            tables: state.tables,
            documentsDir: request.documentsDir,
            documentFileCount: documentsNow,
          },
          mode: request.options.mode,
          options: request.options,
          tables: previewTables({
            mode: request.options.mode,
            selected: request.options.tables,
            dumpTables,
            destinationTables: state.tables,
            manifestTables: manifest.tables,
          }),
          sequences: selection?.sequences ?? [],
          safetyBackup,
          path: { kind: chosen.path, reasons: chosen.reasons },
          warnings,
          estimatedDurationMs: estimateRestoreDurationMs({
            archiveBytes: backup.sizeBytes ?? 0,
            dumpBytes: dumpSizeBytes,
            documentsBytes: request.options.documents ? (manifest.documents?.totalBytes ?? 0) : 0,
            safetyBackupBytes: safetyBackup ? state.sizeBytes : 0,
            mode: request.options.mode,
          }),
        };
        described = true;
        return { preview, archiveQueue: deps.workerQueue };
      } finally {
        stopPulse();
        await rm(dir, { recursive: true, force: true });
        // A failed preview issues no token, so no restore will come for the archive.
        if (!described) await archives.release(holder);
      }
    },
  };
}
