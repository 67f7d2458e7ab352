// What an integration test needs from the running stack: databases, the catalog, workers, a client.
import { Client, Connection } from '@temporalio/client';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';
import { createSecretBox, type SecretBox } from '../../catalog/secret-box.ts';
import type { Storage } from '../../storage/storage.ts';
import { createStorageRegistry, type StorageRegistry } from '../../storage/registry.ts';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { createLifeboatWorkers, type LifeboatWorkers } from '../../worker/workers.ts';

// Worker state changes and polling chatter drown test output; warnings and errors still show.
Runtime.install({ logger: new DefaultLogger('WARN') });

export interface StackInfo {
  root: string;
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

export function catalogPool(): pg.Pool {
  return new pg.Pool({ connectionString: stack().catalogUrl, max: 5 });
}

export async function temporalClient(): Promise<Client> {
  const connection = await Connection.connect({ address: stack().temporalAddress });
  return new Client({ connection });
}

export interface TestWorker {
  workers: LifeboatWorkers;
  running: Promise<void>;
  taskQueue: string;
  storage: Storage;
  storages: StorageRegistry;
  secrets: SecretBox;
  stop(): Promise<void>;
}

/** An in-process Lifeboat worker on its own task queue, with local storage and scratch directories. */
export async function startTestWorker(options: {
  db: pg.Pool;
  storageDir: string;
  taskQueue?: string;
  workDir?: string;
  workerId?: string;
  /** Where to look for pg_dump; by default the installed server versions. */
  pgBinDirs?: string[];
}): Promise<TestWorker> {
  const taskQueue = options.taskQueue ?? `test-${randomUUID()}`;
  const storages = createStorageRegistry(`file://${options.storageDir}`, (name) => process.env[name]);
  const storage = storages.open(storages.defaultUrl);
  const secrets = createSecretBox(testSecretKey);
  const workers = await createLifeboatWorkers({
    temporalAddress: stack().temporalAddress,
    namespace: 'default',
    taskQueue,
    workerId: options.workerId ?? `w-${randomBytes(3).toString('hex')}`,
    db: options.db,
    secrets,
    storage,
    storages,
    workDir: options.workDir ?? scratchDir('work'),
    pgBinDirs: options.pgBinDirs ?? [],
    readEnv: (name) => process.env[name],
    lifeboatVersion: 'test',
    progressIntervalMs: 500,
    ensureSchedules: false,
    workflowBundlePath: stack().workflowBundlePath,
  });
  const running = workers.run();
  return {
    workers,
    running,
    taskQueue,
    storage,
    storages,
    secrets,
    async stop() {
      workers.shutdown();
      await running;
      await storages.closeAll();
    },
  };
}
