// Restore drills: the plan (drill server, copy, room), the drill itself (fetch, restore into a scratch
// database, every check, the measured restore time), its record, and the scratch databases dropped.
import { Context } from '@temporalio/activity';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, statfs } from 'node:fs/promises';
import path from 'node:path';
import { readIdentityFile } from '../archive/identity-file.ts';
import { getBackup, listBackupCopies } from '../catalog/backups.ts';
import {
  claimDrillSlot,
  finishDrill,
  findDrill,
  lastDrilledCopies,
  markCopyBroken,
  unfinishedDrillIds,
} from '../catalog/drills.ts';
import { findDumpRowCounts, saveDumpRowCounts } from '../catalog/dump-row-counts.ts';
import { drillServerOf, getSettings } from '../catalog/settings.ts';
import { getTarget, targetPassword } from '../catalog/targets.ts';
import {
  chooseCopy,
  drillDatabaseName,
  drillDatabasePrefix,
  drillMarker,
  drillServerProblem,
  estimateShortfalls,
  evaluateAssertion,
  missingObjects,
  type DrillAssertion,
  type DrillCheck,
  type DrillEnding,
  type DrillResult,
  type SchemaObject,
} from '../domain/drill/checks.ts';
import { LifeboatError } from '../domain/errors.ts';
import { planRestore } from '../domain/restore/plan.ts';
import { verifyRestoredTables } from '../domain/restore/verify.ts';
import type { TargetConnection } from '../domain/target.ts';
import { findRestoreTools } from '../postgres/binaries.ts';
import { libpqEnv, withClient } from '../postgres/client.ts';
import { createMarkedDatabase, dropMarkedDatabase } from '../postgres/databases.ts';
import { countTables } from '../postgres/inspect.ts';
import { countDumpRows, runParallelRestore } from '../postgres/pg-restore-parallel.ts';
import { readToc, spawnedChild } from '../postgres/pg-restore.ts';
import { schemaObjectsSql } from '../postgres/schema-objects.ts';
import { drillProgressSignal, type DrillProgress } from '../workflows/drill-messages.ts';
import { drillServerSet, recordDrillRequest, type RequestedDrill } from '../services/drills.ts';
import type { ActivityDeps } from './deps.ts';
import { startPulse } from './pulse.ts';
import { dumpFileOf, fetchAndExtract } from './restore/archive-cache.ts';
import { checkId } from './restore/access.ts';

export interface DrillPlan {
  drillId: string;
  workflowId: string;
  backupId: string;
  backupStartedAt: string;
  targetName: string;
  serverTargetId: string;
  storageUrl: string;
  scratchDatabase: string;
  concurrency: number;
  assertions: DrillAssertion[];
}

/** Room a restore needs beyond the database's own size: indexes are built and WAL written while it loads. */
const spaceMargin = 1.2;

async function serverVersionNum(connection: TargetConnection, password: string | undefined): Promise<number> {
  return withClient(connection, password, 'lifeboat-drill', async (client) => {
    const { rows } = await client.query<{ v: string }>(`select current_setting('server_version_num') as v`);
    return Number(rows[0]?.v ?? 0);
  });
}

/** Free bytes where the server keeps its data, when it is on this machine and the role may say where. */
async function serverFreeBytes(
  connection: TargetConnection,
  password: string | undefined,
): Promise<number | null> {
  if (!['localhost', '127.0.0.1', '::1'].includes(connection.host) && !connection.host.startsWith('/'))
    return null;
  try {
    const dir = await withClient(connection, password, 'lifeboat-drill', async (client) => {
      const { rows } = await client.query<{ dir: string }>(`select current_setting('data_directory') as dir`);
      return rows[0]?.dir;
    });
    if (!dir) return null;
    const stats = await statfs(dir);
    return Number(stats.bavail) * Number(stats.bsize);
  } catch {
    return null;
  }
}

/** pg_amcheck on the restored database, where the client has it and the role may install amcheck. */
async function amcheck(
  pgRestore: string,
  connection: TargetConnection,
  password: string | undefined,
  database: string,
): Promise<Omit<DrillCheck, 'durationMs'>> {
  const binary = path.join(path.dirname(pgRestore), 'pg_amcheck');
  if (!existsSync(binary)) {
    return { name: 'amcheck', status: 'skipped', detail: 'pg_amcheck is not installed beside pg_restore.' };
  }
  const child = spawn(binary, ['--install-missing', '--no-password', `--database=${database}`], {
    env: libpqEnv({ ...connection, database }, password, 'lifeboat-drill-amcheck'),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-4_096);
  });
  const finished = await spawnedChild(child);
  const said = `${output}\n${finished.stderr}`.trim().split('\n').slice(-4).join(' ');
  if (finished.code === 0) {
    return { name: 'amcheck', status: 'passed', detail: 'B-tree indexes and heap checked: no corruption.' };
  }
  if (
    /permission denied|must be superuser|could not open extension control file|does not exist/i.test(said)
  ) {
    return { name: 'amcheck', status: 'skipped', detail: `Not possible on the drill server: ${said}` };
  }
  return { name: 'amcheck', status: 'failed', detail: said || `pg_amcheck exited with ${finished.code}` };
}

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; durationMs: number }> {
  const startedMs = Date.now();
  const value = await work();
  return { value, durationMs: Date.now() - startedMs };
}

export function createDrillActivities(deps: ActivityDeps) {
  /** The drill server's connection and password, and the scratch database it drills in. */
  async function serverAccess(serverTargetId: string) {
    const server = await getTarget(deps.db, serverTargetId);
    const password = await targetPassword(deps.db, deps.secrets, server.id, deps.readEnv);
    return { server, password };
  }

  async function dropScratch(serverTargetId: string, drillId: string, name: string): Promise<boolean> {
    const { server, password } = await serverAccess(serverTargetId);
    return dropMarkedDatabase({
      connection: server.connection,
      password,
      name,
      marker: drillMarker(drillId),
    });
  }

  /** Drops the scratch databases of ended drills on one drill server; returns their names. */
  async function sweepServer(name: string, open: ReadonlySet<string>): Promise<string[]> {
    const target = await getTarget(deps.db, name).catch(() => undefined);
    if (!target) return [];
    const password = await targetPassword(deps.db, deps.secrets, target.id, deps.readEnv);
    const found = await withClient(
      target.connection,
      password,
      'lifeboat-drill-sweep',
      async (client) =>
        (
          await client.query<{ name: string; comment: string | null }>(
            `select datname as name, shobj_description(oid, 'pg_database') as comment from pg_database
            where starts_with(datname, $1)`,
            [drillDatabasePrefix],
          )
        ).rows,
    );
    const dropped: string[] = [];
    for (const database of found) {
      const id = /^lifeboat drill ([0-9a-f-]{36})$/.exec(database.comment ?? '')?.[1];
      if (!id || open.has(id)) continue;
      const marker = drillMarker(id);
      if (
        await dropMarkedDatabase({ connection: target.connection, password, name: database.name, marker })
      ) {
        dropped.push(database.name);
      }
    }
    return dropped;
  }

  return {
    /**
     * The drill's plan: the drill server (settings.drills, per target or global; CONFLICT when none is
     * set), the copy whose last drill is oldest, and checks that it can run at all: a server of the
     * backup's major version or newer (PG_VERSION_MISMATCH), room for the restored database on the
     * server and for the archive here (INSUFFICIENT_SPACE).
     */
    async prepareDrill(request: { drillId: string }): Promise<DrillPlan> {
      const drill = await findDrill(deps.db, checkId(request.drillId, 'drill id'));
      if (!drill) throw new LifeboatError('NOT_FOUND', `No drill ${request.drillId}.`);
      const backup = await getBackup(deps.db, drill.backupId);
      if (backup.status !== 'completed' || !backup.manifest) {
        throw new LifeboatError(
          'CONFLICT',
          `Backup ${backup.id} is ${backup.status}; only a completed backup is drilled.`,
        );
      }
      const settings = (await getSettings(deps.db)).drills;
      const serverName = drillServerOf(settings, backup.targetName);
      if (!serverName) {
        throw new LifeboatError(
          'CONFLICT',
          'No drill server is set: name a target whose server drills use in settings.drills.server.',
        );
      }
      const { server, password } = await serverAccess((await getTarget(deps.db, serverName)).id);
      const version = await serverVersionNum(server.connection, password);
      const problem = drillServerProblem(
        { name: server.name, versionNum: version },
        backup.manifest.database.serverVersionNum,
      );
      if (problem) throw new LifeboatError('PG_VERSION_MISMATCH', problem);
      const needed = Math.ceil(backup.manifest.database.sizeBytes * spaceMargin);
      const free = await serverFreeBytes(server.connection, password);
      if (free !== null && free < needed) {
        throw new LifeboatError(
          'INSUFFICIENT_SPACE',
          `The drill server has ${free} bytes free; restoring this backup needs about ${needed}.`,
        );
      }
      await mkdir(deps.workDir, { recursive: true });
      const local = await statfs(deps.workDir);
      const localFree = Number(local.bavail) * Number(local.bsize);
      const localNeeded =
        (backup.sizeBytes ?? 0) + backup.manifest.files.reduce((sum, f) => sum + f.sizeBytes, 0);
      if (localFree < localNeeded) {
        throw new LifeboatError(
          'INSUFFICIENT_SPACE',
          `The worker has ${localFree} bytes free in its scratch directory; the drill needs about ${localNeeded}.`,
        );
      }
      const copies = (await listBackupCopies(deps.db, backup.id)).filter(
        (copy) => copy.status === 'completed',
      );
      const storageUrl =
        chooseCopy(copies, await lastDrilledCopies(deps.db, backup.targetId)) ?? backup.storageUrl ?? '';
      return {
        drillId: drill.id,
        workflowId: drill.workflowId,
        backupId: backup.id,
        backupStartedAt: backup.startedAt,
        targetName: backup.targetName,
        serverTargetId: server.id,
        storageUrl,
        scratchDatabase: drillDatabaseName(drill.id),
        concurrency: settings.concurrency,
        assertions: settings.assertions.filter((assertion) => assertion.target === backup.targetName),
      };
    },

    /**
     * After a backup completed: records its drill when the settings drill backups after they complete,
     * name a drill server for its target, and the archive is within afterBackupMaxBytes; else null.
     */
    async requestDrillAfterBackup(request: { backupId: string }): Promise<RequestedDrill | null> {
      const backup = await getBackup(deps.db, checkId(request.backupId, 'backup id'));
      const { drills } = await getSettings(deps.db);
      if (!drills.afterBackup || backup.trigger === 'pre_restore') return null;
      if ((backup.sizeBytes ?? 0) > drills.afterBackupMaxBytes) return null;
      if (!(await drillServerSet(deps.db, backup.targetName))) return null;
      return recordDrillRequest(deps.db, backup, 'after_backup', null);
    },

    /**
     * The nightly schedule's drills: per target with a drill server, its newest completed backup unless
     * a drill of it finished in the last 20 hours, and on Sundays one older backup picked at random.
     */
    async planScheduledDrills(): Promise<RequestedDrill[]> {
      const { rows } = await deps.db.query<{
        id: string;
        target_name: string;
        newest: boolean;
        recent: boolean;
      }>(
        `select b.id, t.name as target_name,
                row_number() over (partition by b.target_id order by b.started_at desc) = 1 as newest,
                exists (select 1 from drills d where d.backup_id = b.id
                         and d.created_at > now() - interval '20 hours') as recent
           from backups b join targets t on t.id = b.target_id
          where b.status = 'completed' and b.trashed_at is null and b.trigger <> 'pre_restore'`,
      );
      const chosen: string[] = [];
      const sunday = new Date().getUTCDay() === 0;
      const byTarget = new Map<string, typeof rows>();
      for (const row of rows) byTarget.set(row.target_name, [...(byTarget.get(row.target_name) ?? []), row]);
      for (const [targetName, backups] of byTarget) {
        if (!(await drillServerSet(deps.db, targetName))) continue;
        const newest = backups.find((row) => row.newest);
        if (newest && !newest.recent) chosen.push(newest.id);
        const older = backups.filter((row) => !row.newest && !row.recent);
        if (sunday && older.length) chosen.push(older[Math.floor(Math.random() * older.length)]!.id);
      }
      const requested: RequestedDrill[] = [];
      for (const id of chosen) {
        requested.push(await recordDrillRequest(deps.db, await getBackup(deps.db, id), 'schedule', null));
      }
      return requested;
    },

    /** Takes a place on the drill server under its concurrency limit; false: wait and ask again. */
    async claimDrillSlot(request: { plan: DrillPlan }): Promise<boolean> {
      const { plan } = request;
      return claimDrillSlot(deps.db, {
        drillId: plan.drillId,
        serverTargetId: plan.serverTargetId,
        concurrency: plan.concurrency,
        storageUrl: plan.storageUrl,
        scratchDatabase: plan.scratchDatabase,
      });
    },

    /**
     * The drill: the copy fetched and checked (sha256, every file against the manifest), restored with
     * pg_restore -j into the scratch database, then rows, schema, amcheck, documents and the target's
     * assertions checked. A backup that fails a check is a result (its later checks skipped); a drill
     * that cannot run (the drill server unreachable, this worker killed) is an error and is retried.
     * The scratch database is dropped at the end, and first, in case an earlier attempt left it.
     */
    async runDrill(request: { plan: DrillPlan }): Promise<DrillResult> {
      const { plan } = request;
      const context = Context.current();
      const dir = path.join(deps.workDir, `drill-${checkId(plan.drillId, 'drill id')}`);
      let phase: DrillProgress['step'] = 'fetch';
      let fetchedBytes = 0;
      const stopPulse = startPulse(deps, plan.workflowId, drillProgressSignal, () => ({
        step: phase,
        bytes: fetchedBytes,
      }));
      const checks: DrillCheck[] = [];
      const skipRest = (from: DrillCheck['name'][], why: string) => {
        for (const name of from) checks.push({ name, status: 'skipped', detail: why, durationMs: 0 });
      };
      const { server, password } = await serverAccess(plan.serverTargetId);
      const scratch: TargetConnection = { ...server.connection, database: plan.scratchDatabase };
      const marker = drillMarker(plan.drillId);
      try {
        await rm(dir, { recursive: true, force: true });
        await mkdir(dir, { recursive: true, mode: 0o700 });
        await dropScratch(plan.serverTargetId, plan.drillId, plan.scratchDatabase);
        const backup = await getBackup(deps.db, plan.backupId);
        const startedMs = Date.now();
        let archive;
        try {
          archive = await fetchAndExtract(deps, backup, path.join(dir, 'archive'), {
            identities: () => readIdentityFile(deps.identityFile),
            onBytes: (bytes) => (fetchedBytes = bytes),
            copyUrl: plan.storageUrl || undefined,
          });
        } catch (error) {
          if (!(error instanceof LifeboatError) || error.code !== 'CHECKSUM_MISMATCH') throw error;
          checks.push({
            name: 'archive',
            status: 'failed',
            detail: error.message,
            durationMs: Date.now() - startedMs,
          });
          skipRest(
            ['pg_restore', 'row counts', 'schema', 'amcheck', 'documents'],
            'The archive did not check out.',
          );
          return { checks, rtoSeconds: null, checksSeconds: 0, peakBytes: null, brokenCopy: error.message };
        }
        checks.push({
          name: 'archive',
          status: 'passed',
          detail: `${archive.archiveBytes} bytes from ${plan.storageUrl}: sha256 and ${archive.manifest.files.length} files match.`,
          durationMs: Date.now() - startedMs,
        });
        phase = 'restore';
        const dumpFile = dumpFileOf(archive);
        const version = await serverVersionNum(server.connection, password);
        const tools = await findRestoreTools(deps.pgBinDirs, version, archive.manifest.pgDump.version);
        const toc = await readToc(tools.pgRestore, dumpFile, dir);
        await createMarkedDatabase({
          connection: server.connection,
          password,
          name: plan.scratchDatabase,
          marker,
        });
        const restoreStartedMs = Date.now();
        const plannedFull = planRestore(
          { mode: 'full', tables: [], documents: false, noOwner: true, terminateConnections: false },
          toc,
          [],
          path.join(dir, 'selected.list'),
        );
        // The dump's rows are counted after the restore, as part of the checks (unless counted before):
        // the restore time is that of the restore alone.
        const knownCounts = await findDumpRowCounts(deps.db, backup.id, backup.sha256 ?? '');
        try {
          await runParallelRestore({
            tools,
            dumpFile,
            selectArgs: plannedFull.selectArgs,
            jobs: 2,
            knownCounts: 'later',
            connection: scratch,
            password,
            applicationName: `lifeboat-drill-${plan.drillId}`,
            entries: toc.entries.length + toc.dataEntries.length,
            signal: context.cancellationSignal,
            onProgress: () => undefined,
          });
        } catch (error) {
          if (!(error instanceof LifeboatError) || error.code !== 'PG_RESTORE_FAILED') throw error;
          checks.push({
            name: 'pg_restore',
            status: 'failed',
            detail: error.message,
            durationMs: Date.now() - restoreStartedMs,
          });
          skipRest(['row counts', 'schema', 'amcheck', 'documents'], 'pg_restore failed.');
          return { checks, rtoSeconds: null, checksSeconds: 0, peakBytes: null, brokenCopy: null };
        }
        const rtoSeconds = (Date.now() - startedMs) / 1000;
        checks.push({
          name: 'pg_restore',
          status: 'passed',
          detail: `${toc.entries.length} entries restored with no error (pg_restore ${tools.version}).`,
          durationMs: Date.now() - restoreStartedMs,
        });
        phase = 'checks';
        const checksStartedMs = Date.now();
        const counting = await timed(async () =>
          knownCounts
            ? [...knownCounts]
            : countDumpRows({ tools, dumpFile, signal: context.cancellationSignal }),
        );
        const counted = counting.value;
        if (!knownCounts) await saveDumpRowCounts(deps.db, backup.id, backup.sha256 ?? '', counted);
        const expected = plannedFull.expected(counted);
        const rows = await timed(() => countTables(scratch, password, expected));
        const report = verifyRestoredTables('full', expected, rows.value, archive.manifest.tables);
        const shortfalls = estimateShortfalls(archive.manifest.tables, rows.value);
        const rowProblems = [...(report.ok ? [] : report.problems), ...shortfalls];
        checks.push({
          name: 'row counts',
          status: rowProblems.length ? 'failed' : 'passed',
          detail: rowProblems.length
            ? rowProblems.join('; ')
            : `${report.tables.length} tables hold exactly the rows of the dump, none far below its statistics at backup time.`,
          durationMs: counting.durationMs + rows.durationMs,
        });
        const schema = await timed(() =>
          withClient(
            scratch,
            password,
            'lifeboat-drill',
            async (client) => (await client.query<SchemaObject>(schemaObjectsSql)).rows,
          ),
        );
        const missing = missingObjects(toc.entries, schema.value);
        checks.push({
          name: 'schema',
          status: missing.length ? 'failed' : 'passed',
          detail: missing.length
            ? `Missing after the restore: ${missing.slice(0, 20).join(', ')}${missing.length > 20 ? ` and ${missing.length - 20} more` : ''}.`
            : 'Every schema, extension, table, view, sequence, index, constraint and function of the dump is there.',
          durationMs: schema.durationMs,
        });
        const checked = await timed(() =>
          amcheck(tools.pgRestore, server.connection, password, plan.scratchDatabase),
        );
        checks.push({ ...checked.value, durationMs: checked.durationMs });
        const documents = archive.manifest.documents;
        checks.push(
          documents && documents.fileCount > 0
            ? {
                name: 'documents',
                status: 'passed',
                detail: `${documents.fileCount} files (${documents.totalBytes} bytes) match the manifest's sha256.`,
                durationMs: 0,
              }
            : {
                name: 'documents',
                status: 'skipped',
                detail: 'The backup holds no documents.',
                durationMs: 0,
              },
        );
        for (const assertion of plan.assertions) {
          const ran = await timed(() => runAssertion(scratch, password, assertion, plan.backupStartedAt));
          checks.push({ name: 'assertion', label: assertion.name, ...ran.value, durationMs: ran.durationMs });
        }
        const size = await withClient(scratch, password, 'lifeboat-drill', async (client) =>
          Number(
            (await client.query<{ n: string }>('select pg_database_size(current_database()) as n')).rows[0]
              ?.n ?? 0,
          ),
        );
        return {
          checks,
          rtoSeconds,
          checksSeconds: (Date.now() - checksStartedMs) / 1000,
          peakBytes: size + archive.archiveBytes,
          brokenCopy: null,
        };
      } finally {
        stopPulse();
        await dropScratch(plan.serverTargetId, plan.drillId, plan.scratchDatabase).catch(() => undefined);
        await rm(dir, { recursive: true, force: true });
      }
    },

    /** Drops the drill's scratch database if it is still there; run in the drill's cleanup, whatever happened. */
    async dropDrillDatabase(request: { plan: DrillPlan }): Promise<boolean> {
      return dropScratch(request.plan.serverTargetId, request.plan.drillId, request.plan.scratchDatabase);
    },

    /** Records how the drill ended; a damaged copy is marked broken. */
    async recordDrillEnding(request: {
      drillId: string;
      ending: DrillEnding;
      brokenCopy?: { storageUrl: string; reason: string } | null;
    }) {
      const drill = await findDrill(deps.db, checkId(request.drillId, 'drill id'));
      if (!drill) return;
      if (request.brokenCopy) {
        await markCopyBroken(
          deps.db,
          drill.backupId,
          request.brokenCopy.storageUrl,
          request.brokenCopy.reason,
        );
      }
      await finishDrill(deps.db, drill.id, request.ending);
    },

    /**
     * Drops the `lifeboat_drill_*` databases that drills which have ended left on the drill servers (a
     * worker killed in its cleanup): only those marked as a drill's, and never one of a drill still open.
     */
    async sweepDrillDatabases(): Promise<{
      dropped: string[];
      failed: { server: string; message: string }[];
    }> {
      const settings = (await getSettings(deps.db)).drills;
      const servers = new Set(
        [settings.server, ...settings.servers.map((entry) => entry.server)].filter((name) => name !== null),
      );
      const open = await unfinishedDrillIds(deps.db);
      const dropped: string[] = [];
      const failed: { server: string; message: string }[] = [];
      // One drill server that cannot be reached (or read) does not keep the others from being swept.
      for (const name of servers) {
        try {
          dropped.push(...(await sweepServer(name, open)));
        } catch (error) {
          failed.push({ server: name, message: (error as Error).message });
        }
      }
      return { dropped, failed };
    },
  };
}

/** Runs one assertion in a read-only transaction on the scratch database, a minute at most. */
async function runAssertion(
  connection: TargetConnection,
  password: string | undefined,
  assertion: DrillAssertion,
  backupStartedAt: string,
): Promise<Pick<DrillCheck, 'status' | 'detail'>> {
  try {
    const returned = await withClient(connection, password, 'lifeboat-drill-assertion', async (client) => {
      await client.query('begin read only');
      await client.query(`set local statement_timeout = '60s'`);
      const { rows } = await client.query<Record<string, unknown>>(assertion.sql);
      await client.query('rollback');
      const first = rows[0];
      return first ? Object.values(first)[0] : null;
    });
    const { passed, detail } = evaluateAssertion(assertion, returned, backupStartedAt);
    return { status: passed ? 'passed' : 'failed', detail };
  } catch (error) {
    return { status: 'failed', detail: `The query failed: ${(error as Error).message}` };
  }
}
