// What an integration test needs from the running stack: databases, the catalog, workers, a client, and
// `useStack`, the one fixture every integration test file opens with.
import { Client, Connection } from '@temporalio/client';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, inject } from 'vitest';
import { getBackup, type Backup } from '../../catalog/backups.ts';
import { createSecretBox, type SecretBox } from '../../catalog/secret-box.ts';
import { realPathOf } from '../../archive/documents-dir.ts';
import { secretReader } from '../../config/env.ts';
import type { AccessPolicy } from '../../domain/access-policy.ts';
import { createTarget, type Target } from '../../catalog/targets.ts';
import { resolveTargetInput } from '../../domain/target.ts';
import type { Storage } from '../../storage/storage.ts';
import { createStorageRegistry, type StorageRegistry } from '../../storage/registry.ts';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { createLifeboatWorkers } from '../../worker/workers.ts';
import { createTestApi, eventually, issueTokens, type TestApi } from './api.ts';
import { appendLog, pointFailuresAtLogs, testLogFile } from './logs.ts';

// Process-wide: the in-process workers' logs, and the failures that tests provoke on purpose, go to the
// test file's worker.log. `forward` brings the Rust core's own warnings there too, off the terminal.
Runtime.install({
  logger: new DefaultLogger('INFO', ({ level, message, meta, timestampNanos }) => {
    const at = new Date(Number(timestampNanos / 1_000_000n)).toISOString();
    appendLog(testLogFile('worker'), `${at} [${level}] ${message}`, ...(meta ? [meta] : []));
  }),
  telemetryOptions: { logging: { forward: {} } },
});

export interface StackInfo {
  root: string;
  /** Where the run's logs go: temporal.log, and a folder per test file (see logs.ts). */
  logsDir: string;
  temporalAddress: string;
  pgPort: number;
  pgSuperuser: string;
  pgPassword: string;
  pgBinDir: string;
  catalogUrl: string;
  workflowBundlePath: string;
}

export function stack(): StackInfo {
  return inject('stack');
}

export function superuserUrl(database: string): string {
  const s = stack();
  return `postgres://${s.pgSuperuser}:${encodeURIComponent(s.pgPassword)}@127.0.0.1:${s.pgPort}/${database}`;
}

/** Runs SQL as the superuser in `database`. */
export async function sql<T extends pg.QueryResultRow = pg.QueryResultRow>(
  database: string,
  text: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: superuserUrl(database) });
  await client.connect();
  try {
    return (await client.query<T>(text, params)).rows;
  } finally {
    await client.end();
  }
}

/** The pids of the sessions on `database` named `applicationName` that wait for a lock. */
export async function sessionsWaitingForLock(database: string, applicationName: string): Promise<number[]> {
  const rows = await sql<{ pid: number }>(
    database,
    `select pid from pg_stat_activity where application_name = $1 and wait_event_type = 'Lock'`,
    [applicationName],
  );
  return rows.map((row) => row.pid);
}

/**
 * Waits until a session on `database` named `applicationName` waits for a lock, and returns its pid. With
 * `replacing`, waits for a retried attempt's session instead: the only one, and not `replacing`, whose
 * orphaned session the retry ends before it queues behind the lock itself.
 */
export async function waitForLockWaiter(
  database: string,
  applicationName: string,
  options: { replacing?: number; timeoutMs?: number; what?: string } = {},
): Promise<number> {
  const { replacing, timeoutMs = 90_000, what = `${applicationName} to wait for a lock` } = options;
  const [pid] = await eventually(
    async () => {
      const pids = await sessionsWaitingForLock(database, applicationName);
      const found = replacing === undefined ? pids.length > 0 : pids.length === 1 && pids[0] !== replacing;
      return found ? pids : undefined;
    },
    timeoutMs,
    what,
  );
  return pid!;
}

/** A new, empty database with a unique name. */
export async function createDatabase(prefix: string): Promise<string> {
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  await sql('postgres', `create database ${name}`);
  return name;
}

/** A fresh scratch directory inside the run's root. */
export function scratchDir(name: string): string {
  const dir = path.join(stack().root, `${name}-${randomBytes(4).toString('hex')}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

export const testSecretKey = randomBytes(32).toString('hex');

/** A target's name and connection to `database` on the harness's PostgreSQL, as the superuser. */
function targetOn(name: string, database: string) {
  const s = stack();
  return {
    name,
    host: '127.0.0.1',
    port: s.pgPort,
    database,
    username: s.pgSuperuser,
    password: s.pgPassword,
  };
}

/** Waits until the backup no longer runs and returns its catalog row. */
export async function endedBackup(db: pg.Pool, backupId: string, timeoutMs = 90_000): Promise<Backup> {
  return eventually(
    async () => {
      const row = await getBackup(db, backupId);
      return row.status === 'running' ? undefined : row;
    },
    timeoutMs,
    `backup ${backupId} to end`,
  );
}

/** A target on the harness's PostgreSQL written straight into the catalog, for tests without the API. */
export async function createCatalogTarget(
  db: pg.Pool,
  secrets: SecretBox,
  name: string,
  database: string,
  extra: { destinations?: string[] } = {},
): Promise<Target> {
  const resolved = resolveTargetInput({ ...targetOn(name, database), ...extra });
  if (!resolved.ok) throw new Error(resolved.message);
  return createTarget(db, secrets, resolved.value);
}

/**
 * The policy of a test installation, as config/env.ts builds it from the defaults: credentials in
 * LIFEBOAT_TARGET_*, LIFEBOAT_STORAGE_* and LIFEBOAT_NOTIFY_* variables, documents anywhere under the run's
 * root but in `own` (the storage and scratch directories), the harness's catalog database.
 */
export function testAccessPolicy(own: readonly string[]): AccessPolicy {
  const reserved = ['LIFEBOAT_SECRET_KEY', 'LIFEBOAT_DATABASE_URL', 'LIFEBOAT_STORAGE_URL'];
  return {
    targetEnv: { prefix: 'LIFEBOAT_TARGET_', reserved },
    storageEnv: { prefix: 'LIFEBOAT_STORAGE_', reserved },
    notifyEnv: { prefix: 'LIFEBOAT_NOTIFY_', reserved },
    documents: { roots: [realPathOf(stack().root)], own: own.map(realPathOf) },
    catalog: { host: '127.0.0.1', port: stack().pgPort, database: 'lifeboat_catalog' },
  };
}

/** What the API and the workers of one task queue share: the queue, local storage, the secret box, the policy. */
export interface WorkerSide {
  taskQueue: string;
  storage: Storage;
  storages: StorageRegistry;
  secrets: SecretBox;
  access: AccessPolicy;
}

function workerSide(storageDir: string, taskQueue = `test-${randomUUID()}`, own: string[] = []): WorkerSide {
  const access = testAccessPolicy([storageDir, ...own]);
  const storages = createStorageRegistry(`file://${storageDir}`, secretReader(access.storageEnv));
  return {
    taskQueue,
    storage: storages.open(storages.defaultUrl),
    storages,
    secrets: createSecretBox(testSecretKey),
    access,
  };
}

interface WorkerOptions {
  db: pg.Pool;
  workDir?: string;
  workerId?: string;
  /** Where to look for pg_dump; by default the installed server versions. */
  pgBinDirs?: string[];
}

/** Runs the real Lifeboat workers in process on `side`'s task queue until the returned stop. */
async function runWorkers(side: WorkerSide, options: WorkerOptions): Promise<() => Promise<void>> {
  const workers = await createLifeboatWorkers({
    temporalAddress: stack().temporalAddress,
    namespace: 'default',
    taskQueue: side.taskQueue,
    workerId: options.workerId ?? `w-${randomBytes(3).toString('hex')}`,
    db: options.db,
    secrets: side.secrets,
    storage: side.storage,
    storages: side.storages,
    workDir: options.workDir ?? scratchDir('work'),
    pgBinDirs: options.pgBinDirs ?? [],
    readEnv: secretReader(side.access.targetEnv),
    readNotifyEnv: secretReader(side.access.notifyEnv),
    documents: side.access.documents,
    lifeboatVersion: 'test',
    progressIntervalMs: 500,
    ensureSchedules: false,
    workflowBundlePath: stack().workflowBundlePath,
  });
  const running = workers.run();
  return async () => {
    workers.shutdown();
    await running;
  };
}

export interface TestWorker extends WorkerSide {
  stop(): Promise<void>;
}

/** An in-process Lifeboat worker on its own task queue, with local storage and scratch directories. */
export async function startTestWorker(
  options: WorkerOptions & { storageDir: string; taskQueue?: string },
): Promise<TestWorker> {
  const side = workerSide(options.storageDir, options.taskQueue);
  const stop = await runWorkers(side, options);
  return {
    ...side,
    async stop() {
      await stop();
      await side.storages.closeAll();
    },
  };
}

/** What `useStack` gives a test file; the workers run and the API's tokens exist from its beforeAll on. */
export interface TestStack {
  /** The catalog. */
  db: pg.Pool;
  client: Client;
  /** The task queue, storage and secret box of the file's workers, which the API uses too. */
  worker: WorkerSide;
  /** The real app in process, with an admin, an operator and a viewer token. */
  api: TestApi;
  /** The default storage's directory. */
  storageDir: string;
  /** The first worker's scratch directory. */
  workDir: string;
  /** Creates a target on the harness's PostgreSQL through the API and expects a 201. */
  createTarget: (
    name: string,
    database: string,
    extra?: Record<string, unknown>,
  ) => Promise<{ id: string; name: string }>;
  /**
   * Replaces a target's settings through the API (PUT, expects a 200): its connection to `database` as
   * createTarget makes it, then `extra` (a wrong password, destinations, retention...).
   */
  replaceTarget: (
    target: { id: string; name: string },
    database: string,
    extra?: Record<string, unknown>,
  ) => Promise<void>;
}

/**
 * The stack of one test file: the catalog, a Temporal client, in-process workers on a task queue of its
 * own (`workers`, default 1, share it; 0 when the test starts worker processes itself), and the API. The
 * objects exist at once so that a file can destructure them at the top; beforeAll starts the workers
 * and issues the tokens, afterAll stops it all. A failing test's error names the file's log folder.
 */
export function useStack(options: { workers?: number } = {}): TestStack {
  const db = new pg.Pool({ connectionString: stack().catalogUrl, max: 5 });
  const client = new Client({ connection: Connection.lazy({ address: stack().temporalAddress }) });
  const storageDir = scratchDir('storage');
  const workDir = scratchDir('work');
  const worker = workerSide(storageDir, undefined, [workDir]);
  const api = createTestApi(db, client, worker);
  const stops: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    await client.connection.ensureConnected();
    await issueTokens(db, api, worker.taskQueue);
    for (let i = 0; i < (options.workers ?? 1); i++) {
      stops.push(await runWorkers(worker, { db, ...(i === 0 ? { workDir } : {}) }));
    }
  });
  afterAll(async () => {
    for (const stop of stops.splice(0)) await stop();
    await worker.storages.closeAll();
    await client.connection.close();
    await db.end();
  });
  pointFailuresAtLogs();

  return {
    db,
    client,
    worker,
    api,
    storageDir,
    workDir,
    createTarget: async (name, database, extra = {}) => {
      const response = await api.json<{ id: string; name: string }>('POST', '/api/admin/targets', {
        body: { ...targetOn(name, database), ...extra },
      });
      expect(response.status, JSON.stringify(response.body)).toBe(201);
      return response.body;
    },
    replaceTarget: async (target, database, extra = {}) => {
      const response = await api.json('PUT', `/api/admin/targets/${target.id}`, {
        body: { ...targetOn(target.name, database), ...extra },
      });
      expect(response.status, JSON.stringify(response.body)).toBe(200);
    },
  };
}
