// The restore activities: fetch and check the archive, restore the database and the documents on the
// worker that holds the files; preview, verification, databases and catalog records anywhere.
import { Context } from '@temporalio/activity';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, copyFile, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LifeboatError } from '../domain/errors.ts';
import type { Manifest } from '../domain/manifest.ts';
import {
  checkRestoredSql,
  clearTablesSql,
  compareRestoredTables,
  estimateRestoreDurationMs,
  needsSafetyBackup,
  qualifiedName,
  restorePercent,
  restoreWarnings,
  selectTables,
  tableKey,
  tocOwners,
  tocTables,
  wipeDatabaseSql,
  type ExpectedTable,
  type RestoreDestination,
  type RestoreOptions,
  type RestoreProgressUpdate,
  type RestoreStatus,
  type RestoreStep,
  type RestoreWarning,
  type TableName,
  type VerificationReport,
} from '../domain/restore.ts';
import { listDocuments } from '../archive/write.ts';
import { extractArchive } from '../archive/read.ts';
import type { BackupDeps, ProgressUpdate } from './backup.ts';
import { fetchBackupArchive } from '../services/backup-copies.ts';
import { getBackup } from '../catalog/backups.ts';
import {
  appendRestoreStep,
  finishRestoreOperation,
  findUnfinishedRestore,
  getRestoreOperation,
  recordRestoreApproval,
  recordSafetyBackup,
  sealedPreviewIdentity,
  sealedRestoreIdentity,
  setRestoreStatus,
  setSafetyBackupProtected,
  type RestoreEnding,
  type RestoreStepRecord,
} from '../catalog/restores.ts';
import { getTarget, targetPassword } from '../catalog/targets.ts';
import { recipientOf } from '../archive/encryption.ts';
import { readIdentityFile } from '../archive/identity-file.ts';
import {
  endDestinationSessions,
  findRestoreTools,
  inspectDestination,
  readToc,
  runRestore,
  withClient,
  type DestinationState,
} from '../postgres/pg-restore.ts';

export interface RestoreDatabaseRequest {
  operationId: string;
  workflowId: string;
  backupId: string;
  destination: RestoreDestination;
  options: RestoreOptions;
  /** `rollback` restores the safety backup after a failure: progress goes to the rollback step. */
  purpose: 'restore' | 'rollback';
}

export interface RestoredDatabase {
  /** Every table the restore wrote, with the rows the dump carried (null: none expected). */
  expected: ExpectedTable[];
  bytes: number;
  durationMs: number;
  pgRestoreVersion: string;
}

export interface PreparedRestore {
  manifestTables: (TableName & { rowEstimate: number; sizeBytes: number })[];
  hasDocuments: boolean;
  archiveBytes: number;
}

export interface RestorePreview {
  backup: {
    id: string;
    targetName: string;
    startedAt: string;
    ageSeconds: number;
    serverVersion: string;
    sizeBytes: number | null;
    dumpSizeBytes: number;
    pgDumpVersion: string;
    documents: { fileCount: number; totalBytes: number } | null;
  };
  destination: {
    kind: RestoreDestination['kind'];
    targetName: string;
    database: string;
    host: string;
    port: number;
    exists: boolean;
    serverVersion: string;
    sizeBytes: number;
    activeConnections: number;
    tables: (TableName & { rowEstimate: number; sizeBytes: number })[];
    documentsDir: string | null;
    documentFileCount: number | null;
  };
  mode: RestoreOptions['mode'];
  options: RestoreOptions;
  tables: (TableName & {
    sizeBytes: number | null;
    rowEstimate: number | null;
    hasData: boolean;
    inDestination: boolean;
    action: 'create' | 'drop-and-create' | 'replace-rows' | 'create-empty' | 'drop-and-create-empty';
  })[];
  sequences: TableName[];
  safetyBackup: boolean;
  warnings: RestoreWarning[];
  estimatedDurationMs: number;
}

/** What the restore step records of one table, in the terms of the preview. */
function tableAction(
  mode: RestoreOptions['mode'],
  inDestination: boolean,
): RestorePreview['tables'][number]['action'] {
  if (mode === 'schema-only') return inDestination ? 'drop-and-create-empty' : 'create-empty';
  if (mode === 'full') return inDestination ? 'drop-and-create' : 'create';
  return inDestination ? 'replace-rows' : 'create';
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function checkId(id: string, what: string): string {
  if (!uuidPattern.test(id)) throw new LifeboatError('VALIDATION_FAILED', `Bad ${what} ${id}.`);
  return id;
}

/** Sibling paths of a documents directory, on its file system so that renames are atomic. */
function documentPaths(documentsDir: string, operationId: string) {
  const parent = path.dirname(documentsDir);
  const base = path.basename(documentsDir);
  return {
    staged: path.join(parent, `.${base}.lifeboat-staged-${operationId}`),
    old: path.join(parent, `.${base}.lifeboat-old-${operationId}`),
    discarded: path.join(parent, `.${base}.lifeboat-discarded-${operationId}`),
  };
}

interface Extracted {
  manifest: Manifest;
  /** Absolute paths of the extracted files, by their path in the archive. */
  files: Record<string, string>;
  archiveBytes: number;
}

export function createRestoreActivities(deps: BackupDeps) {
  const operationDir = (operationId: string) =>
    path.join(deps.workDir, `restore-${checkId(operationId, 'operation id')}`);

  /**
   * The worker's progress channel is the `progress` signal, typed for backups; a restore workflow reads
   * its own shape from the same signal.
   */
  const report = (workflowId: string, update: RestoreProgressUpdate) =>
    deps.reportProgress(workflowId, update as unknown as ProgressUpdate);

  /** Heartbeats every second and sends progress every `progressIntervalMs` (to a workflow), until stopped. */
  function startPulse(workflowId: string | null, measure: () => RestoreProgressUpdate): () => void {
    const context = Context.current();
    let lastReport = 0;
    const timer = setInterval(() => {
      const update = measure();
      context.heartbeat({ step: update.step, bytes: update.bytes });
      if (workflowId && Date.now() - lastReport >= deps.progressIntervalMs) {
        lastReport = Date.now();
        void report(workflowId, update).catch(() => undefined);
      }
    }, 1_000);
    return () => clearInterval(timer);
  }

  /**
   * The age identities that may open an encrypted archive: the one the request brought (sealed in the
   * catalog while the operation runs), then the worker's identity file, which a safety backup may need.
   */
  async function identities(sealed: Promise<string | null>): Promise<string[]> {
    const given = await sealed;
    return [...(given ? [deps.secrets.open(given)] : []), ...(await readIdentityFile(deps.identityFile))];
  }

  /**
   * The backup's archive fetched, checked and unpacked in `dir`, or what an earlier attempt on this
   * worker left there. The stored bytes must match the catalog's sha256 and every file its manifest's;
   * the manifest must be the one the catalog recorded. Anything else is CHECKSUM_MISMATCH.
   */
  async function ensureExtracted(
    dir: string,
    backupId: string,
    operationId: string,
    onBytes: (bytes: number) => void,
  ): Promise<Extracted> {
    const marker = path.join(dir, 'extracted.json');
    try {
      return JSON.parse(await readFile(marker, 'utf8')) as Extracted;
    } catch {
      // Not fetched yet on this worker, or the worker restarted and its scratch space was emptied.
    }
    const backup = await getBackup(deps.db, checkId(backupId, 'backup id'));
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const file = path.join(dir, 'archive');
    const fetched = await fetchBackupArchive(deps, {
      backupId,
      file,
      identities: await identities(sealedRestoreIdentity(deps.db, operationId)),
      onBytes,
    });
    const extracted = await extractArchive({ file, destination: path.join(dir, 'files') });
    await rm(file, { force: true });
    if (extracted.manifest.backupId !== backupId) {
      throw new LifeboatError(
        'CHECKSUM_MISMATCH',
        `The archive of backup ${backupId} holds the manifest of backup ${extracted.manifest.backupId}.`,
      );
    }
    // Compared field by field: the catalog keeps the manifest as jsonb, which orders keys its own way.
    const listing = (files: Manifest['files']) =>
      files.map((f) => `${f.path}\0${f.sizeBytes}\0${f.sha256}`).join('\n');
    if (backup.manifest && listing(backup.manifest.files) !== listing(extracted.manifest.files)) {
      throw new LifeboatError(
        'CHECKSUM_MISMATCH',
        `The manifest in the archive of backup ${backupId} differs from the one the catalog recorded.`,
      );
    }
    const result: Extracted = {
      manifest: extracted.manifest,
      files: Object.fromEntries(extracted.files),
      archiveBytes: fetched.sizeBytes,
    };
    await writeFile(marker, JSON.stringify(result), { mode: 0o600 });
    return result;
  }

  function dumpFileOf(extracted: Extracted): string {
    const entry = Object.keys(extracted.files).find((name) => name.startsWith('database/'));
    if (!entry) throw new LifeboatError('CHECKSUM_MISMATCH', 'The archive holds no database dump.');
    return extracted.files[entry]!;
  }

  async function destinationAccess(destination: RestoreDestination) {
    const target = await getTarget(deps.db, destination.targetId);
    const password = await targetPassword(deps.db, deps.secrets, target.id, deps.readEnv);
    return { target, password, connection: { ...target.connection, database: destination.database } };
  }

  /**
   * A restore into a target whose backups are encrypted can only be rolled back if one of the identities
   * at hand opens its safety backup: refused up front (DECRYPTION_FAILED) rather than found out while
   * rolling back.
   */
  async function requireSafetyBackupKey(destination: RestoreDestination, available: string[]): Promise<void> {
    if (!needsSafetyBackup(destination)) return;
    const target = await getTarget(deps.db, destination.targetId);
    const recipients = target.encryptionRecipients ?? [];
    if (!recipients.length) return;
    const opened = await Promise.all(available.map((identity) => recipientOf(identity)));
    if (opened.some((recipient) => recipients.includes(recipient))) return;
    throw new LifeboatError(
      'DECRYPTION_FAILED',
      `Target ${target.name} encrypts its backups, and none of the identities at hand (the request's, or ` +
        `LIFEBOAT_AGE_IDENTITY_FILE on the worker) belongs to its recipients: the safety backup taken before ` +
        'the restore could not be read back to roll it back. Give the identity of one of its recipients.',
    );
  }

  /** Copies the documents of an unpacked archive into `staged`, owned and permitted like `like`. */
  async function stageDocuments(extracted: Extracted, staged: string, like: string | null): Promise<number> {
    const reference = like && existsSync(like) ? await stat(like) : undefined;
    const dirMode = reference ? reference.mode & 0o7777 : 0o755;
    const fileMode = dirMode & 0o666;
    const owner =
      reference && process.getuid?.() === 0 ? { uid: reference.uid, gid: reference.gid } : undefined;
    await rm(staged, { recursive: true, force: true });
    await mkdir(staged, { mode: dirMode });
    const made = new Set([staged]);
    let count = 0;
    for (const [name, source] of Object.entries(extracted.files)) {
      if (!name.startsWith('documents/')) continue;
      const target = path.join(staged, ...name.slice('documents/'.length).split('/'));
      const parents: string[] = [];
      for (let dir = path.dirname(target); !made.has(dir); dir = path.dirname(dir)) parents.unshift(dir);
      for (const dir of parents) {
        await mkdir(dir, { mode: dirMode });
        if (owner) await chown(dir, owner.uid, owner.gid);
        made.add(dir);
      }
      await copyFile(source, target);
      await chmod(target, fileMode);
      if (owner) await chown(target, owner.uid, owner.gid);
      count++;
    }
    await chmod(staged, dirMode);
    if (owner) await chown(staged, owner.uid, owner.gid);
    return count;
  }

  return {
    async recordRestoreStep(request: {
      operationId: string;
      step: RestoreStep;
      status: RestoreStepRecord['status'];
      code?: string | null;
      message?: string | null;
    }): Promise<void> {
      await appendRestoreStep(deps.db, request.operationId, {
        step: request.step,
        status: request.status,
        code: request.code ?? null,
        message: request.message ?? null,
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
      const { rows } = await deps.db.query<{ lock_key: string }>(
        'select lock_key from restore_operations where id = $1',
        [operation.id],
      );
      const holder = await findUnfinishedRestore(deps.db, rows[0]!.lock_key);
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
    },

    /**
     * Creates the new database a restore goes into, from template0 and marked with a comment naming the
     * operation, so that a retry recognises its own database and a rollback drops only that one.
     */
    async createRestoreDatabase(request: {
      operationId: string;
      destination: RestoreDestination;
    }): Promise<void> {
      const { target, password } = await destinationAccess(request.destination);
      const marker = `lifeboat restore ${request.operationId}`;
      const name = request.destination.database;
      await withClient(target.connection, password, 'lifeboat-restore-create', async (client) => {
        const { rows } = await client.query<{ comment: string | null }>(
          `select shobj_description(oid, 'pg_database') as comment from pg_database where datname = $1`,
          [name],
        );
        if (rows[0]) {
          if (rows[0].comment === marker) return;
          throw new LifeboatError(
            'CONFLICT',
            `Database "${name}" already exists; a restore creates a new one.`,
          );
        }
        const quoted = `"${name.replace(/"/g, '""')}"`;
        await client.query(`create database ${quoted} template template0`);
        await client.query(`comment on database ${quoted} is '${marker}'`);
      });
    },

    /** Drops a database this operation created (and nothing else), ending its sessions. */
    async dropRestoreDatabase(request: {
      operationId: string;
      destination: RestoreDestination;
    }): Promise<boolean> {
      const { target, password } = await destinationAccess(request.destination);
      const marker = `lifeboat restore ${request.operationId}`;
      const name = request.destination.database;
      return withClient(target.connection, password, 'lifeboat-restore-drop', async (client) => {
        const { rows } = await client.query<{ comment: string | null }>(
          `select shobj_description(oid, 'pg_database') as comment from pg_database where datname = $1`,
          [name],
        );
        if (rows[0]?.comment !== marker) return false;
        await client.query(`drop database if exists "${name.replace(/"/g, '""')}" with (force)`);
        return true;
      });
    },

    /** Names the task queue of the worker that runs this activity: the next steps share its disk. */
    claimRestoreWorker(): Promise<string> {
      return Promise.resolve(deps.workerQueue);
    },

    /**
     * Validate: fetches the archive onto this worker, checks it against the catalog and its manifest
     * (CHECKSUM_MISMATCH, before anything is touched) and unpacks it for the next steps.
     */
    async prepareRestore(request: {
      operationId: string;
      workflowId: string;
      backupId: string;
    }): Promise<PreparedRestore> {
      const backup = await getBackup(deps.db, checkId(request.backupId, 'backup id'));
      const operation = await getRestoreOperation(deps.db, request.operationId);
      await requireSafetyBackupKey(
        operation.destination,
        await identities(sealedRestoreIdentity(deps.db, request.operationId)),
      );
      let fetched = 0;
      const stopPulse = startPulse(request.workflowId, () => ({
        step: 'validate',
        bytes: fetched,
        percent: restorePercent('validate', fetched / Math.max(1, backup.sizeBytes ?? 1)),
      }));
      try {
        const extracted = await ensureExtracted(
          path.join(operationDir(request.operationId), request.backupId),
          request.backupId,
          request.operationId,
          (bytes) => {
            fetched = bytes;
          },
        );
        return {
          manifestTables: extracted.manifest.tables,
          hasDocuments: Object.keys(extracted.files).some((name) => name.startsWith('documents/')),
          archiveBytes: extracted.archiveBytes,
        };
      } finally {
        stopPulse();
      }
    },

    /**
     * Restores the database from the unpacked archive (fetching it again when this worker lost it) in
     * one transaction: pg_restore's SQL into psql, with what the mode needs before it, and a check of
     * every table's rows before COMMIT. A failure leaves the database as it was; its error says so
     * (details.rolledBack) together with the attempt, since an earlier attempt might have committed.
     */
    async restoreDatabase(request: RestoreDatabaseRequest): Promise<RestoredDatabase> {
      const startedMs = Date.now();
      const { options } = request;
      const context = Context.current();
      const step: RestoreStep = request.purpose === 'rollback' ? 'rollback' : 'restore-database';
      let bytes = 0;
      let dumpBytes = 1;
      let currentTable: string | null = null;
      const stopPulse = startPulse(request.workflowId, () => ({
        step,
        bytes,
        currentTable,
        percent:
          step === 'rollback'
            ? Math.min(99, Math.round((100 * bytes) / dumpBytes))
            : restorePercent(step, Math.min(0.99, bytes / dumpBytes)),
      }));
      try {
        const { target, password, connection } = await destinationAccess(request.destination);
        const applicationName = `lifeboat-restore-${request.operationId}`;
        const dir = path.join(operationDir(request.operationId), request.backupId);
        const extracted = await ensureExtracted(dir, request.backupId, request.operationId, () => undefined);
        const dumpFile = dumpFileOf(extracted);
        dumpBytes = Math.max(1, (await stat(dumpFile)).size);
        const state = await inspectDestination(target.connection, request.destination.database, password, []);
        if (!state.exists) {
          throw new LifeboatError('NOT_FOUND', `Database "${request.destination.database}" does not exist.`);
        }
        await endDestinationSessions(connection, password, applicationName, options.terminateConnections);
        const tools = await findRestoreTools(
          deps.pgBinDirs,
          state.serverVersionNum,
          extracted.manifest.pgDump.version,
        );
        const toc = await readToc(tools.pgRestore, dumpFile, dir);
        const tables = tocTables(toc.entries, toc.dataEntries);
        const ownership = options.noOwner ? ['--no-owner', '--no-privileges'] : [];
        let selectArgs: string[];
        let prelude: string;
        let expectedOf: (counted: Map<string, number>) => ExpectedTable[];
        const rowsOf = (counted: Map<string, number>, table: TableName) => counted.get(tableKey(table)) ?? 0;
        if (options.mode === 'full' || options.mode === 'schema-only') {
          selectArgs = options.mode === 'schema-only' ? ['--schema-only', ...ownership] : ownership;
          prelude = wipeDatabaseSql();
          // Every table is created afresh: it holds what its COPY carried, or nothing.
          expectedOf = (counted) =>
            tables.map((t) => ({
              schema: t.schema,
              name: t.name,
              rows: options.mode === 'schema-only' ? 0 : rowsOf(counted, t),
            }));
        } else if (options.mode === 'data-only') {
          const withData = tables.filter((t) => t.hasData);
          const largeObjects = toc.dataEntries.some((e) => e.desc !== 'TABLE DATA');
          selectArgs = ['--data-only', ...ownership];
          prelude = `SET session_replication_role = replica;\n${clearTablesSql(withData, largeObjects)}`;
          expectedOf = (counted) =>
            withData.map((t) => ({ schema: t.schema, name: t.name, rows: rowsOf(counted, t) }));
        } else {
          const existing = new Set(state.tables.map(tableKey));
          const selection = selectTables(toc.entries, toc.dataEntries, options.tables, existing);
          if (selection.unknown.length) {
            throw new LifeboatError(
              'VALIDATION_FAILED',
              `The backup has no table ${selection.unknown.map(qualifiedName).join(', ')}.`,
            );
          }
          const listFile = path.join(dir, 'selected.list');
          await writeFile(listFile, selection.ids.map((id) => `${id};\n`).join(''), { mode: 0o600 });
          selectArgs = [`--use-list=${listFile}`, ...ownership];
          prelude = `SET session_replication_role = replica;\n${clearTablesSql(selection.replaced, false)}`;
          expectedOf = (counted) =>
            options.tables.map((t) => ({ schema: t.schema, name: t.name, rows: rowsOf(counted, t) }));
        }
        let expected: ExpectedTable[] = [];
        const run = await runRestore({
          tools,
          dumpFile,
          selectArgs,
          connection,
          password,
          applicationName,
          prelude,
          epilogue: (counted) => {
            expected = expectedOf(new Map(counted.map((t) => [tableKey(t), t.rows ?? 0])));
            return checkRestoredSql(expected);
          },
          signal: context.cancellationSignal,
          onProgress: (total, table) => {
            bytes = total;
            currentTable = table ? qualifiedName(table) : null;
          },
        });
        return {
          expected,
          bytes: run.bytes,
          durationMs: Date.now() - startedMs,
          pgRestoreVersion: tools.version,
        };
      } catch (error) {
        if (error instanceof LifeboatError && error.details?.rolledBack) {
          throw new LifeboatError(error.code, error.message, {
            ...error.details,
            attempt: context.info.attempt,
          });
        }
        throw error;
      } finally {
        stopPulse();
      }
    },

    /**
     * Stages the backup's documents beside the documents directory, then swaps: the current tree is
     * renamed aside (kept until the restore succeeds) and the staged one takes its place. A retry after
     * a swap that got halfway finishes it instead of starting over.
     */
    async restoreDocuments(request: {
      operationId: string;
      workflowId: string;
      backupId: string;
      documentsDir: string;
    }): Promise<{ files: number }> {
      const { documentsDir, operationId } = request;
      const paths = documentPaths(documentsDir, operationId);
      if (existsSync(paths.old)) {
        if (!existsSync(documentsDir)) await rename(paths.staged, documentsDir);
        return { files: (await listDocuments(documentsDir)).length };
      }
      const stopPulse = startPulse(request.workflowId, () => ({
        step: 'restore-documents',
        bytes: 0,
        percent: restorePercent('restore-documents', 0.5),
      }));
      try {
        const extracted = await ensureExtracted(
          path.join(operationDir(operationId), request.backupId),
          request.backupId,
          operationId,
          () => undefined,
        );
        const files = await stageDocuments(extracted, paths.staged, documentsDir);
        if (existsSync(documentsDir)) await rename(documentsDir, paths.old);
        await rename(paths.staged, documentsDir);
        return { files };
      } finally {
        stopPulse();
      }
    },

    /**
     * Puts the documents back as they were before the restore: the tree kept aside when there is one,
     * else (it vanished) the safety backup's documents. Idempotent.
     */
    async rollbackDocuments(request: {
      operationId: string;
      workflowId: string;
      documentsDir: string;
      safetyBackupId: string | null;
    }): Promise<{ outcome: 'previous-tree' | 'safety-backup' | 'nothing-to-undo' }> {
      const { documentsDir, operationId } = request;
      const paths = documentPaths(documentsDir, operationId);
      await rm(paths.staged, { recursive: true, force: true });
      if (existsSync(paths.old)) {
        if (existsSync(documentsDir)) await rename(documentsDir, paths.discarded);
        await rename(paths.old, documentsDir);
        await rm(paths.discarded, { recursive: true, force: true });
        return { outcome: 'previous-tree' };
      }
      if (!request.safetyBackupId) return { outcome: 'nothing-to-undo' };
      const extracted = await ensureExtracted(
        path.join(operationDir(operationId), request.safetyBackupId),
        request.safetyBackupId,
        operationId,
        () => undefined,
      );
      await stageDocuments(extracted, paths.staged, documentsDir);
      if (existsSync(documentsDir)) await rename(documentsDir, paths.discarded);
      await rename(paths.staged, documentsDir);
      await rm(paths.discarded, { recursive: true, force: true });
      return { outcome: 'safety-backup' };
    },

    /** Removes the documents tree kept aside, once the restore has succeeded. */
    async finishDocuments(request: { operationId: string; documentsDir: string }): Promise<void> {
      const paths = documentPaths(request.documentsDir, request.operationId);
      await rm(paths.old, { recursive: true, force: true });
      await rm(paths.staged, { recursive: true, force: true });
    },

    /**
     * Verify: every table the restore wrote exists and holds exactly the rows the dump carried, and in
     * modes full and schema-only every table of the manifest is among them. VERIFY_FAILED otherwise.
     */
    async verifyRestore(request: {
      destination: RestoreDestination;
      mode: RestoreOptions['mode'];
      expected: ExpectedTable[];
      manifestTables: (TableName & { rowEstimate: number })[];
    }): Promise<VerificationReport> {
      const { password, connection } = await destinationAccess(request.destination);
      const observed = await withClient(connection, password, 'lifeboat-restore-verify', async (client) => {
        const seen = [];
        for (const table of request.expected) {
          const name = qualifiedName(table);
          const { rows } = await client.query<{ exists: boolean }>(
            'select to_regclass($1) is not null as exists',
            [name],
          );
          let count: number | null = null;
          if (rows[0]?.exists) {
            const counted = await client.query<{ n: string }>(`select count(*) as n from only ${name}`);
            count = Number(counted.rows[0]?.n ?? 0);
          }
          seen.push({
            schema: table.schema,
            name: table.name,
            exists: rows[0]?.exists ?? false,
            rows: count,
          });
        }
        return seen;
      });
      const report = compareRestoredTables(request.expected, observed, request.manifestTables);
      if (request.mode === 'full' || request.mode === 'schema-only') {
        const restored = new Set(request.expected.map(tableKey));
        for (const table of request.manifestTables) {
          if (!restored.has(tableKey(table))) {
            report.problems.push(`${qualifiedName(table)} is in the manifest but not in the restored dump`);
            report.ok = false;
          }
        }
      }
      if (!report.ok) {
        throw new LifeboatError(
          'VERIFY_FAILED',
          `The restored database does not check out: ${report.problems.join('; ')}.`,
          {
            report,
          },
        );
      }
      return report;
    },

    /**
     * The preview of a restore: what the backup holds (manifest and pg_restore's table of contents), the
     * destination as it is, what will be dropped or replaced, warnings and an estimated duration. Reads
     * the archive on this worker and changes nothing anywhere.
     */
    async describeRestore(request: {
      backupId: string;
      destination: RestoreDestination;
      options: RestoreOptions;
      documentsDir: string | null;
      previewId: string;
    }): Promise<RestorePreview> {
      const backup = await getBackup(deps.db, checkId(request.backupId, 'backup id'));
      const { target, password } = await destinationAccess(request.destination);
      const available = await identities(sealedPreviewIdentity(deps.db, request.previewId));
      await requireSafetyBackupKey(request.destination, available);
      const dir = path.join(deps.workDir, `preview-${randomUUID()}`);
      const stopPulse = startPulse(null, () => ({ step: 'validate', bytes: 0, percent: 0 }));
      try {
        await mkdir(dir, { recursive: true, mode: 0o700 });
        const file = path.join(dir, 'archive');
        await fetchBackupArchive(deps, {
          backupId: backup.id,
          file,
          identities: available,
        });
        const extracted = await extractArchive({ file, destination: path.join(dir, 'files') });
        await rm(file, { force: true });
        const manifest = extracted.manifest;
        const dumpEntry = [...extracted.files.keys()].find((name) => name.startsWith('database/'));
        if (!dumpEntry) throw new LifeboatError('CHECKSUM_MISMATCH', 'The archive holds no database dump.');
        const dumpFile = extracted.files.get(dumpEntry)!;
        const probe = await inspectDestination(target.connection, request.destination.database, password, []);
        const tools = await findRestoreTools(deps.pgBinDirs, probe.serverVersionNum, manifest.pgDump.version);
        const toc = await readToc(tools.pgRestore, dumpFile, dir);
        const owners = tocOwners(toc.entries);
        const state: DestinationState = await inspectDestination(
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
        const inDestination = new Set(state.tables.map(tableKey));
        const sizes = new Map(manifest.tables.map((t) => [tableKey(t), t]));
        const selection =
          request.options.mode === 'tables'
            ? selectTables(toc.entries, toc.dataEntries, request.options.tables, inDestination)
            : undefined;
        if (selection?.unknown.length) {
          throw new LifeboatError(
            'VALIDATION_FAILED',
            `The backup has no table ${selection.unknown.map(qualifiedName).join(', ')}.`,
            { field: 'tables' },
          );
        }
        const scope = selection
          ? dumpTables.filter((t) => request.options.tables.some((s) => tableKey(s) === tableKey(t)))
          : request.options.mode === 'data-only'
            ? dumpTables.filter((t) => t.hasData)
            : dumpTables;
        const documentsNow =
          request.documentsDir && existsSync(request.documentsDir)
            ? (await listDocuments(request.documentsDir)).length
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
          dumpSchemas: [
            ...new Set(toc.entries.filter((e) => e.desc === 'SCHEMA').map((e) => e.name)),
            ...new Set(dumpTables.map((t) => t.schema)),
          ],
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
        const safetyBackup = needsSafetyBackup(request.destination);
        return {
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
          tables: scope.map((t) => ({
            schema: t.schema,
            name: t.name,
            sizeBytes: sizes.get(tableKey(t))?.sizeBytes ?? null,
            rowEstimate: sizes.get(tableKey(t))?.rowEstimate ?? null,
            hasData: t.hasData,
            inDestination: inDestination.has(tableKey(t)),
            action: tableAction(request.options.mode, inDestination.has(tableKey(t))),
          })),
          sequences: selection?.sequences ?? [],
          safetyBackup,
          warnings,
          estimatedDurationMs: estimateRestoreDurationMs({
            archiveBytes: backup.sizeBytes ?? 0,
            dumpBytes: dumpSizeBytes,
            documentsBytes: request.options.documents ? (manifest.documents?.totalBytes ?? 0) : 0,
            safetyBackupBytes: safetyBackup ? state.sizeBytes : 0,
            mode: request.options.mode,
          }),
        };
      } finally {
        stopPulse();
        await rm(dir, { recursive: true, force: true });
      }
    },

    /** Removes the operation's scratch files from this worker. */
    async discardRestoreWorkDir(request: { operationId: string }): Promise<void> {
      await rm(operationDir(request.operationId), { recursive: true, force: true });
    },
  };
}
