// What the restore tests share: a worker, an API and a client; targets, backups and restores through the
// API; and snapshots of a database and a documents tree to compare byte for byte.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type pg from 'pg';
import { expect } from 'vitest';
import type { RestoreOperation } from '../../catalog/restores.ts';
import { createSecretBox } from '../../catalog/secret-box.ts';
import { createStorageRegistry } from '../../storage/registry.ts';
import { createTestApi, eventually, type TestApi } from './api.ts';
import { contentHashes, schemaDump } from './fixtures.ts';
import {
  catalogPool,
  scratchDir,
  stack,
  startTestWorker,
  temporalClient,
  testSecretKey,
  type TestWorker,
} from './stack.ts';

export interface RestoreStack {
  db: pg.Pool;
  worker: TestWorker;
  client: Client;
  api: TestApi;
  storageDir: string;
  workDir: string;
  stop(): Promise<void>;
}

export async function startRestoreStack(): Promise<RestoreStack> {
  const db = catalogPool();
  const storageDir = scratchDir('restore-storage');
  const workDir = scratchDir('restore-work');
  const worker = await startTestWorker({ db, storageDir, workDir });
  const client = await temporalClient();
  const api = await createTestApi(db, client, worker);
  return {
    db,
    worker,
    client,
    api,
    storageDir,
    workDir,
    async stop() {
      await worker.stop();
      await client.connection.close();
      await db.end();
    },
  };
}

export async function createTarget(
  api: TestApi,
  name: string,
  database: string,
  extra: Record<string, unknown> = {},
): Promise<{ id: string; name: string }> {
  const s = stack();
  const response = await api.json<{ id: string; name: string }>('POST', '/api/admin/targets', {
    body: {
      name,
      host: '127.0.0.1',
      port: s.pgPort,
      database,
      username: s.pgSuperuser,
      password: s.pgPassword,
      ...extra,
    },
  });
  expect(response.status).toBe(201);
  return response.body;
}

/** A manual backup of the target, waited for; returns its id. */
export async function backUp(api: TestApi, target: string): Promise<string> {
  const started = await api.json<{ backupId: string }>('POST', '/api/admin/backups', { body: { target } });
  expect(started.status).toBe(202);
  const ended = await eventually(
    async () => {
      const { body } = await api.json<{ status: string; errorMessage: string | null }>(
        'GET',
        `/api/admin/backups/${started.body.backupId}`,
      );
      return body.status === 'running' ? undefined : body;
    },
    90_000,
    'the backup to end',
  );
  expect(ended).toMatchObject({ status: 'completed' });
  return started.body.backupId;
}

export interface PreviewBody {
  confirmationToken: string;
  expiresAt: string;
  warnings: { code: string; message: string; objects?: string[] }[];
  tables: { schema: string; name: string; action: string; hasData: boolean; sizeBytes: number | null }[];
  sequences: { schema: string; name: string }[];
  safetyBackup: boolean;
  estimatedDurationMs: number;
  backup: { id: string; ageSeconds: number; serverVersion: string };
  destination: { exists: boolean; tables: unknown[]; sizeBytes: number; activeConnections: number };
}

export async function preview(
  api: TestApi,
  backupId: string,
  body: Record<string, unknown>,
): Promise<PreviewBody> {
  const response = await api.json<PreviewBody>('POST', `/api/admin/backups/${backupId}/restore/preview`, {
    body,
  });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body;
}

/** Preview, then start the restore with the preview's token; returns the operation id. */
export async function startRestore(
  api: TestApi,
  backupId: string,
  body: Record<string, unknown>,
): Promise<{ operationId: string; preview: PreviewBody }> {
  const previewed = await preview(api, backupId, body);
  const started = await api.json<{ operationId: string }>('POST', `/api/admin/backups/${backupId}/restore`, {
    body: { ...body, confirmationToken: previewed.confirmationToken },
  });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  return { operationId: started.body.operationId, preview: previewed };
}

export type OperationBody = RestoreOperation & {
  progress: { step: string; percent: number; currentTable: string | null; status: string } | null;
};

export async function restoreOperation(api: TestApi, operationId: string): Promise<OperationBody> {
  const response = await api.json<OperationBody>('GET', `/api/admin/restores/${operationId}`);
  expect(response.status).toBe(200);
  return response.body;
}

export async function waitForRestore(
  api: TestApi,
  operationId: string,
  timeoutMs = 120_000,
): Promise<OperationBody> {
  return eventually(
    async () => {
      const operation = await restoreOperation(api, operationId);
      return operation.finishedAt ? operation : undefined;
    },
    timeoutMs,
    `restore ${operationId} to end`,
  );
}

/** Waits until the restore's session on `database` waits for a lock (held by the test). */
export async function waitForLockedRestore(
  sqlIn: (database: string, text: string, params?: unknown[]) => Promise<unknown[]>,
  database: string,
  operationId: string,
  timeoutMs = 90_000,
): Promise<void> {
  await eventually(
    async () => {
      const rows = await sqlIn(
        database,
        `select pid from pg_stat_activity where application_name = $1 and wait_event_type = 'Lock'`,
        [`lifeboat-restore-${operationId}`],
      );
      return rows.length ? true : undefined;
    },
    timeoutMs,
    'the restore to wait for the lock',
  );
}

export interface DatabaseSnapshot {
  schema: string;
  hashes: Record<string, string>;
}

export async function snapshot(database: string): Promise<DatabaseSnapshot> {
  return { schema: schemaDump(database), hashes: await contentHashes(database) };
}

/** Every regular file under `root` with its sha256, by relative path. */
export function documentsSnapshot(root: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const file = path.join(dir, name);
      if (statSync(file).isDirectory()) walk(file);
      else files[path.relative(root, file)] = createHash('sha256').update(readFileSync(file)).digest('hex');
    }
  };
  walk(root);
  return files;
}

/**
 * An in-process API over the catalog and Temporal for tests whose workers run as separate processes.
 * The API needs only a worker's task queue, storage and secret box, not the worker itself.
 */
export async function createApiForQueue(
  db: pg.Pool,
  client: Client,
  taskQueue: string,
  storageDir: string,
): Promise<TestApi> {
  const storages = createStorageRegistry(`file://${storageDir}`, (name) => process.env[name]);
  const storage = storages.open(storages.defaultUrl);
  const secrets = createSecretBox(testSecretKey);
  return createTestApi(db, client, { taskQueue, storage, storages, secrets } as unknown as TestWorker);
}
