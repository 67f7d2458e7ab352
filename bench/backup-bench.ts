// The backup benchmark: raw pg_dump -Fc, pg_dump | gzip and a Lifeboat backup of the same generated
// databases, at several sizes, with the worker's peak RSS; prints a table and writes bench/RESULTS.md.
import { Client, Connection } from '@temporalio/client';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { compressions, type Compression } from '../domain/naming.ts';
import type { PostgresCluster } from '../stack/postgres-cluster.ts';
import {
  benchRoot,
  clusterDataDir,
  clusterFsync,
  runDir,
  startBenchStack,
  type BenchStack,
} from './bench-stack.ts';
import { describeTables, ensureBenchDatabase, type GeneratedDatabase } from './generate-data.ts';
import { createBenchTarget, startWorkerProcess, timeLifeboatBackup } from './lifeboat-backup.ts';
import { codeVersion, machineFacts } from './machine.ts';
import { timeCustomDump, timeGzipDump } from './raw-dumps.ts';
import {
  consoleTable,
  resultsMarkdown,
  summarize,
  type BenchReport,
  type Contender,
  type RunResult,
  type SizeResult,
} from './report.ts';

interface Options {
  sizesMb: number[];
  runs: number;
  resultsFile: string;
  /** The benchmark target's archive compression; the product's default when not given. */
  compression: Compression | undefined;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      sizes: { type: 'string', default: '300,1100' },
      runs: { type: 'string', default: '3' },
      results: { type: 'string', default: path.join(benchRoot, 'RESULTS.md') },
      compression: { type: 'string' },
    },
  });
  const compression = values.compression as Compression | undefined;
  if (compression !== undefined && !compressions.includes(compression)) {
    throw new Error(`--compression wants one of ${compressions.join(', ')} (got "${values.compression}")`);
  }
  const sizesMb = values.sizes.split(',').map(Number);
  const runs = Number(values.runs);
  if (!sizesMb.length || sizesMb.some((size) => !Number.isInteger(size) || size < 16)) {
    throw new Error(
      `--sizes wants whole numbers of MB, at least 16, separated by commas (got "${values.sizes}")`,
    );
  }
  if (!Number.isInteger(runs) || runs < 1)
    throw new Error(`--runs wants a whole number ≥ 1 (got "${values.runs}")`);
  return { sizesMb, runs, resultsFile: path.resolve(values.results), compression };
}

function log(line: string): void {
  console.log(`bench: ${line}`);
}

/** Reads every file of the database once, so that no contender pays for reading it from disk first. */
async function warmPageCache(cluster: PostgresCluster, database: string): Promise<void> {
  const admin = new pg.Client({ connectionString: cluster.url('postgres') });
  await admin.connect();
  const { rows } = await admin.query<{ oid: number }>('select oid from pg_database where datname = $1', [
    database,
  ]);
  await admin.end();
  const dir = path.join(clusterDataDir, 'base', String(rows[0]!.oid));
  for (const name of readdirSync(dir)) {
    const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
    await pipeline(createReadStream(path.join(dir, name), { highWaterMark: 1024 * 1024 }), sink);
  }
}

/** Order of the contenders in round `index`: rotated, so no one always runs first or after another. */
function orderOf(index: number): Contender[] {
  const all: Contender[] = ['raw', 'gzip', 'lifeboat'];
  return [...all.slice(index % 3), ...all.slice(0, index % 3)];
}

interface SizeRun {
  stack: BenchStack;
  client: Client;
  db: pg.Pool;
  generated: GeneratedDatabase;
  targetMb: number;
  options: Options;
}

async function measureSize({
  stack,
  client,
  db,
  generated,
  targetMb,
  options,
}: SizeRun): Promise<SizeResult> {
  const { runs } = options;
  const secretKey = randomBytes(32).toString('hex');
  const target = await createBenchTarget(db, secretKey, stack.cluster, generated.name, options.compression);
  const storageDir = path.join(runDir, 'storage');
  const dumpDir = path.join(runDir, 'dumps');
  mkdirSync(dumpDir, { recursive: true });
  const taskQueue = `bench-${targetMb}mb`;
  const worker = await startWorkerProcess({
    catalogUrl: stack.catalogUrl,
    secretKey,
    temporalAddress: stack.temporal.address,
    taskQueue,
    workerId: `bench-${targetMb}mb`,
    storageDir,
    workDir: path.join(runDir, 'work'),
    workflowBundlePath: stack.workflowBundlePath,
    logFile: path.join(runDir, `worker-${targetMb}mb.log`),
  });
  const results: RunResult[] = [];
  try {
    await warmPageCache(stack.cluster, generated.name);
    for (let index = 0; index < runs; index++) {
      const order = orderOf(index);
      const run: Partial<RunResult> = { order };
      for (const contender of order) {
        execFileSync('sync');
        if (contender === 'raw') run.raw = await timeCustomDump(stack.cluster, generated.name, dumpDir);
        if (contender === 'gzip') run.gzip = await timeGzipDump(stack.cluster, generated.name, dumpDir);
        if (contender === 'lifeboat') {
          run.lifeboat = await timeLifeboatBackup({ client, db, worker, taskQueue, target, storageDir });
        }
      }
      const done = run as RunResult;
      results.push(done);
      log(
        `${generated.name} round ${index + 1}/${runs}: raw ${(done.raw.ms / 1000).toFixed(2)} s, ` +
          `gzip ${(done.gzip.ms / 1000).toFixed(2)} s, Lifeboat ${(done.lifeboat.ms / 1000).toFixed(2)} s ` +
          `(dump ${done.lifeboat.dumpMs} ms, archive ${done.lifeboat.archiveMs} ms, upload ${done.lifeboat.uploadMs} ms), ` +
          `peak RSS ${(done.lifeboat.peakRssBytes / 1e6).toFixed(1)} MB`,
      );
    }
  } finally {
    await worker.stop();
  }
  return {
    targetMb,
    database: generated.name,
    sizeBytes: generated.sizeBytes,
    reused: generated.reused,
    generateMs: generated.generateMs,
    tables: await describeTables(stack.cluster, generated.name),
    workerBaselineRssBytes: worker.baselineRssBytes,
    runs: results,
  };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  log('starting PostgreSQL and the Temporal dev server…');
  const stack = await startBenchStack();
  const connection = await Connection.connect({ address: stack.temporal.address });
  const client = new Client({ connection });
  const db = new pg.Pool({ connectionString: stack.catalogUrl, max: 2 });
  try {
    const facts = await machineFacts(stack.cluster);
    const codeAtStart = codeVersion();
    const generated: GeneratedDatabase[] = [];
    for (const sizeMb of options.sizesMb) {
      const database = await ensureBenchDatabase(stack.cluster, sizeMb, log);
      log(
        `${database.name}: ${(database.sizeBytes / 1e6).toFixed(1)} MB${database.reused ? ' (reused)' : ''}`,
      );
      generated.push(database);
    }
    const sizes: SizeResult[] = [];
    for (const [index, sizeMb] of options.sizesMb.entries()) {
      const size = { stack, client, db, generated: generated[index]!, targetMb: sizeMb, options };
      sizes.push(await measureSize(size));
    }
    const codeAtEnd = codeVersion();
    const report: BenchReport = {
      facts,
      command: ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(
        ' ',
      ),
      runsPerSize: options.runs,
      clusterFsync,
      code: codeAtStart === codeAtEnd ? codeAtStart : `${codeAtStart}, and at the end ${codeAtEnd}`,
      codeChanged: codeAtStart !== codeAtEnd,
      sizes,
    };
    const summaries = sizes.map(summarize);
    console.log(`\n${consoleTable(summaries)}\n`);
    writeFileSync(options.resultsFile, resultsMarkdown(report, summaries));
    log(`wrote ${path.relative(process.cwd(), options.resultsFile)}`);
  } finally {
    await db.end();
    await connection.close();
    await stack.stop();
  }
}

await main();
