// Starts the real services once per test run: a PostgreSQL cluster, the Temporal dev server, the
// catalog database, and one workflow bundle that every test worker reuses. Logs go under <root>/logs;
// the root is removed after a run that passed and kept, with its path printed, after one that failed.
import { bundleWorkflowCode } from '@temporalio/worker';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { migrateCatalog } from '../../catalog/migrate.ts';
import { freePort } from '../../stack/ports.ts';
import { startPostgresCluster } from '../../stack/postgres-cluster.ts';
import { startTemporalDevServer } from '../../stack/temporal-dev-server.ts';
import type { StackInfo } from './stack.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    stack: StackInfo;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const root = mkdtempSync('/tmp/lifeboat-test-');
  chmodSync(root, 0o755);
  const logsDir = path.join(root, 'logs');
  mkdirSync(logsDir);
  const [pgPort, temporalPort, uiPort] = [await freePort(), await freePort(), await freePort()];
  const cluster = await startPostgresCluster({
    dataDir: path.join(root, 'pg', 'data'),
    port: pgPort,
    password: 'harness-superuser-secret',
    fsync: false,
  });
  const temporal = await startTemporalDevServer({
    dbFile: path.join(root, 'temporal', 'dev.db'),
    port: temporalPort,
    uiPort,
    logFile: path.join(logsDir, 'temporal.log'),
  });
  try {
    const admin = new pg.Client({ connectionString: cluster.url('postgres') });
    await admin.connect();
    await admin.query('create database lifeboat_catalog');
    await admin.end();
    const catalog = new pg.Pool({ connectionString: cluster.url('lifeboat_catalog') });
    await migrateCatalog(catalog);
    await catalog.end();

    const bundle = await bundleWorkflowCode({
      workflowsPath: path.resolve(import.meta.dirname, '../../workflows/index.ts'),
      logger: { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} },
    });
    const bundlePath = path.join(root, 'workflow-bundle.js');
    writeFileSync(bundlePath, bundle.code);

    project.provide('stack', {
      root,
      logsDir,
      temporalAddress: temporal.address,
      pgPort,
      pgSuperuser: cluster.superuser,
      pgPassword: cluster.password,
      pgBinDir: cluster.binDir,
      catalogUrl: cluster.url('lifeboat_catalog'),
      workflowBundlePath: bundlePath,
    });
  } catch (error) {
    await temporal.stop();
    cluster.stop();
    throw error;
  }
  return async () => {
    await temporal.stop();
    cluster.stop();
    const state = project.vitest.state;
    const failed = state
      .getFiles()
      .filter((file) => file.projectName === project.name && file.result?.state === 'fail');
    if (failed.length === 0 && state.getUnhandledErrors().length === 0) {
      rmSync(root, { recursive: true, force: true });
      return;
    }
    const folders = failed.map((file) => path.join(logsDir, path.basename(file.filepath, '.test.ts')));
    console.log(['', `logs: ${logsDir}`, ...folders.map((folder) => `  ${folder}`), ''].join('\n'));
  };
}
