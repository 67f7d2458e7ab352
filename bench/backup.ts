// The backup benchmark: raw pg_dump -Fc, pg_dump | gzip, pg_dump -Fc -Z0 | zstd -3, the floor pg_dump -Fc -Z0
// -f /dev/null and a Lifeboat backup of the same generated databases (their attachments are random bytea) at
// one or more sizes (--size-mb 300,1100), with the target's --compression, and the worker's peak RSS.
// Ratios: every contender over raw; Lifeboat over `| zstd -3` (issue #12's goal ≤ 1.25×), and Lifeboat's
// own pg_dump time (catalog dump_ms) over the floor's (goal ≤ 1.05×).
import { execFileSync } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { compressions, type Compression } from '../domain/naming.ts';
import { ensureBenchDatabase, warmPageCache } from './lib/data.ts';
import { timeLifeboatBackup } from './lib/lifeboat.ts';
import { timeProcess } from './lib/measure.ts';
import { parseOptions, wholeNumbers } from './lib/options.ts';
import { writeResults } from './lib/results.ts';
import { ratios, runRounds, summarize } from './lib/rounds.ts';
import { clusterFsync, createBenchTarget, runDir, startWorker, withBenchStack } from './lib/stack.ts';

const [contenders, own] = [
  ['raw', 'gzip', 'zstd', 'floor', 'lifeboat'],
  { 'size-mb': '300,1100', compression: '' },
] as const;
const options = parseOptions('backup', { contenders, baseline: 'raw', runs: 3, options: own });
const sizesMb = wholeNumbers(options.values['size-mb'], 'size-mb', 16);
/** The benchmark target's archive compression; the product's default when not given. */
const compression = (options.values.compression || undefined) as Compression | undefined;
if (compression && !compressions.includes(compression))
  throw new Error(`--compression: ${compressions.join()}`);

await withBenchStack(async (stack) => {
  const { cluster } = stack;
  const { binDir, port, superuser, password } = cluster;
  const [pgDump, env] = [path.join(binDir, 'pg_dump'), { PATH: process.env.PATH, PGPASSWORD: password }];
  const connection = ['--no-password', '--host=127.0.0.1', `--port=${port}`, `--username=${superuser}`];
  const [dumpDir, sizes] = [path.join(runDir, 'dumps'), [] as object[]];
  mkdirSync(dumpDir, { recursive: true });
  for (const sizeMb of sizesMb) {
    const database = await ensureBenchDatabase(cluster, sizeMb);
    const target = await createBenchTarget(stack, { database: database.name, compression });
    const worker = await startWorker(stack, `${sizeMb}mb`);
    await warmPageCache(cluster, database.name);
    const [file, args] = [path.join(dumpDir, database.name), [...connection, `--dbname=${database.name}`]];
    /** Times `program`, takes the size of the file it wrote and removes it: the benchmark keeps no dumps. */
    const dump = async (program: string, argv: string[], extraEnv = {}) => {
      const ms = await timeProcess(program, argv, { ...env, ...extraEnv });
      const fileBytes = statSync(file).size;
      await rm(file);
      return { ms, fileBytes };
    };
    const rounds = await runRounds(options.contenders, options.runs, async (contender) => {
      execFileSync('sync');
      // pg_dump -Fc -f: what Lifeboat's dump step runs, without anything around it.
      if (contender === 'raw') return dump(pgDump, ['--format=custom', `--file=${file}`, ...args]);
      // Plain SQL compressed by gzip at its default level, in a second process.
      const gzip = ['-c', 'set -o pipefail; "$@" | gzip > "$BENCH_OUTPUT"', 'bash', pgDump, ...args];
      if (contender === 'gzip') return dump('bash', gzip, { BENCH_OUTPUT: file });
      // The user's own streaming backup: an uncompressed custom dump through zstd at its default level.
      const zstd = [
        '-c',
        'set -o pipefail; "$@" | zstd -q -3 > "$BENCH_OUTPUT"',
        'bash',
        pgDump,
        '-Fc',
        '-Z0',
      ];
      if (contender === 'zstd') return dump('bash', [...zstd, ...args], { BENCH_OUTPUT: file });
      // The floor: the same dump written nowhere, how long pg_dump holds the source's snapshot at best
      // (--no-sync: /dev/null cannot be fsynced, and Lifeboat's pipe is not either).
      if (contender === 'floor') {
        const floor = ['-Fc', '-Z0', '--no-sync', '-f', '/dev/null', ...args];
        return { ms: await timeProcess(pgDump, floor, env), fileBytes: 0 };
      }
      return timeLifeboatBackup(stack, worker, target);
    });
    await worker.stop();
    const [summary, workerBaselineRssBytes] = [
      summarize(rounds, options.contenders),
      worker.baselineRssBytes,
    ];
    sizes.push({
      sizeMb,
      database,
      workerBaselineRssBytes,
      rounds,
      summary,
      ratios: ratios(rounds, 'raw', 'ms'),
      ...(options.contenders.includes('zstd') ? { overZstd: ratios(rounds, 'zstd', 'ms') } : {}),
      // Only Lifeboat has a dumpMs: its pg_dump's own time over the floor's whole time.
      ...(options.contenders.includes('floor')
        ? { dumpOverFloor: ratios(rounds, 'floor', 'dumpMs', 'ms') }
        : {}),
    });
  }
  const parameters = { runs: options.runs, sizesMb, compression: compression ?? 'default', clusterFsync };
  const { command, outFile } = options;
  writeResults(outFile, { bench: 'backup', command, machine: stack.machine, parameters, sizes });
});
