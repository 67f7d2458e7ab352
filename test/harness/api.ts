// An in-process API for integration tests: the real app over the real catalog, Temporal and storage.
import type { Client } from '@temporalio/client';
import type pg from 'pg';
import { createToken, type Role } from '../../catalog/tokens.ts';
import type { ApiDeps } from '../../api/context.ts';
import { createApp, type LifeboatApp } from '../../api/app.ts';
import type { WorkerSide } from './stack.ts';

export interface TestApi {
  app: LifeboatApp;
  tokens: Record<Role, string>;
  call(
    method: string,
    path: string,
    options?: { token?: string | null; body?: unknown; rawBody?: string },
  ): Promise<Response>;
  json<T = Record<string, unknown>>(
    method: string,
    path: string,
    options?: { token?: string | null; body?: unknown },
  ): Promise<{ status: number; body: T }>;
}

/** What the real app needs, over the catalog, Temporal and a worker side's storage and access policy. */
export function apiDeps(db: pg.Pool, client: Client, worker: WorkerSide): ApiDeps {
  return {
    db,
    secrets: worker.secrets,
    storage: worker.storage,
    storages: worker.storages,
    temporal: client,
    taskQueue: worker.taskQueue,
    access: worker.access,
  };
}

/** The real app over the catalog, Temporal and a worker side's storage; `tokens` fill in at `issueTokens`. */
export function createTestApi(db: pg.Pool, client: Client, worker: WorkerSide): TestApi {
  const app = createApp(apiDeps(db, client, worker));
  const tokens = {} as Record<Role, string>;
  const call: TestApi['call'] = async (method, path, options = {}) => {
    const token = options.token === undefined ? tokens.admin : options.token;
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (options.rawBody !== undefined) body = options.rawBody;
    else if (options.body !== undefined) body = JSON.stringify(options.body);
    if (body !== undefined) headers['content-type'] = 'application/json';
    return app.request(path, { method, headers, ...(body !== undefined ? { body } : {}) });
  };
  return {
    app,
    tokens,
    call,
    async json(method, path, options) {
      const response = await call(method, path, options);
      const text = await response.text();
      return { status: response.status, body: (text ? JSON.parse(text) : {}) as never };
    },
  };
}

/** An admin, an operator and a viewer token, named `<role>-<end of the task queue>` to find their audit lines. */
export async function issueTokens(db: pg.Pool, api: TestApi, taskQueue: string): Promise<void> {
  const suffix = taskQueue.slice(-12);
  for (const role of ['admin', 'operator', 'viewer'] as const) {
    api.tokens[role] = (await createToken(db, `${role}-${suffix}`, role)).token;
  }
}

/** Polls `probe` until it returns a value, every 200 ms for at most `timeoutMs`. */
export async function eventually<T>(
  probe: () => Promise<T | undefined>,
  timeoutMs = 60_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
