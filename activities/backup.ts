// The backup activities: dump, archive, upload on the worker that holds the files; catalog records anywhere.
import { Context } from '@temporalio/activity';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type pg from 'pg';
import { LifeboatError } from '../domain/errors.ts';
import { manifestFormatVersion, sidecarFor } from '../domain/manifest.ts';
import {
  archiveFileName,
  archiveKey,
  dumpEntryName,
  manifestSidecarKey,
  md5SidecarKey,
  type Compression,
} from '../domain/naming.ts';
import { chooseClient } from '../domain/pg-version.ts';
import { progressPercent, type BackupStep } from '../domain/progress.ts';
import {
  countBytes,
  digestStream,
  listDocuments,
  writeArchive,
  type ArchiveSource,
} from '../archive/write.ts';
import {
  insertRunningBackup,
  markBackupCompleted,
  markBackupEnded,
  recordBackupCopy,
  recordBackupManifest,
} from '../catalog/backups.ts';
import { getSettings } from '../catalog/settings.ts';
import type { SecretBox } from '../catalog/secret-box.ts';
import { getTarget, targetPassword } from '../catalog/targets.ts';
import { endSessions, findPgClients, inspectServer, runPgDump, type ServerInfo } from '../postgres/server.ts';
import type { Storage } from '../storage/storage.ts';
import { removeBackupObjects } from '../storage/backup-objects.ts';
import type { StorageRegistry } from '../storage/registry.ts';
import { putLocalFile } from '../storage/storage.ts';

export interface BackupDeps {
  db: pg.Pool;
  secrets: SecretBox;
  /** The default storage, where a target without destinations keeps its backups. */
  storage: Storage;
  /** Every destination by URL, opened on first use. */
  storages: StorageRegistry;
  /** This worker's own scratch directory; only this worker's activities use it. */
  workDir: string;
  /** This worker's own task queue, for the steps that share files on its disk. */
  workerQueue: string;
  pgBinDirs: readonly string[];
  /** age identities for restoring encrypted backups when a request brings none (LIFEBOAT_AGE_IDENTITY_FILE). */
  identityFile?: string | undefined;
  readEnv: (name: string) => string | undefined;
  lifeboatVersion: string;
  /** Sends live progress to the workflow; best effort, never fails the activity. */
  reportProgress: (workflowId: string, update: ProgressUpdate) => Promise<void>;
  progressIntervalMs: number;
}

export interface ProgressUpdate {
  step: BackupStep;
  percent: number;
  bytes: number;
}

export interface BackupRequest {
  backupId: string;
  workflowId: string;
  targetId: string;
  trigger: string;
  requestedBy: string | null;
  displayName: string | null;
  description: string | null;
  tags: string[];
  protected: boolean;
  startedAt: string;
  /** Set on runs a schedule starts: the schedule's own definition, kept in Temporal with it. */
  schedule?: ScheduleDefinition | undefined;
}

/** What a person set on a backup schedule, carried in the schedule's action so Temporal holds it all. */
export interface ScheduleDefinition {
  name: string;
  description: string | null;
  targetName: string;
  frequency: string | null;
  cron: string;
}

interface DumpInfo extends ServerInfo {
  databaseName: string;
  dumpFile: string;
  dumpSizeBytes: number;
  dumpFinishedAt: string;
  pgDumpVersion: string;
  documentsDir: string | null;
  compression: Compression;
  encryptionRecipients: string[] | null;
}

/** Where a backup goes and how it is sealed, decided when it starts. */
export interface BackupPlan {
  targetName: string;
  compression: Compression;
  /** Storage URLs, the primary first. */
  destinations: string[];
  encrypted: boolean;
}

const dumpInfoFile = 'dump-info.json';
const sidecarFile = 'sidecar-manifest.json';

/** Heartbeats every second and sends progress to the workflow every `progressIntervalMs`, until stopped. */
function startPulse(
  deps: BackupDeps,
  workflowId: string,
  measure: () => ProgressUpdate | Promise<ProgressUpdate>,
): () => void {
  const context = Context.current();
  let lastReport = 0;
  const timer = setInterval(() => {
    Promise.resolve(measure())
      .then(async (update) => {
        context.heartbeat({ step: update.step, bytes: update.bytes });
        if (Date.now() - lastReport >= deps.progressIntervalMs) {
          lastReport = Date.now();
          await deps.reportProgress(workflowId, update);
        }
      })
      .catch(() => undefined);
  }, 1_000);
  return () => clearInterval(timer);
}

async function fileSize(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

export function createBackupActivities(deps: BackupDeps) {
  const backupDir = (backupId: string) => {
    if (!/^[0-9a-f-]{36}$/.test(backupId))
      throw new LifeboatError('VALIDATION_FAILED', `Bad backup id ${backupId}.`);
    return path.join(deps.workDir, backupId);
  };

  return {
    /** Creates the catalog row (status running) unless the API already did; says where the backup goes. */
    async recordBackupStarted(request: BackupRequest): Promise<BackupPlan> {
      const target = await getTarget(deps.db, request.targetId);
      const destinations = target.destinations ?? [
        (await getSettings(deps.db)).defaultStorageUrl ?? deps.storages.defaultUrl,
      ];
      // A destination that cannot be opened fails the backup now, with a clear error, not after the dump.
      for (const url of destinations) deps.storages.open(url);
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
      return {
        targetName: target.name,
        compression: target.compression,
        destinations,
        encrypted: Boolean(target.encryptionRecipients?.length),
      };
    },

    /** Names the task queue of the worker that runs this activity: the next steps share its disk. */
    claimWorker(): Promise<string> {
      return Promise.resolve(deps.workerQueue);
    },

    /** pg_dump of the target into this worker's scratch directory, with the server facts for the manifest. */
    async dumpDatabase(request: { backupId: string; workflowId: string; targetId: string }): Promise<{
      dumpSizeBytes: number;
      databaseSizeBytes: number;
      dumpMs: number;
    }> {
      const startedMs = Date.now();
      const target = await getTarget(deps.db, request.targetId);
      const password = await targetPassword(deps.db, deps.secrets, target.id, deps.readEnv);
      const applicationName = `lifeboat-backup-${request.backupId}`;
      const server = await inspectServer(target.connection, password, applicationName);
      const client = chooseClient(await findPgClients(deps.pgBinDirs), server.serverVersionNum);

      const dir = backupDir(request.backupId);
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const dumpFile = path.join(dir, 'database.dump');

      const stopPulse = startPulse(deps, request.workflowId, async () => {
        const bytes = await fileSize(dumpFile);
        return {
          step: 'dump',
          bytes,
          percent: progressPercent('dump', bytes / Math.max(1, server.databaseSizeBytes)),
        };
      });
      try {
        await runPgDump({
          pgDumpPath: path.join(client.binDir, 'pg_dump'),
          connection: target.connection,
          password,
          applicationName,
          outputFile: dumpFile,
          signal: Context.current().cancellationSignal,
        });
      } catch (error) {
        await endSessions(target.connection, password, applicationName);
        throw error;
      } finally {
        stopPulse();
      }
      const info: DumpInfo = {
        ...server,
        databaseName: target.connection.database,
        dumpFile,
        dumpSizeBytes: await fileSize(dumpFile),
        dumpFinishedAt: new Date().toISOString(),
        pgDumpVersion: client.version,
        documentsDir: target.documentsDir,
        compression: target.compression,
        encryptionRecipients: target.encryptionRecipients,
      };
      await writeFile(path.join(dir, dumpInfoFile), JSON.stringify(info));
      return {
        dumpSizeBytes: info.dumpSizeBytes,
        databaseSizeBytes: server.databaseSizeBytes,
        dumpMs: Date.now() - startedMs,
      };
    },

    /** tar of the dump, the documents and manifest.json, with sha256 and md5, in the scratch directory. */
    async buildArchive(request: {
      backupId: string;
      workflowId: string;
      targetName: string;
      trigger: string;
      tags: string[];
      startedAt: string;
    }): Promise<{
      archiveFile: string;
      key: string;
      sizeBytes: number;
      sha256: string;
      md5: string;
      archiveMs: number;
    }> {
      const startedMs = Date.now();
      const dir = backupDir(request.backupId);
      let info: DumpInfo;
      try {
        info = JSON.parse(await readFile(path.join(dir, dumpInfoFile), 'utf8')) as DumpInfo;
      } catch {
        // The scratch files are gone (the worker's disk was wiped): the dump must run again.
        throw new LifeboatError('NOT_FOUND', 'The dump is missing from the worker; it will be taken again.');
      }
      const dumpStat = await stat(info.dumpFile);
      const documents = info.documentsDir ? await listDocuments(info.documentsDir) : [];
      const sources: ArchiveSource[] = [
        {
          entryName: dumpEntryName(info.databaseName),
          file: info.dumpFile,
          sizeBytes: dumpStat.size,
          mtime: dumpStat.mtime,
        },
        ...documents,
      ];
      const recipients = info.encryptionRecipients?.length ? info.encryptionRecipients : null;
      const totalBytes = sources.reduce((sum, source) => sum + source.sizeBytes, 0);
      const startedAt = new Date(request.startedAt);
      const archiveFile = path.join(
        dir,
        archiveFileName(
          request.targetName,
          startedAt,
          request.backupId,
          info.compression,
          recipients !== null,
        ),
      );
      let written = 0;
      const stopPulse = startPulse(deps, request.workflowId, () => ({
        step: 'archive' as const,
        bytes: written,
        percent: progressPercent('archive', written / Math.max(1, totalBytes)),
      }));
      try {
        const built = await writeArchive({
          sources,
          outputFile: archiveFile,
          compression: info.compression,
          encryptTo: recipients,
          onBytes: (bytes) => {
            written = bytes;
          },
          manifest: {
            formatVersion: manifestFormatVersion,
            lifeboatVersion: deps.lifeboatVersion,
            backupId: request.backupId,
            target: request.targetName,
            database: {
              name: info.databaseName,
              serverVersion: info.serverVersion,
              serverVersionNum: info.serverVersionNum,
              sizeBytes: info.databaseSizeBytes,
            },
            pgDump: { version: info.pgDumpVersion, format: 'custom', compression: 'none' },
            archive: {
              compression: info.compression,
              ...(recipients ? { encryption: { format: 'age' as const, recipients } } : {}),
            },
            trigger: request.trigger,
            startedAt: request.startedAt,
            dumpFinishedAt: info.dumpFinishedAt,
            tables: info.tables,
            documents: info.documentsDir
              ? {
                  fileCount: documents.length,
                  totalBytes: documents.reduce((sum, d) => sum + d.sizeBytes, 0),
                }
              : null,
            options: { tags: request.tags },
          },
        });
        // The full manifest goes to the catalog; storage gets it beside the archive only when the archive
        // is not encrypted, else a sealed form that names no table, file or database.
        await recordBackupManifest(deps.db, request.backupId, built.manifest, recipients !== null);
        const sidecar = sidecarFor(built.manifest, { sizeBytes: built.sizeBytes, sha256: built.sha256 });
        await writeFile(path.join(dir, sidecarFile), JSON.stringify(sidecar, null, 2));
        return {
          archiveFile,
          key: archiveKey(
            request.targetName,
            startedAt,
            request.backupId,
            info.compression,
            recipients !== null,
          ),
          sizeBytes: built.sizeBytes,
          sha256: built.sha256,
          md5: built.md5,
          archiveMs: Date.now() - startedMs,
        };
      } finally {
        stopPulse();
      }
    },

    /**
     * Puts the archive and its sidecars in one destination, then reads the archive back to check size and
     * sha256: a copy is never trusted on the backend's word.
     */
    async uploadArchive(request: {
      backupId: string;
      workflowId: string;
      destination: string;
      archiveFile: string;
      key: string;
      sizeBytes: number;
      sha256: string;
      md5: string;
    }): Promise<{ storageUrl: string; uploadMs: number }> {
      const startedMs = Date.now();
      const dir = backupDir(request.backupId);
      const storage = deps.storages.open(request.destination);
      let sent = 0;
      const stopPulse = startPulse(deps, request.workflowId, () => ({
        step: 'upload' as const,
        bytes: sent,
        percent: progressPercent('upload', sent / Math.max(1, request.sizeBytes)),
      }));
      try {
        await putLocalFile(storage, request.key, request.archiveFile);
        // Never trust the write: read the stored object back and compare size and sha256.
        const readBack = await digestStream(
          countBytes(await storage.get(request.key), (bytes) => {
            sent = bytes;
          }),
        );
        if (readBack.sizeBytes !== request.sizeBytes || readBack.sha256 !== request.sha256) {
          await storage.delete(request.key);
          // Retryable on purpose: a fresh upload of the intact local archive can succeed.
          throw new LifeboatError(
            'STORAGE_UNAVAILABLE',
            `The stored copy of ${request.key} does not match what was written (size ${readBack.sizeBytes} of ` +
              `${request.sizeBytes}, or a different sha256); it was removed and the upload will be retried.`,
          );
        }
        const sidecar = await readFile(path.join(dir, sidecarFile));
        await storage.put(manifestSidecarKey(request.key), Readable.from([sidecar]));
        const md5Line = `${request.md5}  ${path.basename(request.key)}\n`;
        await storage.put(md5SidecarKey(request.key), Readable.from([Buffer.from(md5Line)]));
        return { storageUrl: request.destination, uploadMs: Date.now() - startedMs };
      } finally {
        stopPulse();
      }
    },

    /** Records how one copy ended: completed, or failed with the code of its last attempt. */
    async recordBackupCopy(request: {
      backupId: string;
      position: number;
      storageUrl: string;
      storageKey: string;
      status: 'completed' | 'failed';
      sizeBytes: number | null;
      errorCode: string | null;
      errorMessage: string | null;
    }): Promise<void> {
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
      await markBackupCompleted(deps.db, request.backupId, {
        storageUrl: request.storageUrl,
        storageKey: request.key,
        sizeBytes: request.sizeBytes,
        sha256: request.sha256,
        md5: request.md5,
        degraded: request.degraded,
        finishedAt: new Date().toISOString(),
        dumpMs: request.dumpMs,
        archiveMs: request.archiveMs,
        uploadMs: request.uploadMs,
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
    },

    /** Removes an archive and its sidecars from every destination; nothing there is fine. */
    async discardStoredArchive(request: { key: string; destinations: string[] }): Promise<void> {
      for (const url of request.destinations) await removeBackupObjects(deps.storages.open(url), request.key);
    },

    /** Removes the backup's scratch files from this worker. */
    async discardWorkDir(request: { backupId: string }): Promise<void> {
      await rm(backupDir(request.backupId), { recursive: true, force: true });
    },
  };
}
