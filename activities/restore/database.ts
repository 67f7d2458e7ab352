// The destination database: restored from the extracted archive in one transaction, or created and dropped.
import { Context } from '@temporalio/activity';
import { mkdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { LifeboatError } from '../../domain/errors.ts';
import { restoreAttemptDetails, type RestoreAttemptDetails } from '../../domain/restore/failure.ts';
import { qualifiedName, type RestoreDestination, type RestoreOptions } from '../../domain/restore/options.ts';
import { planRestore } from '../../domain/restore/plan.ts';
import {
  restorePercent,
  type RestoreProgressUpdate,
  type RestoreStep,
} from '../../domain/restore/progress.ts';
import { checkRestoredSql } from '../../domain/restore/sql.ts';
import type { ExpectedTable } from '../../domain/restore/verify.ts';
import { findRestoreTools } from '../../postgres/binaries.ts';
import { createMarkedDatabase, dropMarkedDatabase, type MarkedDatabase } from '../../postgres/databases.ts';
import { inspectDestination } from '../../postgres/inspect.ts';
import { readToc, runRestore } from '../../postgres/pg-restore.ts';
import { runParallelRestore } from '../../postgres/pg-restore-parallel.ts';
import { getBackup } from '../../catalog/backups.ts';
import { findDumpRowCounts, saveDumpRowCounts } from '../../catalog/dump-row-counts.ts';
import { withClient } from '../../postgres/client.ts';
import { endDestinationSessions, terminateSessions } from '../../postgres/sessions.ts';
import { restoreProgressSignal } from '../../workflows/restore-messages.ts';
import type { ActivityDeps } from '../deps.ts';
import { startPulse } from '../pulse.ts';
import { destinationAccess, operationDir, operationIdentities } from './access.ts';
import { dumpFileOf, restoreHolder, type ArchiveCache } from './archive-cache.ts';

export interface RestoreDatabaseRequest {
  operationId: string;
  workflowId: string;
  backupId: string;
  destination: RestoreDestination;
  options: RestoreOptions;
  /** `rollback` restores the safety backup after a failure: progress goes to the rollback step. */
  purpose: 'restore' | 'rollback';
  /**
   * A restore by swap: the empty database beside the destination that the dump is restored into, with
   * pg_restore's parallel jobs, instead of the destination itself in one transaction.
   */
  incoming?: string | undefined;
}

export interface RestoredDatabase {
  /** Every table the restore wrote, with the rows the dump carried (null: none expected). */
  expected: ExpectedTable[];
  bytes: number;
  durationMs: number;
  pgRestoreVersion: string;
}

interface CreatedDatabaseRequest {
  operationId: string;
  destination: RestoreDestination;
}

/** pg_restore's parallel jobs in a restore by swap: one per core, at most 4 (the server does the work). */
const restoreJobs = () => Math.max(1, Math.min(4, availableParallelism()));

export function createDatabaseRestoreActivities(deps: ActivityDeps, archives: ArchiveCache) {
  /** The database a restore into a new database creates, marked with a comment naming the operation. */
  async function createdDatabase(request: CreatedDatabaseRequest): Promise<MarkedDatabase> {
    const { target, password } = await destinationAccess(deps, request.destination);
    const name = request.destination.database;
    return {
      connection: target.connection,
      password,
      name,
      marker: `lifeboat restore ${request.operationId}`,
    };
  }

  return {
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
      // Bytes of SQL relayed in one transaction; entries of the table of contents done in a parallel restore.
      let bytes = 0;
      let dumpBytes = 1;
      let currentTable: string | null = null;
      const stopPulse = startPulse(
        deps,
        request.workflowId,
        restoreProgressSignal,
        (): RestoreProgressUpdate => ({
          step,
          bytes,
          currentTable,
          percent:
            step === 'rollback'
              ? Math.min(99, Math.round((100 * bytes) / dumpBytes))
              : restorePercent(step, Math.min(0.99, bytes / dumpBytes)),
        }),
        { restoreId: request.operationId },
      );
      try {
        const { target, password, connection } = await destinationAccess(deps, request.destination);
        const applicationName = `lifeboat-restore-${request.operationId}`;
        const dir = path.join(operationDir(deps, request.operationId), request.backupId);
        await mkdir(dir, { recursive: true, mode: 0o700 });
        const { archive } = await archives.hold({
          backupId: request.backupId,
          holder: restoreHolder(request.operationId),
          identities: operationIdentities(deps, request.operationId),
        });
        // The archive is shared; pg_restore reads it through a link in the operation's own directory, so that
        // its command line names the restore it serves.
        const dumpFile = path.join(dir, 'dump');
        await rm(dumpFile, { force: true });
        await symlink(dumpFileOf(archive), dumpFile);
        dumpBytes = Math.max(1, (await stat(dumpFile)).size);
        const into = request.incoming ?? request.destination.database;
        const state = await inspectDestination(target.connection, into, password, []);
        if (!state.exists) {
          throw new LifeboatError('NOT_FOUND', `Database "${into}" does not exist.`);
        }
        if (!request.incoming) {
          await endDestinationSessions(connection, password, applicationName, options.terminateConnections);
        }
        const tools = await findRestoreTools(
          deps.pgBinDirs,
          state.serverVersionNum,
          archive.manifest.pgDump.version,
        );
        const toc = await readToc(tools.pgRestore, dumpFile, dir);
        const listFile = path.join(dir, 'selected.list');
        const plan = planRestore(options, toc, state.tables, listFile);
        if (plan.unknown.length) {
          throw new LifeboatError(
            'VALIDATION_FAILED',
            `The backup has no table ${plan.unknown.map(qualifiedName).join(', ')}.`,
          );
        }
        if (plan.listIds) {
          await writeFile(listFile, plan.listIds.map((id) => `${id};\n`).join(''), { mode: 0o600 });
        }
        let expected: ExpectedTable[] = [];
        let sqlBytes = (await stat(dumpFile)).size;
        if (request.incoming) {
          dumpBytes = Math.max(1, toc.entries.length + toc.dataEntries.length);
          const incoming = { ...connection, database: request.incoming };
          // An earlier attempt's pg_restore may have left sessions and half a database: both go first.
          await withClient(incoming, password, 'lifeboat-restore-cleanup', async (client) => {
            await terminateSessions(client, applicationName);
            await client.query(plan.prelude);
          });
          const sha256 = (await getBackup(deps.db, request.backupId)).sha256 ?? '';
          const knownCounts = await findDumpRowCounts(deps.db, request.backupId, sha256);
          const run = await runParallelRestore({
            tools,
            dumpFile,
            selectArgs: plan.selectArgs,
            jobs: restoreJobs(),
            knownCounts,
            connection: incoming,
            password,
            applicationName,
            entries: dumpBytes,
            signal: context.cancellationSignal,
            onProgress: (done, table) => {
              bytes = done;
              currentTable = table ? qualifiedName(table) : null;
            },
          });
          expected = plan.expected(run.counted);
          if (!knownCounts) await saveDumpRowCounts(deps.db, request.backupId, sha256, run.counted);
        } else {
          const run = await runRestore({
            tools,
            dumpFile,
            selectArgs: plan.selectArgs,
            connection,
            password,
            applicationName,
            prelude: plan.prelude,
            epilogue: (counted) => {
              expected = plan.expected(counted);
              return checkRestoredSql(expected);
            },
            signal: context.cancellationSignal,
            onProgress: (total, table) => {
              bytes = total;
              currentTable = table ? qualifiedName(table) : null;
            },
          });
          sqlBytes = run.bytes;
        }
        return {
          expected,
          bytes: sqlBytes,
          durationMs: Date.now() - startedMs,
          pgRestoreVersion: tools.version,
        };
      } catch (error) {
        if (error instanceof LifeboatError && restoreAttemptDetails(error.details).rolledBack) {
          const attempt: RestoreAttemptDetails = { attempt: context.info.attempt };
          throw new LifeboatError(error.code, error.message, { ...error.details, ...attempt });
        }
        throw error;
      } finally {
        stopPulse();
      }
    },

    /**
     * Creates the new database a restore goes into, from template0 and marked with a comment naming the
     * operation, so that a retry recognises its own database and a rollback drops only that one.
     */
    async createRestoreDatabase(request: CreatedDatabaseRequest): Promise<void> {
      await createMarkedDatabase(await createdDatabase(request));
    },

    /** Drops a database this operation created (and nothing else), ending its sessions. */
    async dropRestoreDatabase(request: CreatedDatabaseRequest): Promise<boolean> {
      return dropMarkedDatabase(await createdDatabase(request));
    },
  };
}
