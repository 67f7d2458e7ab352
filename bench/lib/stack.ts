// The benchmarks' services: a PostgreSQL cluster kept in bench/out/pg (generated data survives between runs),
// a fresh Temporal dev server and catalog, a workflow bundle, Lifeboat's worker process and targets, and the
// clean-ups, run once, newest first, on the way out or on Ctrl-C / SIGTERM.
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { migrateCatalog } from '../../catalog/migrate.ts';
import { createSecretBox } from '../../catalog/secret-box.ts';
import { createTarget, type Target } from '../../catalog/targets.ts';
import { resolveTargetInput, type TargetInput } from '../../domain/target.ts';
import { freePort } from '../../stack/ports.ts';
import { startPostgresCluster, type PostgresCluster } from '../../stack/postgres-cluster.ts';
import { startTemporalDevServer } from '../../stack/temporal-dev-server.ts';
import { readStatusBytes } from './measure.ts';
import { benchRoot, log, machineFacts, outDir, type MachineFacts } from './results.ts';

/** Everything of one run that is not worth keeping: Temporal's state, dumps, archives, logs. */
export const runDir = path.join(outDir, 'run');
/** The worker's default storage, file://bench/out/run/storage. */
export const storageDir = path.join(runDir, 'storage');
export const clusterDataDir = path.join(outDir, 'pg', 'data');
/** The cluster trades crash safety for speed, for every contender alike. */
export const clusterFsync = false;
const catalog = 'lifeboat_bench_catalog';
const quiet = () => undefined;
const logger = { ...console, trace: quiet, debug: quiet, info: quiet, log: quiet };

export interface BenchStack {
  cluster: PostgresCluster;
  temporalAddress: string;
  client: Client;
  /** The catalog. */
  db: pg.Pool;
  catalogUrl: string;
  secretKey: string;
  workflowBundlePath: string;
  machine: MachineFacts;
  /** Registers a clean-up; they run newest first. */
  cleanup(run: () => unknown): void;
}

/** Runs `text` on a connection of its own and returns the rows. */
export async function query<R>(url: string, text: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return (await client.query<R & pg.QueryResultRow>(text, values).finally(() => client.end())).rows;
}

export const adminQuery = (cluster: PostgresCluster, text: string) => query(cluster.url('postgres'), text);

/** Kept in bench/out/, so that the cluster initialised with it on the first run opens on the next. */
function persistentPassword(): string {
  const file = path.join(outDir, 'pg-password');
  if (!fs.existsSync(file)) fs.writeFileSync(file, randomBytes(18).toString('base64url'), { mode: 0o600 });
  return fs.readFileSync(file, 'utf8').trim();
}

/** Starts the services, runs `use`, then every clean-up, whatever happened. */
export async function withBenchStack(use: (stack: BenchStack) => Promise<void>): Promise<void> {
  const cleanups: (() => unknown)[] = [];
  let running: Promise<void> | undefined;
  const report = (error: unknown) => console.error(`bench: cleanup failed: ${String(error)}`);
  const cleanUp = () =>
    (running ??= (async () => {
      for (const cleanup of cleanups.reverse()) await Promise.resolve().then(cleanup).catch(report);
    })());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void cleanUp().finally(() => process.exit(130)));
  }
  try {
    log('starting PostgreSQL and the Temporal dev server…');
    fs.rmSync(runDir, { recursive: true, force: true });
    fs.mkdirSync(runDir, { recursive: true });
    // The PostgreSQL server runs as its own user and must be able to pass through bench/out/.
    fs.chmodSync(outDir, 0o711);
    const [dataDir, password, port] = [clusterDataDir, persistentPassword(), await freePort()];
    const cluster = await startPostgresCluster({ dataDir, port, password, fsync: clusterFsync });
    cleanups.push(() => cluster.stop());
    const [dbFile, logFile] = [path.join(runDir, 'temporal', 'dev.db'), path.join(runDir, 'temporal.log')];
    const [temporalPort, uiPort] = [await freePort(), await freePort()];
    const temporal = await startTemporalDevServer({ dbFile, logFile, port: temporalPort, uiPort });
    cleanups.push(() => temporal.stop());
    // A catalog that starts empty on every run, so targets and backups of earlier runs never interfere.
    await adminQuery(cluster, `drop database if exists ${catalog} with (force)`);
    await adminQuery(cluster, `create database ${catalog}`);
    const db = new pg.Pool({ connectionString: cluster.url(catalog), max: 4 });
    cleanups.push(() => db.end());
    await migrateCatalog(db);
    const connection = await Connection.connect({ address: temporal.address });
    cleanups.push(() => connection.close());
    const workflowsPath = path.resolve(benchRoot, '../workflows/index.ts');
    const workflowBundlePath = path.join(runDir, 'workflow-bundle.js');
    fs.writeFileSync(workflowBundlePath, (await bundleWorkflowCode({ workflowsPath, logger })).code);
    const [{ version }] = (await adminQuery(cluster, 'select version()')) as [{ version: string }];
    const pgDump = execFileSync(path.join(cluster.binDir, 'pg_dump'), ['--version'], { encoding: 'utf8' });
    await use({
      ...{ cluster, temporalAddress: temporal.address, client: new Client({ connection }), db },
      ...{ catalogUrl: cluster.url(catalog), secretKey: randomBytes(32).toString('hex'), workflowBundlePath },
      machine: { ...machineFacts(), postgres: version, pgDump: pgDump.trim() },
      cleanup: (run) => cleanups.push(run),
    });
  } finally {
    await cleanUp();
  }
}

/** SIGTERM, then SIGKILL if it outlives 15 s; resolves once it has exited. */
export function stopChild(child: ChildProcess): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
  });
}

export interface WorkerProcess {
  pid: number;
  taskQueue: string;
  /** VmRSS once it polls and has idled for 3 s. */
  baselineRssBytes: number;
  stop(): Promise<void>;
}

/** `node worker/main.ts` with the benchmark's environment on its own task queue, logging to bench/out/run. */
export async function startWorker(stack: BenchStack, name: string): Promise<WorkerProcess> {
  const taskQueue = `bench-${name}`;
  const child = spawn(process.execPath, [path.resolve(benchRoot, '../worker/main.ts')], {
    cwd: path.resolve(benchRoot, '..'),
    env: {
      ...process.env,
      ...{ LIFEBOAT_DATABASE_URL: stack.catalogUrl, LIFEBOAT_SECRET_KEY: stack.secretKey },
      ...{ TEMPORAL_ADDRESS: stack.temporalAddress, LIFEBOAT_TASK_QUEUE: taskQueue },
      ...{ LIFEBOAT_WORKER_ID: taskQueue, LIFEBOAT_WORKFLOW_BUNDLE: stack.workflowBundlePath },
      ...{ LIFEBOAT_STORAGE_URL: `file://${storageDir}`, LIFEBOAT_WORK_DIR: path.join(runDir, 'work') },
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stop = () => stopChild(child);
  stack.cleanup(stop);
  const logFile = fs.createWriteStream(path.join(runDir, `worker-${name}.log`), { flags: 'a' });
  child.stdout.pipe(logFile);
  child.stderr.pipe(logFile);
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => chunk.includes(' polling ') && resolve());
    child.once('exit', (code) => reject(new Error(`the worker exited (${code}) before it polled`)));
  });
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  const baselineRssBytes = readStatusBytes(child.pid!, 'VmRSS') ?? NaN;
  return { pid: child.pid!, taskQueue, baselineRssBytes, stop };
}

/** A target for `database` on the benchmark cluster, its password sealed with the worker's key. */
export async function createBenchTarget(
  stack: BenchStack,
  input: Omit<TargetInput, 'name'> & { name?: string; database: string },
): Promise<Target> {
  const { port, superuser: username, password } = stack.cluster;
  const name = input.database.replace(/_/g, '-');
  const resolved = resolveTargetInput({ name, host: '127.0.0.1', port, username, password, ...input });
  if (!resolved.ok) throw new Error(`${resolved.field}: ${resolved.message}`);
  return createTarget(stack.db, createSecretBox(stack.secretKey), resolved.value);
}
