// The restore benchmark (issue #4): a full restore of a Lifeboat backup through the API's services, against
// raw pg_restore of the same dump, with pg_restore | psql and runRestore alone to show where time goes.
import type { WorkflowHandle } from '@temporalio/client';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { getBackup } from '../catalog/backups.ts';
import { getRestoreOperation } from '../catalog/restores.ts';
import { createSecretBox } from '../catalog/secret-box.ts';
import { closedAccessPolicy } from '../domain/access-policy.ts';
import { checkRestoredSql, wipeDatabaseSql } from '../domain/restore/sql.ts';
import { swapNames } from '../domain/restore/swap.ts';
import { readToc, runRestore } from '../postgres/pg-restore.ts';
import { dropDatabaseByOid, swapBack, swapIn } from '../postgres/swap.ts';
import { previewRestore, startRestore, type RestoreRequestBody } from '../services/restores.ts';
import { createStorageRegistry } from '../storage/registry.ts';
import type { RestoreWorkflowResult } from '../workflows/restore.ts';
import { ensureBenchDatabase } from './lib/data.ts';
import { extractDumpByHand } from './lib/dump-by-hand.ts';
import { activityWindows, timeLifeboatBackup, windowMs } from './lib/lifeboat.ts';
import * as measure from './lib/measure.ts';
import { parseOptions, wholeNumbers } from './lib/options.ts';
import { log, writeResults } from './lib/results.ts';
import { ratios, runRounds, summarize } from './lib/rounds.ts';
import * as bench from './lib/stack.ts';

const labels = {
  raw: 'raw pg_restore -d',
  'raw-pipe': 'raw pg_restore -f - | psql',
  'run-restore': "Lifeboat's runRestore alone",
  'lifeboat-new': 'Lifeboat, into a new database',
  'lifeboat-target': 'Lifeboat, into an existing target, in place',
  'raw-j2': 'raw pg_restore -j2 -d',
  'lifeboat-swap': 'Lifeboat, into an existing target, by swap',
};
const contenders = Object.keys(labels) as (keyof typeof labels)[];
const sizeOption = { 'size-mb': '1100' };
const options = parseOptions('restore', { contenders, baseline: 'raw', runs: 3, options: sizeOption });
const sizeMb = wholeNumbers(options.values['size-mb'], 'size-mb', 16)[0]!;
/** Scratch databases on the bench cluster, dropped after each use; the target's stays between rounds. */
const [rawDatabase, newDatabase] = ['bench_restore_raw', 'bench_restore_new'];
const destDatabase = 'bench_restore_dest';
/** Lifeboat's flags for a full restore with noOwner; --exit-on-error does what ON_ERROR_STOP does in psql. */
const flags = ['--single-transaction', '--no-owner', '--no-privileges'];

await bench.withBenchStack(async (stack) => {
  const { cluster, db, client } = stack;
  const sql = (database: string, text: string) => bench.query(cluster.url(database), text);
  const drop = (name: string) => bench.adminQuery(cluster, `drop database if exists ${name} with (force)`);
  /** Before every measurement: dirty pages written out, so no contender pays for the one before it. */
  const settle = async () => {
    await bench.adminQuery(cluster, 'checkpoint');
    execFileSync('sync');
  };
  const database = await ensureBenchDatabase(cluster, sizeMb);
  const source = await bench.createBenchTarget(stack, { database: database.name });
  const dest = await bench.createBenchTarget(stack, { name: 'bench-restore-dest', database: destDatabase });
  const worker = await bench.startWorker(stack, 'restore');
  for (const name of [rawDatabase, newDatabase, destDatabase]) stack.cleanup(() => drop(name));

  log(`backing up ${database.name} with Lifeboat…`);
  const backup = await timeLifeboatBackup(stack, worker, source, true);
  const { storageKey, manifest } = await getBackup(db, backup.backupId);
  // The raw contenders restore the very dump that is inside the archive.
  const dumpDir = path.join(bench.runDir, 'dump');
  mkdirSync(dumpDir, { recursive: true });
  const archiveFile = path.join(bench.storageDir, storageKey!);
  const { dumpFile, dumpBytes } = extractDumpByHand(archiveFile, manifest!, dumpDir);
  // The client binaries Lifeboat picks for this server (its own major).
  const [pgRestore, psql] = [path.join(cluster.binDir, 'pg_restore'), path.join(cluster.binDir, 'psql')];
  const tools = { pgRestore, psql };
  const tocStartedMs = performance.now();
  await readToc(pgRestore, dumpFile, dumpDir);
  const tocMs = performance.now() - tocStartedMs;
  log(`copying ${database.name} into ${destDatabase}, the restore target's database…`);
  await drop(destDatabase);
  await bench.adminQuery(cluster, `create database ${destDatabase} template ${database.name}`);

  const { port, superuser: username, password } = cluster;
  const env = { PATH: process.env.PATH, PGHOST: '127.0.0.1', PGPORT: String(port), PGUSER: username };
  Object.assign(env, { PGPASSWORD: password, PGDATABASE: rawDatabase, PGCLIENTENCODING: 'UTF8' });
  /** pg_restore -d, as a person would run it, with the flags Lifeboat gives pg_restore. */
  const raw = async () => {
    const args = [...flags, '--exit-on-error', '--no-password', `--dbname=${rawDatabase}`, dumpFile];
    const ms = await measure.timeProcess(pgRestore, args, env);
    // count(*) of every table, untimed: the query Lifeboat runs in its transaction and in its verify step.
    const startedMs = performance.now();
    for (const { name } of database.tables) await sql(rawDatabase, `select count(*) from only app.${name}`);
    return { ms, countAllMs: performance.now() - startedMs };
  };
  /** pg_restore -f - | psql, stopping at the first error: Lifeboat's restore without Lifeboat. */
  const rawPipe = async () => {
    const into = '"$2" --no-psqlrc --quiet --no-password --set=ON_ERROR_STOP=1 --file=-';
    const script = ['-c', `set -o pipefail; "$1" --file=- "\${@:4}" "$3" | ${into}`, 'bash'];
    return { ms: await measure.timeProcess('bash', [...script, pgRestore, psql, dumpFile, ...flags], env) };
  };
  /** runRestore here, given what the restore step gives it in mode full: no worker, no Temporal. */
  const relay = async () => {
    const [cpuBefore, startedMs] = [process.cpuUsage(), performance.now()];
    const connection = { host: '127.0.0.1', port, database: rawDatabase, username };
    await runRestore({
      ...{ tools: { ...tools, version: 'bench' }, dumpFile, selectArgs: ['--no-owner', '--no-privileges'] },
      ...{ connection, password, applicationName: 'lifeboat-bench-run-restore', onProgress: () => undefined },
      ...{ prelude: wipeDatabaseSql(), epilogue: checkRestoredSql, signal: new AbortController().signal },
    });
    const cpu = process.cpuUsage(cpuBefore);
    return { ms: performance.now() - startedMs, cpuS: (cpu.user + cpu.system) / 1e6 };
  };

  // What the API process holds, for previewRestore and startRestore run in this process.
  const storages = createStorageRegistry(`file://${bench.storageDir}`, () => undefined);
  stack.cleanup(() => storages.closeAll());
  const [secrets, storage] = [createSecretBox(stack.secretKey), storages.open(storages.defaultUrl)];
  const services = {
    ...{ db, secrets, storage, storages, temporal: client, taskQueue: worker.taskQueue },
    access: closedAccessPolicy(),
  };
  const caller = { id: randomUUID(), name: 'bench', role: 'admin' as const, owner: 'bench' };
  /** Preview → confirmation token → restore, as the API's routes do; its steps from the run's history. */
  const lifeboat = async (
    destination: NonNullable<RestoreRequestBody['destination']>,
    method: RestoreRequestBody['method'] = 'in-place',
  ) => {
    const body = { mode: 'full', noOwner: true, destination, method } as const;
    const previewStartedMs = performance.now();
    const { confirmationToken } = await previewRestore(services, backup.backupId, body, caller);
    const previewMs = performance.now() - previewStartedMs;
    execFileSync('sync');
    measure.resetPeakRss(worker.pid);
    const [cpu, startedMs] = [measure.poll(() => measure.cpuSeconds(worker.pid), 200), performance.now()];
    const started = await startRestore(services, backup.backupId, { ...body, confirmationToken }, caller);
    const handle: WorkflowHandle = client.workflow.getHandle(started.workflowId);
    const result = (await handle.result()) as RestoreWorkflowResult;
    const [ms, cpuSamples] = [performance.now() - startedMs, cpu.stop()];
    const workerPeakRssBytes = measure.readStatusBytes(worker.pid, 'VmHWM') ?? NaN;
    const windows = await activityWindows(handle);
    const { steps } = await getRestoreOperation(db, started.operationId);
    const at = (status: string) => steps.find((s) => s.step === 'safety-backup' && s.status === status)?.at;
    const safetyBackupMs = Date.parse(at('completed') ?? '') - Date.parse(at('started') ?? '') || 0;
    const spans = ['prepareRestore', 'restoreDatabase', 'verifyRestore', 'swapInRestored'].map((name) =>
      windows.some((window) => window.name === name) ? windowMs(windows, name) : 0,
    );
    const [validateMs, restoreStepMs, verifyMs, swapMs] = spans as [number, number, number, number];
    const { startedAtMs, closedAtMs } = windows.find((window) => window.name === 'restoreDatabase')!;
    return {
      ...{ ms, previewMs, validateMs, restoreStepMs, verifyMs, safetyBackupMs, swapMs, workerPeakRssBytes },
      setAside: result.setAside?.database ?? null,
      /** restoreDatabase's own durationMs, as the workflow result reports it. */
      restoreDurationMs: result.durationsMs.database,
      /** Lock, new database, catalog records, finish, cleanup, Temporal's dispatch. */
      otherMs: ms - validateMs - restoreStepMs - verifyMs - safetyBackupMs - swapMs,
      /** The worker's Node process only, not pg_restore or psql. */
      workerCpuRestoreStepS: measure.growthBetween(cpuSamples, startedAtMs, closedAtMs),
    };
  };

  /**
   * What undoing a swap costs, whatever the size: a copy of the benchmark database swapped in for the
   * target's, then swapped back and dropped, each timed (the rollback after a failed check is the drop).
   */
  const timeSwapRollback = async () => {
    const connection = { host: '127.0.0.1', port, database: destDatabase, username };
    const names = swapNames(destDatabase, randomUUID());
    const [original] = await bench.query<{ oid: string }>(
      cluster.url('postgres'),
      `select oid::text as oid from pg_database where datname = '${destDatabase}'`,
    );
    await drop(names.incoming);
    await bench.adminQuery(cluster, `create database ${names.incoming} template ${database.name}`);
    const [incoming] = await bench.query<{ oid: string }>(
      cluster.url('postgres'),
      `select oid::text as oid from pg_database where datname = '${names.incoming}'`,
    );
    const request = { database: destDatabase, names, originalOid: original!.oid, incomingOid: incoming!.oid };
    const timed = async (work: () => Promise<unknown>) => {
      const startedMs = performance.now();
      await work();
      return performance.now() - startedMs;
    };
    const swapInMs = await timed(() =>
      swapIn(connection, password, { ...request, terminateConnections: true }),
    );
    const swapBackMs = await timed(() => swapBack(connection, password, request));
    const dropMs = await timed(() =>
      dropDatabaseByOid(connection, password, { oid: incoming!.oid, name: names.incoming }),
    );
    log(
      `swap in ${swapInMs.toFixed(0)} ms, swap back ${swapBackMs.toFixed(0)} ms, drop the copy ${dropMs.toFixed(0)} ms`,
    );
    return { databaseBytes: database.sizeBytes, swapInMs, swapBackMs, dropMs };
  };

  /** pg_restore -j2 -d, the parallel restore a person would run into a fresh database. */
  const rawParallel = async () => {
    const args = ['--jobs=2', '--no-owner', '--no-privileges', '--exit-on-error', '--no-password'];
    return { ms: await measure.timeProcess(pgRestore, [...args, `--dbname=${rawDatabase}`, dumpFile], env) };
  };

  const rounds = await runRounds(options.contenders, options.runs, async (contender) => {
    if (contender === 'lifeboat-swap') {
      await settle();
      const measured = await lifeboat({ target: dest.name }, 'swap');
      // The database set aside is the previous round's copy: dropped at once here, not kept for a day.
      if (measured.setAside) await drop(measured.setAside);
      await sql(destDatabase, 'vacuum (freeze, analyze)');
      return measured;
    }
    if (contender === 'lifeboat-target') {
      await settle();
      const measured = await lifeboat({ target: dest.name });
      // The safety backup's archive is not needed again; the destination is settled for the next round.
      await rm(path.join(bench.storageDir, dest.name), { recursive: true, force: true });
      await sql(destDatabase, 'vacuum (freeze, analyze)');
      return measured;
    }
    const scratch = contender === 'lifeboat-new' ? newDatabase : rawDatabase;
    await drop(scratch);
    const template = `create database ${scratch} template template0`;
    if (scratch === rawDatabase) await bench.adminQuery(cluster, template);
    await settle();
    const into = () => lifeboat({ database: scratch });
    const run = {
      raw,
      'raw-pipe': rawPipe,
      'run-restore': relay,
      'lifeboat-new': into,
      'raw-j2': rawParallel,
    }[contender];
    const measured = await run();
    await drop(scratch);
    return measured;
  });
  const endToEnd = ratios(rounds, 'raw', 'ms');
  const overParallel = options.contenders.includes('raw-j2') ? ratios(rounds, 'raw-j2', 'ms') : {};
  for (const [contender, ratio] of Object.entries(overParallel)) {
    log(
      `${labels[contender as keyof typeof labels]}: ${ratio.ofMedians.toFixed(3)}× raw pg_restore -j2 -d (ratio of medians)`,
    );
  }
  const rollback = await timeSwapRollback();
  writeResults(options.outFile, {
    ...{ bench: 'restore', command: options.command, machine: stack.machine, labels, database, tocMs },
    parameters: { runs: options.runs, sizeMb, clusterFsync: bench.clusterFsync, goalRatio: 1.15 },
    backup: { ms: backup.ms, archiveBytes: backup.archiveBytes, dumpBytes, formats: backup.formats },
    ...{ rounds, summary: summarize(rounds, options.contenders) },
    ratios: { endToEnd, restoreStep: ratios(rounds, 'raw', 'restoreStepMs', 'ms'), overParallel },
    rollback,
  });
});
