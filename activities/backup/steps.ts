// The backup steps on the worker that holds the scratch files: dump, archive, upload, and their cleanup.
import { Context } from '@temporalio/activity';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { BackupPlan } from '../../domain/backup.ts';
import { LifeboatError } from '../../domain/errors.ts';
import { manifestFormatVersion, sidecarFor } from '../../domain/manifest.ts';
import { dumpEntryName, manifestSidecarKey, md5SidecarKey } from '../../domain/naming.ts';
import { chooseClient } from '../../domain/pg-version.ts';
import { progressPercent, type BackupProgressUpdate } from '../../domain/progress.ts';
import {
  countBytes,
  digestStream,
  listDocuments,
  writeArchive,
  type ArchiveSource,
} from '../../archive/write.ts';
import { recordBackupManifest } from '../../catalog/backups.ts';
import { targetPassword } from '../../catalog/targets.ts';
import { findPgClients } from '../../postgres/binaries.ts';
import { inspectServer, type ServerInfo } from '../../postgres/inspect.ts';
import { runPgDump } from '../../postgres/pg-dump.ts';
import { endSessions } from '../../postgres/sessions.ts';
import { putLocalFile } from '../../storage/storage.ts';
import { progressSignal } from '../../workflows/messages.ts';
import type { ActivityDeps } from '../deps.ts';
import { startPulse } from '../pulse.ts';

/** What the dump step learnt, kept beside the dump for the archive step (possibly a retry of it). */
interface DumpInfo extends ServerInfo {
  dumpFile: string;
  dumpSizeBytes: number;
  dumpFinishedAt: string;
  pgDumpVersion: string;
}

const dumpInfoFile = 'dump-info.json';
const sidecarFile = 'sidecar-manifest.json';

async function fileSize(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

/**
 * Reads what an earlier step left in the scratch directory. When it is gone (the worker was replaced, or
 * its disk wiped), no retry of this step can help: SCRATCH_MISSING tells the workflow to start over.
 */
async function scratchInput<T>(dir: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    throw new LifeboatError(
      'SCRATCH_MISSING',
      `The files of the earlier steps are gone from ${dir} on this worker; the backup starts over from the dump.`,
    );
  }
}

export function createBackupStepActivities(deps: ActivityDeps) {
  const backupDir = (backupId: string) => {
    if (!/^[0-9a-f-]{36}$/.test(backupId))
      throw new LifeboatError('VALIDATION_FAILED', `Bad backup id ${backupId}.`);
    return path.join(deps.workDir, backupId);
  };
  const pulse = (
    run: { workflowId: string; backupId: string },
    measure: () => BackupProgressUpdate | Promise<BackupProgressUpdate>,
  ) => startPulse(deps, run.workflowId, progressSignal, measure, { backupId: run.backupId });

  return {
    /** pg_dump of the target into this worker's scratch directory, with the server facts for the manifest. */
    async dumpDatabase(request: { backupId: string; workflowId: string; plan: BackupPlan }): Promise<{
      dumpSizeBytes: number;
      databaseSizeBytes: number;
      dumpMs: number;
    }> {
      const startedMs = Date.now();
      const { plan } = request;
      const password = await targetPassword(deps.db, deps.secrets, plan.targetId, deps.readEnv);
      const applicationName = `lifeboat-backup-${request.backupId}`;
      const server = await inspectServer(plan.connection, password, applicationName);
      const client = chooseClient(await findPgClients(deps.pgBinDirs), server.serverVersionNum);

      const dir = backupDir(request.backupId);
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const dumpFile = path.join(dir, 'database.dump');

      const stopPulse = pulse(request, async () => {
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
          connection: plan.connection,
          password,
          applicationName,
          outputFile: dumpFile,
          signal: Context.current().cancellationSignal,
        });
      } catch (error) {
        await endSessions(plan.connection, password, applicationName);
        throw error;
      } finally {
        stopPulse();
      }
      const info: DumpInfo = {
        ...server,
        dumpFile,
        dumpSizeBytes: await fileSize(dumpFile),
        dumpFinishedAt: new Date().toISOString(),
        pgDumpVersion: client.version,
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
      plan: BackupPlan;
      trigger: string;
      tags: string[];
      startedAt: string;
    }): Promise<{ archiveFile: string; sizeBytes: number; sha256: string; md5: string; archiveMs: number }> {
      const startedMs = Date.now();
      const { plan } = request;
      const dir = backupDir(request.backupId);
      const { info, dumpStat } = await scratchInput(dir, async () => {
        const info = JSON.parse(await readFile(path.join(dir, dumpInfoFile), 'utf8')) as DumpInfo;
        return { info, dumpStat: await stat(info.dumpFile) };
      });
      const documents = plan.documentsDir ? await listDocuments(plan.documentsDir, deps.documents) : [];
      const sources: ArchiveSource[] = [
        {
          entryName: dumpEntryName(plan.connection.database),
          file: info.dumpFile,
          sizeBytes: dumpStat.size,
          mtime: dumpStat.mtime,
        },
        ...documents,
      ];
      const totalBytes = sources.reduce((sum, source) => sum + source.sizeBytes, 0);
      const archiveFile = path.join(dir, path.posix.basename(plan.key));
      let written = 0;
      const stopPulse = pulse(request, () => ({
        step: 'archive',
        bytes: written,
        percent: progressPercent('archive', written / Math.max(1, totalBytes)),
      }));
      try {
        const built = await writeArchive({
          sources,
          outputFile: archiveFile,
          compression: plan.compression,
          encryptTo: plan.recipients,
          onBytes: (bytes) => {
            written = bytes;
          },
          manifest: {
            formatVersion: manifestFormatVersion,
            lifeboatVersion: deps.lifeboatVersion,
            backupId: request.backupId,
            target: plan.targetName,
            database: {
              name: plan.connection.database,
              serverVersion: info.serverVersion,
              serverVersionNum: info.serverVersionNum,
              sizeBytes: info.databaseSizeBytes,
            },
            pgDump: { version: info.pgDumpVersion, format: 'custom', compression: 'none' },
            archive: {
              compression: plan.compression,
              ...(plan.recipients
                ? { encryption: { format: 'age' as const, recipients: plan.recipients } }
                : {}),
            },
            trigger: request.trigger,
            startedAt: request.startedAt,
            dumpFinishedAt: info.dumpFinishedAt,
            tables: info.tables,
            documents: plan.documentsDir
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
        await recordBackupManifest(deps.db, request.backupId, built.manifest, plan.recipients !== null);
        const sidecar = sidecarFor(built.manifest, { sizeBytes: built.sizeBytes, sha256: built.sha256 });
        await writeFile(path.join(dir, sidecarFile), JSON.stringify(sidecar, null, 2));
        return {
          archiveFile,
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
      const stopPulse = pulse(request, () => ({
        step: 'upload',
        bytes: sent,
        percent: progressPercent('upload', sent / Math.max(1, request.sizeBytes)),
      }));
      try {
        const sidecar = await scratchInput(dir, async () => {
          await stat(request.archiveFile);
          return readFile(path.join(dir, sidecarFile));
        });
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
        await storage.put(manifestSidecarKey(request.key), Readable.from([sidecar]));
        const md5Line = `${request.md5}  ${path.basename(request.key)}\n`;
        await storage.put(md5SidecarKey(request.key), Readable.from([Buffer.from(md5Line)]));
        return { storageUrl: request.destination, uploadMs: Date.now() - startedMs };
      } finally {
        stopPulse();
      }
    },

    /** Removes the backup's scratch files from this worker. */
    async discardWorkDir(request: { backupId: string }): Promise<void> {
      await rm(backupDir(request.backupId), { recursive: true, force: true });
    },
  };
}
