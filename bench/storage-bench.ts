// The storage benchmark (issue #5): one Lifeboat backup to local disk and to an S3 server, plain and
// age-encrypted, zstd against gzip, in the same run; prints a table and writes bench/RESULTS-storage.md.
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { Client, Connection } from '@temporalio/client';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { encryptStream, generateIdentity } from '../archive/encryption.ts';
import { createSecretBox } from '../catalog/secret-box.ts';
import { createTarget, type Target } from '../catalog/targets.ts';
import type { Compression } from '../domain/naming.ts';
import { resolveTargetInput } from '../domain/target.ts';
import { freePort, waitForPort } from '../stack/ports.ts';
import type { PostgresCluster } from '../stack/postgres-cluster.ts';
import { benchRoot, clusterFsync, runDir, startBenchStack } from './bench-stack.ts';
import { describeTables, ensureBenchDatabase, tableContents, type TableShare } from './generate-data.ts';
import { startWorkerProcess, timeLifeboatBackup, type LifeboatMeasurement } from './lifeboat-backup.ts';
import { codeVersion, machineFacts, type MachineFacts } from './machine.ts';
import { median } from './measure.ts';

const contenderIds = ['local-zstd', 's3-zstd', 's3-zstd-age', 'local-gzip', 'local-zstd-age'] as const;
type ContenderId = (typeof contenderIds)[number];
const baselineId: ContenderId = 'local-zstd';

interface ContenderSpec {
  id: ContenderId;
  label: string;
  storage: 'local' | 's3';
  compression: Compression;
  encrypted: boolean;
}

const contenderSpecs: Record<ContenderId, ContenderSpec> = {
  'local-zstd': {
    id: 'local-zstd',
    label: 'local disk, zstd (baseline)',
    storage: 'local',
    compression: 'zstd',
    encrypted: false,
  },
  's3-zstd': { id: 's3-zstd', label: 'S3, zstd', storage: 's3', compression: 'zstd', encrypted: false },
  's3-zstd-age': {
    id: 's3-zstd-age',
    label: 'S3, zstd + age',
    storage: 's3',
    compression: 'zstd',
    encrypted: true,
  },
  'local-gzip': {
    id: 'local-gzip',
    label: 'local disk, gzip',
    storage: 'local',
    compression: 'gzip',
    encrypted: false,
  },
  'local-zstd-age': {
    id: 'local-zstd-age',
    label: 'local disk, zstd + age',
    storage: 'local',
    compression: 'zstd',
    encrypted: true,
  },
};

interface Options {
  sizeMb: number;
  runs: number;
  contenders: ContenderId[];
  resultsFile: string;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      'size-mb': { type: 'string', default: '300' },
      runs: { type: 'string', default: '3' },
      contenders: { type: 'string', default: contenderIds.join(',') },
      results: { type: 'string', default: path.join(benchRoot, 'RESULTS-storage.md') },
    },
  });
  const sizeMb = Number(values['size-mb']);
  const runs = Number(values.runs);
  if (!Number.isInteger(sizeMb) || sizeMb < 16) {
    throw new Error(`--size-mb wants a whole number of MB, at least 16 (got "${values['size-mb']}")`);
  }
  if (!Number.isInteger(runs) || runs < 1)
    throw new Error(`--runs wants a whole number ≥ 1 (got "${values.runs}")`);
  const contenders = values.contenders.split(',').map((id) => id.trim()) as ContenderId[];
  const unknown = contenders.filter((id) => !contenderIds.includes(id));
  if (unknown.length || new Set(contenders).size !== contenders.length || !contenders.includes(baselineId)) {
    throw new Error(
      `--contenders wants distinct names from ${contenderIds.join(', ')}, including ${baselineId} ` +
        `(got "${values.contenders}")`,
    );
  }
  return { sizeMb, runs, contenders, resultsFile: path.resolve(values.results) };
}

function log(line: string): void {
  console.log(`bench: ${line}`);
}

// ---------------------------------------------------------------------------------------------------
// The S3 server

interface BenchS3Server {
  endpoint: string;
  dataDir: string;
  bucket: string;
  prefix: string;
  /** The s3:// storage URL, naming the environment variables that hold the key pair. */
  url: string;
  version: string;
  stop(): Promise<void>;
}

const rclonePath = path.resolve(benchRoot, '..', '.tools', 'rclone', 'bin', 'rclone');

/**
 * `rclone serve s3` on loopback over a directory of bench/out/run, as test/harness/s3-server.ts runs it
 * (that module registers vitest hooks when imported, so it cannot be loaded outside the test runner).
 * The key pair goes into this process's environment under the names the URL gives, for the worker.
 */
async function startS3Server(): Promise<BenchS3Server> {
  if (!existsSync(rclonePath)) throw new Error(`no rclone at ${rclonePath}; run scripts/setup.sh`);
  const dataDir = path.join(runDir, 's3');
  mkdirSync(dataDir, { recursive: true });
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const accessKeyId = `LBBENCH${randomBytes(7).toString('hex').toUpperCase()}`;
  const secretAccessKey = randomBytes(30).toString('base64url');
  const accessKeyIdEnv = 'LIFEBOAT_BENCH_S3_ACCESS_KEY_ID';
  const secretAccessKeyEnv = 'LIFEBOAT_BENCH_S3_SECRET_ACCESS_KEY';
  process.env[accessKeyIdEnv] = accessKeyId;
  process.env[secretAccessKeyEnv] = secretAccessKey;
  const logFile = path.join(runDir, 'rclone.log');
  const logFd = openSync(logFile, 'a');
  const child: ChildProcess = spawn(rclonePath, ['serve', 's3', '--addr', `127.0.0.1:${port}`, dataDir], {
    stdio: ['ignore', logFd, logFd],
    env: { ...process.env, RCLONE_AUTH_KEY: `"${accessKeyId},${secretAccessKey}"`, RCLONE_CONFIG: '' },
  });
  closeSync(logFd);
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await Promise.race([
      waitForPort(port, 15_000),
      exited.then(() => {
        throw new Error(`rclone serve s3 exited at start:\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
      }),
    ]);
    const bucket = 'lifeboat-bench';
    const s3 = new S3Client({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId, secretAccessKey },
    });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    s3.destroy();
    const prefix = 'backups';
    const query = new URLSearchParams({ endpoint, accessKeyIdEnv, secretAccessKeyEnv });
    const version = execFileSync(rclonePath, ['version'], { encoding: 'utf8' }).split('\n')[0]!.trim();
    return {
      endpoint,
      dataDir,
      bucket,
      prefix,
      url: `s3://${bucket}/${prefix}?${query.toString()}`,
      version,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------------
// Targets and runs

/** One target per contender, on the same database: only its destination, compression and encryption differ. */
async function createContenderTarget(
  db: pg.Pool,
  secretKey: string,
  cluster: PostgresCluster,
  database: string,
  spec: ContenderSpec,
  s3Url: string,
  recipient: string,
): Promise<Target> {
  const resolved = resolveTargetInput({
    name: `${database.replace(/_/g, '-')}-${spec.id}`,
    host: '127.0.0.1',
    port: cluster.port,
    database,
    username: cluster.superuser,
    password: cluster.password,
    compression: spec.compression,
    // Local contenders use the worker's default storage, file://bench/out/run/storage.
    ...(spec.storage === 's3' ? { destinations: [s3Url] } : {}),
    encryption: spec.encrypted ? { recipients: [recipient] } : null,
  });
  if (!resolved.ok) throw new Error(`${resolved.field}: ${resolved.message}`);
  return createTarget(db, createSecretBox(secretKey), resolved.value);
}

/** Order of the contenders in round `index`: rotated, so no one always runs first or after another. */
function orderOf(contenders: readonly ContenderId[], index: number): ContenderId[] {
  const shift = index % contenders.length;
  return [...contenders.slice(shift), ...contenders.slice(0, shift)];
}

interface Round {
  order: ContenderId[];
  results: Partial<Record<ContenderId, LifeboatMeasurement>>;
}

interface Summary {
  spec: ContenderSpec;
  ms: number;
  ratio: number;
  runRatios: number[];
  archiveBytes: number;
  dumpMs: number;
  archiveMs: number;
  uploadMs: number;
  restMs: number;
  peakRssBytes: number;
  formats: string;
}

function summarize(rounds: readonly Round[], contenders: readonly ContenderId[]): Summary[] {
  const runsOf = (id: ContenderId) => rounds.map((round) => round.results[id]!);
  const baseline = runsOf(baselineId);
  const baselineMs = median(baseline.map((run) => run.ms));
  return contenders.map((id) => {
    const runs = runsOf(id);
    const pick = (get: (run: LifeboatMeasurement) => number) => median(runs.map(get));
    const ms = pick((run) => run.ms);
    return {
      spec: contenderSpecs[id],
      ms,
      ratio: ms / baselineMs,
      runRatios: runs.map((run, index) => run.ms / baseline[index]!.ms),
      archiveBytes: pick((run) => run.archiveBytes),
      dumpMs: pick((run) => run.dumpMs),
      archiveMs: pick((run) => run.archiveMs),
      uploadMs: pick((run) => run.uploadMs),
      restMs: pick((run) => run.ms - run.dumpMs - run.archiveMs - run.uploadMs),
      peakRssBytes: Math.max(...runs.map((run) => run.peakRssBytes)),
      formats: [...new Set(runs.map((run) => run.formats))].join('; '),
    };
  });
}

// ---------------------------------------------------------------------------------------------------
// The report

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const megabytes = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const ratio = (value: number) => `${value.toFixed(3)}×`;
const percent = (part: number, whole: number) => `${((100 * part) / whole).toFixed(1)} %`;
const mibPerSecond = (bytes: number, ms: number) => `${(bytes / 2 ** 20 / (ms / 1000)).toFixed(1)} MiB/s`;

function markdownTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map((cell) => cell.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

const mainHeader = [
  'contender',
  'time (median)',
  '**÷ baseline**: ratio of medians',
  '÷ baseline: median of per-round ratios (each round)',
  'archive size',
  'dump',
  'archive',
  'upload (+ read-back)',
  'rest of the workflow',
  'worker peak RSS',
];

function mainRows(summaries: readonly Summary[], databaseBytes: number): string[][] {
  return summaries.map((s) => [
    s.spec.label,
    seconds(s.ms),
    `**${ratio(s.ratio)}**`,
    `${ratio(median(s.runRatios))} (${s.runRatios.map(ratio).join(', ')})`,
    `${megabytes(s.archiveBytes)} (${percent(s.archiveBytes, databaseBytes)})`,
    seconds(s.dumpMs),
    seconds(s.archiveMs),
    seconds(s.uploadMs),
    seconds(s.restMs),
    megabytes(s.peakRssBytes),
  ]);
}

function consoleTable(summaries: readonly Summary[], databaseBytes: number): string {
  const rows = [mainHeader, ...mainRows(summaries, databaseBytes)].map((cells) =>
    cells.map((cell) => cell.replace(/\*\*/g, '')),
  );
  const widths = mainHeader.map((_, i) => Math.max(...rows.map((cells) => (cells[i] ?? '').length)));
  return rows.map((cells) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n');
}

/** `after ÷ before` of one measure in each round, and in how many rounds `after` was the larger. */
function perRound(
  rounds: readonly Round[],
  before: ContenderId,
  after: ContenderId,
  pick: (run: LifeboatMeasurement) => number,
): string {
  const ratios = rounds.map((round) => pick(round.results[after]!) / pick(round.results[before]!));
  const larger = ratios.filter((value) => value > 1).length;
  return `per round ${ratios.map(ratio).join(', ')}, larger in ${larger} of ${ratios.length}`;
}

/** The differences the issue asks about, each between two contenders that differ in one thing only. */
function comparisons(
  summaries: readonly Summary[],
  rounds: readonly Round[],
  ageMiBps: number | null,
): string[] {
  const of = (id: ContenderId) => summaries.find((s) => s.spec.id === id);
  const lines: string[] = [];
  const base = of('local-zstd')!;
  const s3 = of('s3-zstd');
  const s3Age = of('s3-zstd-age');
  const gzip = of('local-gzip');
  const localAge = of('local-zstd-age');
  const total = (run: LifeboatMeasurement) => run.ms;
  if (s3) {
    lines.push(
      `- **S3 instead of local disk** (S3, zstd against local, zstd): ${seconds(s3.ms - base.ms)} more in all ` +
        `(${ratio(s3.ratio)}; ${perRound(rounds, 'local-zstd', 's3-zstd', total)}); the upload step ` +
        `${seconds(base.uploadMs)} → ${seconds(s3.uploadMs)} (${perRound(rounds, 'local-zstd', 's3-zstd', (run) => run.uploadMs)}), ` +
        `i.e. ${mibPerSecond(s3.archiveBytes, s3.uploadMs)} for the ${megabytes(s3.archiveBytes)} archive put as a ` +
        `multipart upload and read back whole for its sha256.`,
    );
  }
  const encryptionCost = (encrypted: Summary, plain: Summary, what: string) =>
    `- **age encryption, ${what}** (${encrypted.spec.label} against ${plain.spec.label}): ` +
    `${seconds(encrypted.ms - plain.ms)} more in all (${ratio(encrypted.ms / plain.ms)}; ` +
    `${perRound(rounds, plain.spec.id, encrypted.spec.id, total)}); the archive step ${seconds(plain.archiveMs)} → ` +
    `${seconds(encrypted.archiveMs)} (${perRound(rounds, plain.spec.id, encrypted.spec.id, (run) => run.archiveMs)}); ` +
    `archive ${megabytes(plain.archiveBytes)} → ${megabytes(encrypted.archiveBytes)}.`;
  if (localAge) lines.push(encryptionCost(localAge, base, 'on local disk'));
  if (s3Age && s3) lines.push(encryptionCost(s3Age, s3, 'on S3'));
  if (ageMiBps !== null) {
    lines.push(
      `- age on its own (\`encryptStream\` from activities/encryption.ts over incompressible data the size of the ` +
        `archive, in the benchmark's process, no compression or disk): **${ageMiBps.toFixed(1)} MiB/s**, i.e. ` +
        `${seconds((base.archiveBytes / 2 ** 20 / ageMiBps) * 1000)} for this archive if nothing else ran.`,
    );
  }
  if (gzip) {
    lines.push(
      `- **gzip instead of zstd** (local, gzip against local, zstd): ${seconds(gzip.ms - base.ms)} more in all ` +
        `(${ratio(gzip.ratio)}; ${perRound(rounds, 'local-zstd', 'local-gzip', total)}); the archive step ` +
        `${seconds(base.archiveMs)} → ${seconds(gzip.archiveMs)} (${perRound(rounds, 'local-zstd', 'local-gzip', (run) => run.archiveMs)}); ` +
        `archive ${megabytes(base.archiveBytes)} (zstd) against ${megabytes(gzip.archiveBytes)} (gzip): gzip ` +
        `${percent(gzip.archiveBytes - base.archiveBytes, base.archiveBytes)} larger.`,
    );
  }
  return lines;
}

/** The short answers: which choice costs what, and the worker's memory on each path. */
function headlines(summaries: readonly Summary[]): string[] {
  const of = (id: ContenderId) => summaries.find((s) => s.spec.id === id);
  const base = of(baselineId)!;
  const lines: string[] = [];
  const cheapest = [...summaries].sort((a, b) => a.ms - b.ms)[0]!;
  lines.push(
    `- Fastest here: ${cheapest.spec.label} (${seconds(cheapest.ms)}). Every step but the one a contender changes ` +
      `takes about the same time in all of them (dump ${summaries.map((s) => seconds(s.dumpMs)).join(' / ')}), so ` +
      `each difference is in the archive step (compression, encryption) or the upload step (destination).`,
  );
  const gzip = of('local-gzip');
  if (gzip) {
    lines.push(
      `- zstd is the better default: gzip took ${ratio(gzip.archiveMs / base.archiveMs)} the archive step's time ` +
        `for an archive ${percent(gzip.archiveBytes - base.archiveBytes, base.archiveBytes)} larger.`,
    );
  }
  const peak = (ids: ContenderId[]) =>
    Math.max(...summaries.filter((s) => ids.includes(s.spec.id)).map((s) => s.peakRssBytes));
  const localPeak = peak(['local-zstd', 'local-gzip', 'local-zstd-age']);
  const s3Peak = peak(['s3-zstd', 's3-zstd-age']);
  if (Number.isFinite(s3Peak)) {
    const localAge = of('local-zstd-age');
    const ageNote = localAge
      ? ` Encryption moved it by ${megabytes(localAge.peakRssBytes - base.peakRssBytes)} on local disk (age streams in 64 KiB chunks).`
      : '';
    lines.push(
      `- Worker peak RSS: ${megabytes(localPeak)} at most with local storage, ${megabytes(s3Peak)} with S3 ` +
        `(${s3Peak >= localPeak ? '+' : ''}${megabytes(s3Peak - localPeak)}; the multipart upload holds up to 2 parts ` +
        `of 8 MiB in flight, plus the SDK's own buffers).${ageNote}`,
    );
  }
  return lines;
}

/** Median MiB/s of age encryption alone (encryptStream) over `bytes` of random data, three times. */
async function measureAgeThroughput(recipient: string, bytes: number): Promise<number> {
  const block = randomBytes(1 << 20);
  const rates: number[] = [];
  for (let attempt = 0; attempt < 3; attempt++) {
    const blocks = Math.ceil(bytes / block.length);
    const source = Readable.from(
      (function* () {
        for (let i = 0; i < blocks; i++) yield block;
      })(),
    );
    const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
    const startedMs = performance.now();
    await pipeline(source, encryptStream([recipient]), sink);
    rates.push((blocks * block.length) / 2 ** 20 / ((performance.now() - startedMs) / 1000));
  }
  return median(rates);
}

function roundsTable(rounds: readonly Round[]): string {
  const rows = rounds.flatMap((round, index) =>
    round.order.map((id) => {
      const run = round.results[id]!;
      return [
        String(index + 1),
        String(round.order.indexOf(id) + 1),
        contenderSpecs[id].label,
        seconds(run.ms),
        ratio(run.ms / round.results[baselineId]!.ms),
        `${seconds(run.dumpMs)} / ${seconds(run.archiveMs)} / ${seconds(run.uploadMs)}`,
        megabytes(run.archiveBytes),
        `${megabytes(run.startRssBytes)} → ${megabytes(run.peakRssBytes)}`,
      ];
    }),
  );
  return markdownTable(
    [
      'round',
      'position',
      'contender',
      'time',
      '÷ baseline (same round)',
      'dump / archive / upload',
      'archive',
      'worker RSS at start → peak',
    ],
    rows,
  );
}

interface Report {
  command: string;
  facts: MachineFacts;
  code: string;
  codeChanged: boolean;
  rcloneVersion: string;
  /** Bucket and prefix of the S3 destination. */
  s3Bucket: string;
  options: Options;
  database: { name: string; sizeBytes: number; reused: boolean; generateMs: number | null };
  tables: TableShare[];
  workerBaselineRssBytes: number;
  warmUpMs: number;
  /** age encryption alone, MiB/s; null when no contender encrypts. */
  ageMiBps: number | null;
  rounds: Round[];
  summaries: Summary[];
}

function resultsMarkdown(report: Report): string {
  const { facts, database, summaries } = report;
  const generated = database.reused
    ? 'reused from an earlier run'
    : `generated in ${seconds(database.generateMs ?? Number.NaN)}`;
  const tableRows = report.tables.map((table) => [
    `app.${table.name}`,
    String(table.rows),
    megabytes(table.bytes),
    tableContents[table.name] ?? '',
  ]);
  const base = summaries.find((s) => s.spec.id === baselineId)!;
  return `# Storage benchmark: local disk against S3, encryption, gzip against zstd

Written by \`bench/storage-bench.ts\` (issue #5); every figure below was measured by that one run.

Command (from the checkout):

\`\`\`sh
${report.command}
\`\`\`

## Machine and software

- date: ${facts.date}
- CPU: ${facts.nproc} × ${facts.cpuModel}; kernel ${facts.kernel}; Node ${facts.node}
- PostgreSQL: ${facts.postgres}; ${facts.pgDump}
- S3 server: ${report.rcloneVersion}, \`rclone serve s3\` over a directory of \`bench/out/run/s3\`, on loopback (the server the tests use)
- Lifeboat code measured: ${report.code}${report.codeChanged ? ' — **the checkout changed during the run: figures may mix two versions**' : ''}
- cluster: started by the benchmark in \`bench/out/pg\`, fsync **${clusterFsync ? 'on' : 'off'}**; default shared_buffers
- memory (\`free -g\`):

\`\`\`
${facts.freeG}
\`\`\`

## Method

One generated database, \`${database.name}\` (${megabytes(database.sizeBytes)}, ${generated}), and one target per
contender on it; the targets differ only in destination (the worker's default storage \`file://bench/out/run/storage\`,
or \`s3://${report.s3Bucket}?endpoint=…&accessKeyIdEnv=…&secretAccessKeyEnv=…\` on the local S3 server),
compression (zstd level 3 or gzip level 6, the archive's) and encryption (none, or one age X25519 recipient made by
\`generateIdentity()\`). Every backup is a real \`backupWorkflow\` run on one Lifeboat worker process
(\`node worker/main.ts\`, a prebuilt workflow bundle, the S3 key pair in its environment), started with the Temporal
client and timed from start to result: pg_dump (-Fc -Z0) into scratch, the archive step (tar, compression, encryption,
sha256 and md5 in one pass), the upload step (the put, then the whole object read back and its size and sha256
checked), the catalog records. Step times are the backup's \`durationsMs\` from the catalog; "rest" is the time
outside the three steps (catalog activities, retention, Temporal's dispatch).

One untimed warm-up backup (${contenderSpecs['s3-zstd-age'].label}, ${seconds(report.warmUpMs)}) reads the database into
the page cache and exercises every code path first. Then ${report.options.runs} round(s) of the ${report.options.contenders.length} contenders,
the order rotated by one each round; \`sync\` before each backup. Times are medians of the rounds; "÷ baseline"
is given two ways: the median divided by the median of **${base.spec.label}** measured in the same run, and the
median of the per-round ratios (each run divided by the baseline of its own round), which is steadier when the load
from other work drifts during the run. The comparisons below also say in how many rounds one contender was slower
than the other. The stored archive is deleted after each backup (local directory, or the bucket's directory on the S3
server's disk). Worker peak RSS is the kernel's VmHWM, reset before each backup, max over the rounds. Last, with
nothing else of the benchmark running, \`encryptStream\` alone encrypts incompressible data the size of the archive
three times (median), to give age's own speed on this machine.

## Results

${markdownTable(mainHeader, mainRows(summaries, database.sizeBytes))}

Formats (from the manifests): ${[...new Set(summaries.map((s) => s.formats))].join('; ')}.

### What each difference costs (medians)

${comparisons(summaries, report.rounds, report.ageMiBps).join('\n')}

### Every round

${roundsTable(report.rounds)}

## What this shows, and caveats

${headlines(summaries).join('\n')}
- The S3 server is on loopback and writes to the same disk as everything else: the S3 figures measure Lifeboat's
  S3 path (SDK multipart upload, the read-back, the extra round trips) and not a network. Over a real network the
  upload step scales with the link: at 100 MB/s the ${megabytes(base.archiveBytes)} archive alone takes
  ${seconds(base.archiveBytes / 1e5)} each way, and the read-back doubles the traffic.
- Encryption is age (X25519, ChaCha20-Poly1305 in 64 KiB chunks) in pure JavaScript (\`age-encryption\`), on the
  worker's event loop in the same pipeline as compression, so its cost shows in the archive step. It encrypts the
  compressed stream, so its cost scales with the archive size, not the database's.
- gzip and zstd are Node's zlib bindings (levels 6 and 3); both run on libuv's thread pool, so on this 2-core machine
  they compete with pg_dump and PostgreSQL only during the archive step (the dump finishes first).
- The machine has 2 cores shared with other people's tests: absolute times move between runs, ratios to the
  baseline of the same run much less; the per-round ratios show the spread.
- The worker's baseline RSS before the backups was ${megabytes(report.workerBaselineRssBytes)}.

## The data

\`${database.name}\`: ${megabytes(database.sizeBytes)} (${generated})

${markdownTable(['table', 'rows', 'size with TOAST and indexes', 'content'], tableRows)}
`;
}

// ---------------------------------------------------------------------------------------------------

/** A backup that has not ended by then is stuck (a workflow task failing over and over, say). */
const backupTimeLimitMs = 30 * 60_000;

async function withinTimeLimit<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not end within ${backupTimeLimitMs / 60_000} minutes`)),
      backupTimeLimitMs,
    );
  });
  try {
    return await Promise.race([work, limit]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs the clean-ups (newest first) once, on the way out or on Ctrl-C / SIGTERM. */
function cleanupStack(): { add(cleanup: () => Promise<void>): void; run(): Promise<void> } {
  const cleanups: (() => Promise<void>)[] = [];
  let running: Promise<void> | undefined;
  const run = () =>
    (running ??= (async () => {
      for (const cleanup of cleanups.reverse()) {
        await cleanup().catch((error: unknown) => console.error(`bench: cleanup failed: ${String(error)}`));
      }
    })());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`bench: ${signal}: stopping everything the benchmark started…`);
      void run().finally(() => process.exit(130));
    });
  }
  return { add: (cleanup) => cleanups.push(cleanup), run };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const cleanups = cleanupStack();
  log('starting PostgreSQL, the Temporal dev server and the S3 server…');
  const stack = await startBenchStack();
  cleanups.add(() => stack.stop());
  try {
    const s3 = await startS3Server();
    cleanups.add(() => s3.stop());
    const connection = await Connection.connect({ address: stack.temporal.address });
    cleanups.add(() => connection.close());
    const client = new Client({ connection });
    const db = new pg.Pool({ connectionString: stack.catalogUrl, max: 2 });
    cleanups.add(() => db.end());

    const facts = await machineFacts(stack.cluster);
    const codeAtStart = codeVersion();
    const generated = await ensureBenchDatabase(stack.cluster, options.sizeMb, log);
    log(`${generated.name}: ${megabytes(generated.sizeBytes)}${generated.reused ? ' (reused)' : ''}`);

    const secretKey = randomBytes(32).toString('hex');
    const { recipient } = await generateIdentity();
    const targets = {} as Record<ContenderId, Target>;
    for (const id of new Set<ContenderId>([...options.contenders, 's3-zstd-age'])) {
      const spec = contenderSpecs[id];
      targets[id] = await createContenderTarget(
        db,
        secretKey,
        stack.cluster,
        generated.name,
        spec,
        s3.url,
        recipient,
      );
    }
    const storageDir = path.join(runDir, 'storage');
    const taskQueue = 'bench-storage';
    const worker = await startWorkerProcess({
      catalogUrl: stack.catalogUrl,
      secretKey,
      temporalAddress: stack.temporal.address,
      taskQueue,
      workerId: 'bench-storage',
      storageDir,
      workDir: path.join(runDir, 'work'),
      workflowBundlePath: stack.workflowBundlePath,
      logFile: path.join(runDir, 'worker-storage.log'),
    });
    cleanups.add(() => worker.stop());

    const backup = async (id: ContenderId): Promise<LifeboatMeasurement> => {
      execFileSync('sync');
      const measured = await withinTimeLimit(
        timeLifeboatBackup({ client, db, worker, taskQueue, target: targets[id], storageDir }),
        `the backup of ${contenderSpecs[id].label}`,
      );
      // timeLifeboatBackup removes local archives; the S3 ones are removed from the server's disk.
      await rm(path.join(s3.dataDir, s3.bucket, s3.prefix), { recursive: true, force: true });
      return measured;
    };

    log('warm-up backup (not counted)…');
    const warmUp = await backup('s3-zstd-age');
    log(`warm-up: ${seconds(warmUp.ms)}`);
    const rounds: Round[] = [];
    for (let index = 0; index < options.runs; index++) {
      const round: Round = { order: orderOf(options.contenders, index), results: {} };
      for (const id of round.order) {
        const run = await backup(id);
        round.results[id] = run;
        log(
          `round ${index + 1}/${options.runs} ${contenderSpecs[id].label}: ${seconds(run.ms)} ` +
            `(dump ${seconds(run.dumpMs)}, archive ${seconds(run.archiveMs)}, upload ${seconds(run.uploadMs)}), ` +
            `archive ${megabytes(run.archiveBytes)}, peak RSS ${megabytes(run.peakRssBytes)}`,
        );
      }
      rounds.push(round);
    }

    const summaries = summarize(rounds, options.contenders);
    const encrypts = options.contenders.some((id) => contenderSpecs[id].encrypted);
    const ageMiBps = encrypts
      ? await measureAgeThroughput(recipient, summaries.find((s) => s.spec.id === baselineId)!.archiveBytes)
      : null;
    const codeAtEnd = codeVersion();
    const args = process.argv.slice(2);
    const report: Report = {
      command: ['bash bench/storage-run.sh', ...args].join(' '),
      facts,
      code: codeAtStart === codeAtEnd ? codeAtStart : `${codeAtStart}, and at the end ${codeAtEnd}`,
      codeChanged: codeAtStart !== codeAtEnd,
      rcloneVersion: s3.version,
      s3Bucket: `${s3.bucket}/${s3.prefix}`,
      options,
      database: generated,
      tables: await describeTables(stack.cluster, generated.name),
      workerBaselineRssBytes: worker.baselineRssBytes,
      warmUpMs: warmUp.ms,
      ageMiBps,
      rounds,
      summaries,
    };
    console.log(`\n${consoleTable(summaries, generated.sizeBytes)}\n`);
    console.log(comparisons(summaries, rounds, ageMiBps).join('\n'));
    writeFileSync(options.resultsFile, resultsMarkdown(report));
    log(`wrote ${path.relative(process.cwd(), options.resultsFile)}`);
  } finally {
    await cleanups.run();
  }
}

await main();
