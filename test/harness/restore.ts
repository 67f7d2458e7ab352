// What the restore tests share: backups and restores through the API, and snapshots of a database and
// a documents tree to compare byte for byte.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import type { RestoreOperation } from '../../catalog/restores.ts';
import { eventually, type TestApi } from './api.ts';
import { contentHashes, schemaDump } from './fixtures.ts';
import { createDatabase, waitForLockWaiter, type TestStack } from './stack.ts';

export interface BackedUpTarget {
  database: string;
  target: { id: string; name: string };
  backupId: string;
}

/**
 * A fresh database named after `prefix` and filled by `fill`, a target on it (`extra` joins the target's
 * fields: a documents directory, encryption) and a manual backup of it, waited for.
 */
export async function backedUpTarget(
  s: Pick<TestStack, 'api' | 'createTarget'>,
  prefix: string,
  fill: (database: string) => Promise<unknown>,
  extra: Record<string, unknown> = {},
): Promise<BackedUpTarget> {
  const database = await createDatabase(prefix);
  await fill(database);
  const target = await s.createTarget(`${prefix}-${database.slice(-8)}`, database, extra);
  return { database, target, backupId: await backUp(s.api, target.name) };
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
export async function waitForLockedRestore(database: string, operationId: string): Promise<void> {
  await waitForLockWaiter(database, `lifeboat-restore-${operationId}`, {
    what: 'the restore to wait for the lock',
  });
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
