// The storage benchmark (issue #5): Lifeboat backups to local disk and to an S3 server, plain and age-encrypted,
// zstd against gzip, in the same run, then age's own speed.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { encryptStream, generateIdentity } from '../archive/encryption.ts';
import type { Target } from '../catalog/targets.ts';
import { freePort, waitForPort } from '../stack/ports.ts';
import { ensureBenchDatabase } from './lib/data.ts';
import { timeLifeboatBackup } from './lib/lifeboat.ts';
import { randomStream } from './lib/measure.ts';
import { parseOptions, wholeNumbers } from './lib/options.ts';
import { benchRoot, log, writeResults } from './lib/results.ts';
import { median, ratios, runRounds, summarize } from './lib/rounds.ts';
import * as bench from './lib/stack.ts';

/** The targets differ only in destination, compression and encryption; local is the worker's default storage. */
const contenders = {
  'local-zstd': { label: 'local disk, zstd (baseline)', s3: false, compression: 'zstd', age: false },
  's3-zstd': { label: 'S3, zstd', s3: true, compression: 'zstd', age: false },
  's3-zstd-age': { label: 'S3, zstd + age', s3: true, compression: 'zstd', age: true },
  'local-gzip': { label: 'local disk, gzip', s3: false, compression: 'gzip', age: false },
  'local-zstd-age': { label: 'local disk, zstd + age', s3: false, compression: 'zstd', age: true },
} as const;
type Contender = keyof typeof contenders;
const ids = Object.keys(contenders) as Contender[];
const options = parseOptions('storage', {
  contenders: ids,
  baseline: 'local-zstd',
  runs: 3,
  options: { 'size-mb': '300' },
});
const sizeMb = wholeNumbers(options.values['size-mb'], 'size-mb', 16)[0]!;
const [bucket, prefix] = ['lifeboat-bench', 'backups'];

await bench.withBenchStack(async (stack) => {
  // `rclone serve s3` on loopback, as the tests run it; the key pair goes into this process's environment,
  // under the names the storage URL gives, for the worker to inherit.
  const rclone = path.resolve(benchRoot, '..', '.tools', 'rclone', 'bin', 'rclone');
  const s3Dir = path.join(bench.runDir, 's3');
  mkdirSync(path.join(s3Dir, bucket), { recursive: true });
  const [port, rcloneLog] = [await freePort(), openSync(path.join(bench.runDir, 'rclone.log'), 'a')];
  const keys = [
    `LBBENCH${randomBytes(7).toString('hex').toUpperCase()}`,
    randomBytes(30).toString('base64url'),
  ];
  [process.env.LIFEBOAT_BENCH_S3_KEY_ID, process.env.LIFEBOAT_BENCH_S3_SECRET] = keys;
  const server = spawn(rclone, ['serve', 's3', '--addr', `127.0.0.1:${port}`, s3Dir], {
    stdio: ['ignore', rcloneLog, rcloneLog],
    env: { ...process.env, RCLONE_AUTH_KEY: `"${keys.join(',')}"`, RCLONE_CONFIG: '' },
  });
  stack.cleanup(() => bench.stopChild(server));
  await waitForPort(port, 15_000);
  const query = `endpoint=http://127.0.0.1:${port}&accessKeyIdEnv=LIFEBOAT_BENCH_S3_KEY_ID`;
  const s3Url = `s3://${bucket}/${prefix}?${query}&secretAccessKeyEnv=LIFEBOAT_BENCH_S3_SECRET`;

  const database = await ensureBenchDatabase(stack.cluster, sizeMb);
  const { recipient } = await generateIdentity();
  const targets = {} as Record<Contender, Target>;
  for (const id of new Set<Contender>([...options.contenders, 's3-zstd-age'])) {
    const { s3, compression, age } = contenders[id];
    targets[id] = await bench.createBenchTarget(stack, {
      ...{ name: `${database.name.replace(/_/g, '-')}-${id}`, database: database.name, compression },
      ...{ destinations: s3 ? [s3Url] : undefined, encryption: age ? { recipients: [recipient] } : null },
    });
  }
  const worker = await bench.startWorker(stack, 'storage');
  const backup = async (id: Contender) => {
    execFileSync('sync');
    const measured = await timeLifeboatBackup(stack, worker, targets[id]);
    // timeLifeboatBackup removes local archives; the S3 ones are removed from the server's disk.
    await rm(path.join(s3Dir, bucket, prefix), { recursive: true, force: true });
    return measured;
  };
  log('warm-up backup (not counted)…');
  const warmUp = await backup('s3-zstd-age');
  const rounds = await runRounds(options.contenders, options.runs, backup);
  const summary = summarize(rounds, options.contenders);

  // age on its own: encryptStream over incompressible data the size of the baseline's archive, three times.
  const [archiveBytes, rates] = [summary['local-zstd'].median.archiveBytes!, [] as number[]];
  for (let attempt = 0; attempt < 3 && options.contenders.some((id) => contenders[id].age); attempt++) {
    const [startedMs, sink] = [
      performance.now(),
      new Writable({ write: (_chunk, _encoding, done) => done() }),
    ];
    await pipeline(randomStream(archiveBytes, 1024 * 1024), encryptStream([recipient]), sink);
    rates.push(archiveBytes / 2 ** 20 / ((performance.now() - startedMs) / 1000));
  }
  const rcloneVersion = execFileSync(rclone, ['version'], { encoding: 'utf8' }).split('\n')[0];
  const { runs, command, outFile } = options;
  writeResults(outFile, {
    ...{ bench: 'storage', command, machine: stack.machine, database },
    labels: Object.fromEntries(ids.map((id) => [id, contenders[id].label])),
    parameters: {
      runs,
      sizeMb,
      clusterFsync: bench.clusterFsync,
      s3: `${bucket}/${prefix}`,
      server: rcloneVersion,
    },
    ...{ workerBaselineRssBytes: worker.baselineRssBytes, warmUpMs: warmUp.ms, ageMiBps: median(rates) },
    ...{ rounds, summary, ratios: ratios(rounds, 'local-zstd', 'ms') },
  });
});
