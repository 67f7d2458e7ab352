// The benchmark's own services: a PostgreSQL cluster kept in bench/out/ (so generated data survives
// between runs), a fresh Temporal dev server, the catalog database, and a prebuilt workflow bundle.
import { bundleWorkflowCode } from '@temporalio/worker';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { migrateCatalog } from '../catalog/migrate.ts';
import { freePort } from '../stack/ports.ts';
import { startPostgresCluster, type PostgresCluster } from '../stack/postgres-cluster.ts';
import { startTemporalDevServer, type TemporalDevServer } from '../stack/temporal-dev-server.ts';

export const benchRoot = path.resolve(import.meta.dirname);
export const outDir = path.join(benchRoot, 'out');
/** Everything of one benchmark run that is not worth keeping: Temporal's state, dumps, archives. */
export const runDir = path.join(outDir, 'run');
export const clusterDataDir = path.join(outDir, 'pg', 'data');
export const catalogDatabase = 'lifeboat_bench_catalog';
/** The cluster trades crash safety for generation speed; pg_dump only reads, so fsync does not matter to it. */
export const clusterFsync = false;

export interface BenchStack {
  cluster: PostgresCluster;
  temporal: TemporalDevServer;
  catalogUrl: string;
  workflowBundlePath: string;
  stop(): Promise<void>;
}

/** A secret kept in bench/out/, so the cluster initialised with it on the first run opens on the next. */
function persistentSecret(name: string): string {
  const file = path.join(outDir, name);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const value = randomBytes(18).toString('base64url');
  writeFileSync(file, `${value}\n`, { mode: 0o600 });
  return value;
}

export async function adminQuery(cluster: PostgresCluster, text: string): Promise<void> {
  const admin = new pg.Client({ connectionString: cluster.url('postgres') });
  await admin.connect();
  try {
    await admin.query(text);
  } finally {
    await admin.end();
  }
}

/** A catalog that starts empty on every run, so targets and backups of earlier runs never interfere. */
async function freshCatalog(cluster: PostgresCluster): Promise<string> {
  await adminQuery(cluster, `drop database if exists ${catalogDatabase} with (force)`);
  await adminQuery(cluster, `create database ${catalogDatabase}`);
  const url = cluster.url(catalogDatabase);
  const pool = new pg.Pool({ connectionString: url });
  try {
    await migrateCatalog(pool);
  } finally {
    await pool.end();
  }
  return url;
}

async function buildWorkflowBundle(): Promise<string> {
  const bundle = await bundleWorkflowCode({
    workflowsPath: path.resolve(benchRoot, '../workflows/index.ts'),
    logger: { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} },
  });
  const file = path.join(runDir, 'workflow-bundle.js');
  writeFileSync(file, bundle.code);
  return file;
}

export async function startBenchCluster(): Promise<PostgresCluster> {
  mkdirSync(outDir, { recursive: true });
  // The PostgreSQL server runs as its own user and must be able to pass through bench/out/.
  chmodSync(outDir, 0o711);
  return startPostgresCluster({
    dataDir: clusterDataDir,
    port: await freePort(),
    password: persistentSecret('pg-password'),
    fsync: clusterFsync,
  });
}

export async function startBenchStack(): Promise<BenchStack> {
  rmSync(runDir, { recursive: true, force: true });
  mkdirSync(runDir, { recursive: true });
  const cluster = await startBenchCluster();
  let temporal: TemporalDevServer | undefined;
  try {
    temporal = await startTemporalDevServer({
      dbFile: path.join(runDir, 'temporal', 'dev.db'),
      port: await freePort(),
      uiPort: await freePort(),
      logFile: path.join(runDir, 'temporal.log'),
    });
    const catalogUrl = await freshCatalog(cluster);
    const workflowBundlePath = await buildWorkflowBundle();
    const started = temporal;
    return {
      cluster,
      temporal: started,
      catalogUrl,
      workflowBundlePath,
      async stop() {
        await started.stop();
        cluster.stop();
      },
    };
  } catch (error) {
    await temporal?.stop();
    cluster.stop();
    throw error;
  }
}
