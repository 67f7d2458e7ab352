// The backup steps on the worker that holds the scratch files: the streamed dump-archive-upload, the
// separate dump and archive steps of runs started before it, the upload of a copy, and their cleanup.
import { Context } from '@temporalio/activity';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import type { BackupPlan } from '../../domain/backup.ts';
import { LifeboatError } from '../../domain/errors.ts';
import {
  manifestFormatVersion,
  sidecarFor,
  type Manifest,
  type ManifestFile,
} from '../../domain/manifest.ts';
import {
  dumpEntryName,
  dumpPartEntryName,
  manifestSidecarKey,
  md5SidecarKey,
  parseDumpPartEntryName,
} from '../../domain/naming.ts';
import { chooseClient } from '../../domain/pg-version.ts';
import { progressPercent, type BackupProgressUpdate } from '../../domain/progress.ts';
import { DumpSpool, spooledParts } from '../../archive/dump-spool.ts';
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
import { runPgDump, startPgDumpThroughPipe } from '../../postgres/pg-dump.ts';
import { endSessions } from '../../postgres/sessions.ts';
import { putLocalFile, type Storage } from '../../storage/storage.ts';
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

/** What a backup run asks for its archive: the plan and what the manifest says of the run. */
interface ArchiveRequest {
  backupId: string;
  workflowId: string;
  plan: BackupPlan;
  trigger: string;
  tags: string[];
  startedAt: string;
}

/** The manifest of a run, but for its files (known once they are written). */
function describeRun(
  request: ArchiveRequest,
  lifeboatVersion: string,
  info: Omit<DumpInfo, 'dumpFile' | 'dumpSizeBytes'>,
  documents: readonly ArchiveSource[],
): Omit<Manifest, 'files'> {
  const { plan } = request;
  return {
    formatVersion: manifestFormatVersion,
    lifeboatVersion,
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
      ...(plan.recipients ? { encryption: { format: 'age' as const, recipients: plan.recipients } } : {}),
    },
    trigger: request.trigger,
    startedAt: request.startedAt,
    dumpFinishedAt: info.dumpFinishedAt,
    tables: info.tables,
    documents: plan.documentsDir
      ? { fileCount: documents.length, totalBytes: documents.reduce((sum, d) => sum + d.sizeBytes, 0) }
      : null,
    options: { tags: request.tags },
  };
}

/** The parts of the dump among the files written, described for the manifest. */
function dumpPartsOf(files: readonly ManifestFile[], dumpPath: string): Manifest['dumpParts'] {
  const parts = files.filter((file) => parseDumpPartEntryName(file.path)?.dumpPath === dumpPath);
  return {
    path: dumpPath,
    sizeBytes: parts.reduce((sum, part) => sum + part.sizeBytes, 0),
    parts: parts.map((part) => part.path),
  };
}

/**
 * Reads the stored archive back and compares size and sha256 (a copy is never trusted on the backend's
 * word), then puts its sidecars beside it. A copy that differs is removed, and the upload will be retried.
 */
async function verifyAndSeal(
  storage: Storage,
  expected: { key: string; sizeBytes: number; sha256: string; md5: string },
  sidecar: Buffer,
  onBytes: (bytes: number) => void,
): Promise<void> {
  const readBack = await digestStream(countBytes(await storage.get(expected.key), onBytes));
  if (readBack.sizeBytes !== expected.sizeBytes || readBack.sha256 !== expected.sha256) {
    await storage.delete(expected.key);
    // Retryable on purpose: a fresh upload of the intact local archive can succeed.
    throw new LifeboatError(
      'STORAGE_UNAVAILABLE',
      `The stored copy of ${expected.key} does not match what was written (size ${readBack.sizeBytes} of ` +
        `${expected.sizeBytes}, or a different sha256); it was removed and the upload will be retried.`,
    );
  }
  await storage.put(manifestSidecarKey(expected.key), Readable.from([sidecar]));
  const md5Line = `${expected.md5}  ${path.basename(expected.key)}\n`;
  await storage.put(md5SidecarKey(expected.key), Readable.from([Buffer.from(md5Line)]));
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

    /**
     * The whole backup up to the catalog record, in one pass: pg_dump writes to a spool file as fast as it
     * can (the source's snapshot is held no longer than a plain dump holds it) while the archive is built
     * from the spool as it grows — the dump as bounded parts, then the documents, then manifest.json —
     * compressed, encrypted and hashed on the way, written to the scratch archive and, for a destination
     * that cannot link a local file, sent to the primary destination at the same time. The primary copy is
     * then read back and sealed with its sidecars; `streamedTo` names it when that all succeeded, else the
     * workflow uploads the scratch archive as it uploads the others. A retry starts over from the dump.
     */
    async streamBackup(request: ArchiveRequest): Promise<{
      archiveFile: string;
      sizeBytes: number;
      sha256: string;
      md5: string;
      dumpSizeBytes: number;
      databaseSizeBytes: number;
      dumpMs: number;
      archiveMs: number;
      uploadMs: number;
      streamedTo: string | null;
    }> {
      const startedMs = Date.now();
      const { plan } = request;
      const password = await targetPassword(deps.db, deps.secrets, plan.targetId, deps.readEnv);
      const applicationName = `lifeboat-backup-${request.backupId}`;
      const server = await inspectServer(plan.connection, password, applicationName);
      const client = chooseClient(await findPgClients(deps.pgBinDirs), server.serverVersionNum);
      const documents = plan.documentsDir ? await listDocuments(plan.documentsDir, deps.documents) : [];

      const dir = backupDir(request.backupId);
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const archiveFile = path.join(dir, path.posix.basename(plan.key));
      const primaryUrl = plan.destinations[0]!;
      const primary = deps.storages.open(primaryUrl);
      // A backend that links a local file stores the finished archive at no cost; any other is sent the
      // bytes as they are made.
      const streamsUpload = !primary.putFile;

      // Ours, so that a failing archive stops pg_dump too; the activity's cancellation stops both.
      const stop = new AbortController();
      const signal = AbortSignal.any([Context.current().cancellationSignal, stop.signal]);
      const dumpStartedMs = Date.now();
      const dumpFile = path.join(dir, 'database.dump');
      const dump = await startPgDumpThroughPipe({
        pgDumpPath: path.join(client.binDir, 'pg_dump'),
        connection: plan.connection,
        password,
        applicationName,
        outputFile: dumpFile,
        signal,
      });
      let dumpMs = 0;
      let dumpFinishedAt = '';
      // pg_dump's own time, start to exit: how long the source held its snapshot.
      const dumped = dump.done.then(() => {
        dumpMs = Date.now() - dumpStartedMs;
        dumpFinishedAt = new Date().toISOString();
        // The archive step begins: told at once rather than at the next beat.
        setImmediate(() => stopPulse.now());
      });
      dumped.catch(() => undefined);
      const spool = new DumpSpool(dumpFile, dumped);

      let archived = 0;
      let archivedDump = 0;
      let readBack = 0;
      let phase: 'dump' | 'archive' | 'upload' = 'dump';
      const stopPulse = pulse(request, () => {
        if (phase === 'dump' && spool.ended) phase = 'archive';
        if (phase === 'dump') {
          return {
            step: 'dump',
            bytes: spool.spooledBytes,
            percent: progressPercent('dump', spool.spooledBytes / Math.max(1, server.databaseSizeBytes)),
          };
        }
        if (phase === 'archive') {
          return {
            step: 'archive',
            bytes: archived,
            percent: progressPercent('archive', archivedDump / Math.max(1, spool.spooledBytes)),
          };
        }
        return {
          step: 'upload',
          bytes: readBack,
          percent: progressPercent('upload', readBack / Math.max(1, archived)),
        };
      });

      const body = streamsUpload ? new PassThrough({ highWaterMark: 1024 * 1024 }) : undefined;
      // A put that gave up no longer reads its body: the body is closed, so that the archive stops
      // waiting on it and goes on alone.
      const put = body
        ? primary.put(plan.key, body).catch((error: unknown) => {
            body.destroy();
            throw error;
          })
        : undefined;
      put?.catch(() => undefined);
      const dumpPath = dumpEntryName(plan.connection.database);
      async function* sources(): AsyncGenerator<ArchiveSource> {
        const parts = spooledParts(spool, (index) => dumpPartEntryName(plan.connection.database, index));
        for await (const part of parts) {
          yield part;
          archivedDump += part.sizeBytes;
        }
        yield* documents;
      }
      try {
        let built;
        try {
          built = await writeArchive({
            sources: sources(),
            outputFile: archiveFile,
            compression: plan.compression,
            encryptTo: plan.recipients,
            onBytes: (bytes) => {
              archived = bytes;
            },
            ...(body ? { copyTo: body } : {}),
            manifest: (files) => ({
              ...describeRun(
                request,
                deps.lifeboatVersion,
                { ...server, dumpFinishedAt, pgDumpVersion: client.version },
                documents,
              ),
              dumpParts: dumpPartsOf(files, dumpPath),
            }),
          });
        } catch (error) {
          stop.abort();
          spool.abort(error as Error);
          await dumped.catch(() => undefined);
          await endSessions(plan.connection, password, applicationName);
          throw error;
        }
        // The time the archive took beyond the dump (with what came before pg_dump started), so that
        // dump, archive and upload times add up to the step's.
        const archiveMs = Date.now() - startedMs - dumpMs;
        // The full manifest goes to the catalog; storage gets it beside the archive only when the archive
        // is not encrypted, else a sealed form that names no table, file or database.
        await recordBackupManifest(deps.db, request.backupId, built.manifest, plan.recipients !== null);
        const sidecar = Buffer.from(
          JSON.stringify(
            sidecarFor(built.manifest, { sizeBytes: built.sizeBytes, sha256: built.sha256 }),
            null,
            2,
          ),
        );
        await writeFile(path.join(dir, sidecarFile), sidecar);

        phase = 'upload';
        stopPulse.now();
        let streamedTo: string | null = null;
        try {
          if (put) await put;
          else await putLocalFile(primary, plan.key, archiveFile);
          await verifyAndSeal(primary, { key: plan.key, ...built }, sidecar, (bytes) => {
            readBack = bytes;
          });
          streamedTo = primaryUrl;
        } catch (error) {
          // The scratch archive is intact: the workflow's upload step, with its own retries, sends it.
          Context.current().log.warn('The primary copy was not stored while streaming; it will be uploaded', {
            error: String(error),
          });
        }
        return {
          archiveFile,
          sizeBytes: built.sizeBytes,
          sha256: built.sha256,
          md5: built.md5,
          dumpSizeBytes: spool.spooledBytes,
          databaseSizeBytes: server.databaseSizeBytes,
          dumpMs,
          archiveMs,
          uploadMs: Date.now() - startedMs - dumpMs - archiveMs,
          streamedTo,
        };
      } finally {
        stopPulse();
      }
    },

    /** tar of the dump, the documents and manifest.json, with sha256 and md5, in the scratch directory. */
    async buildArchive(
      request: ArchiveRequest,
    ): Promise<{ archiveFile: string; sizeBytes: number; sha256: string; md5: string; archiveMs: number }> {
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
          manifest: describeRun(request, deps.lifeboatVersion, info, documents),
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
        await verifyAndSeal(storage, request, sidecar, (bytes) => {
          sent = bytes;
        });
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
