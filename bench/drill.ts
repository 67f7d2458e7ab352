// The drill benchmark (issue #11): a Lifeboat restore drill of the benchmark database against a raw
// pg_restore of the same archive's dump into a fresh database, in the same run. The drill's restore time
// (fetch, unpack, restore: what it records as rtoSeconds) is compared; its checks' own time is apart.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { getBackup } from '../catalog/backups.ts';
import { findDrill } from '../catalog/drills.ts';
import { createSecretBox } from '../catalog/secret-box.ts';
import { updateSettings } from '../catalog/settings.ts';
import { closedAccessPolicy } from '../domain/access-policy.ts';
import { startDrill } from '../services/drills.ts';
import { createStorageRegistry } from '../storage/registry.ts';
import { ensureBenchDatabase } from './lib/data.ts';
import { extractDumpByHand } from './lib/dump-by-hand.ts';
import { timeLifeboatBackup } from './lib/lifeboat.ts';
import * as measure from './lib/measure.ts';
import { parseOptions, wholeNumbers } from './lib/options.ts';
import { log, writeResults } from './lib/results.ts';
import { ratios, runRounds, summarize } from './lib/rounds.ts';
import * as bench from './lib/stack.ts';

const labels = {
  raw: 'raw pg_restore -j2 -d into a fresh database',
  drill: "Lifeboat drill, the backup's first (fetch, unpack, restore while counting the dump's rows, checks)",
  'drill-again': 'Lifeboat drill of a backup drilled before (its row counts kept)',
};
const contenders = Object.keys(labels) as (keyof typeof labels)[];
const options = parseOptions('drill', {
  contenders,
  baseline: 'raw',
  runs: 3,
  options: { 'size-mb': '1100' },
});
const sizeMb = wholeNumbers(options.values['size-mb'], 'size-mb', 16)[0]!;
const rawDatabase = 'bench_drill_raw';

await bench.withBenchStack(async (stack) => {
  const { cluster, db, client } = stack;
  const drop = (name: string) => bench.adminQuery(cluster, `drop database if exists ${name} with (force)`);
  const settle = async () => {
    await bench.adminQuery(cluster, 'checkpoint');
    execFileSync('sync');
  };
  const database = await ensureBenchDatabase(cluster, sizeMb);
  const source = await bench.createBenchTarget(stack, { database: database.name });
  // The drill server: a target on the same cluster (the scratch databases go beside the others).
  await drop('bench_drill_host');
  await bench.adminQuery(cluster, 'create database bench_drill_host');
  const server = await bench.createBenchTarget(stack, {
    name: 'bench-drill-server',
    database: 'bench_drill_host',
  });
  await updateSettings(
    db,
    { drills: { server: server.name, afterBackup: false } },
    { updatedBy: 'bench', approvalChangeDelayMs: 0 },
  );
  const worker = await bench.startWorker(stack, 'drill');
  stack.cleanup(() => drop(rawDatabase));

  log(`backing up ${database.name} with Lifeboat…`);
  const backup = await timeLifeboatBackup(stack, worker, source, true);
  const { storageKey, manifest } = await getBackup(db, backup.backupId);
  const dumpDir = path.join(bench.runDir, 'drill-dump');
  mkdirSync(dumpDir, { recursive: true });
  const pgRestore = path.join(cluster.binDir, 'pg_restore');
  const { port, superuser: username, password } = cluster;
  const env = { PATH: process.env.PATH, PGHOST: '127.0.0.1', PGPORT: String(port), PGUSER: username };
  Object.assign(env, { PGPASSWORD: password, PGCLIENTENCODING: 'UTF8' });

  /** What a person proving the backup by hand does: unpack the archive, pg_restore -j2 into a fresh database. */
  const raw = async () => {
    const startedMs = performance.now();
    await rm(dumpDir, { recursive: true, force: true });
    mkdirSync(dumpDir, { recursive: true });
    const { dumpFile } = extractDumpByHand(path.join(bench.storageDir, storageKey!), manifest!, dumpDir);
    const unpackMs = performance.now() - startedMs;
    await bench.adminQuery(cluster, `create database ${rawDatabase} template template0`);
    const args = ['--jobs=2', '--no-owner', '--no-privileges', '--exit-on-error', '--no-password'];
    const restoreMs = await measure.timeProcess(
      pgRestore,
      [...args, `--dbname=${rawDatabase}`, dumpFile],
      env,
    );
    return { ms: performance.now() - startedMs, unpackMs, restoreMs };
  };

  const storages = createStorageRegistry(`file://${bench.storageDir}`, () => undefined);
  stack.cleanup(() => storages.closeAll());
  const services = {
    ...{ db, secrets: createSecretBox(stack.secretKey), storages, temporal: client },
    ...{
      storage: storages.open(storages.defaultUrl),
      taskQueue: worker.taskQueue,
      access: closedAccessPolicy(),
    },
  };
  /** A drill started as the API starts one, waited for; its restore time and checks from its record. */
  const drill = async () => {
    measure.resetPeakRss(worker.pid);
    const startedMs = performance.now();
    const started = await startDrill(services, backup.backupId, `bench-${randomUUID()}`);
    await client.workflow.getHandle(started.workflowId).result();
    const ms = performance.now() - startedMs;
    const record = await findDrill(db, started.drillId);
    if (record?.status !== 'passed')
      throw new Error(`the drill ended ${record?.status}: ${record?.errorMessage}`);
    return {
      ms,
      rtoMs: (record.rtoSeconds ?? NaN) * 1000,
      checksMs: (record.checksSeconds ?? NaN) * 1000,
      checks: record.checks.map((check) => ({
        name: check.label ?? check.name,
        status: check.status,
        ms: check.durationMs,
      })),
      workerPeakRssBytes: measure.readStatusBytes(worker.pid, 'VmHWM') ?? NaN,
    };
  };

  // Once, untimed: the backup's row counts are then in the catalog for the drills of a drilled backup.
  if (options.contenders.includes('drill-again')) await drill();
  const rounds = await runRounds(options.contenders, options.runs, async (contender) => {
    await drop(rawDatabase);
    await settle();
    // The first drill of a backup counts its dump's rows; later ones find them in the catalog.
    if (contender === 'drill')
      await db.query('delete from dump_row_counts where backup_id = $1', [backup.backupId]);
    const measured = contender === 'raw' ? await raw() : await drill();
    await drop(rawDatabase);
    return measured;
  });
  const endToEnd = ratios(rounds, 'raw', 'ms');
  const restoreTime = options.contenders.includes('drill') ? ratios(rounds, 'raw', 'rtoMs', 'ms') : {};
  for (const [contender, ratio] of Object.entries(endToEnd)) {
    log(`${labels[contender as keyof typeof labels]}: end to end ${ratio.ofMedians.toFixed(3)}× raw`);
  }
  if (restoreTime.drill)
    log(`drill restore time (rtoSeconds): ${restoreTime.drill.ofMedians.toFixed(3)}× raw`);
  writeResults(options.outFile, {
    ...{ bench: 'drill', command: options.command, machine: stack.machine, labels, database },
    parameters: { runs: options.runs, sizeMb, clusterFsync: bench.clusterFsync, goalRatio: 1.3 },
    backup: { ms: backup.ms, archiveBytes: backup.archiveBytes },
    ...{ rounds, summary: summarize(rounds, options.contenders) },
    ratios: { endToEnd, restoreTime },
  });
});
