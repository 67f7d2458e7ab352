// An in-process API for integration tests: the real app over the real catalog, Temporal and storage.
import type { Client } from '@temporalio/client';
import type pg from 'pg';
import { createToken, type Role } from '../../catalog/tokens.ts';
import { createApp, type LifeboatApp } from '../../api/app.ts';
import type { TestWorker } from './stack.ts';

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

export async function createTestApi(db: pg.Pool, client: Client, worker: TestWorker): Promise<TestApi> {
  const app = createApp({
    db,
    secrets: worker.secrets,
    storage: worker.storage,
    storages: worker.storages,
    temporal: client,
    taskQueue: worker.taskQueue,
  });
  const suffix = worker.taskQueue.slice(-12);
  const tokens = {
    admin: (await createToken(db, `admin-${suffix}`, 'admin')).token,
    operator: (await createToken(db, `operator-${suffix}`, 'operator')).token,
    viewer: (await createToken(db, `viewer-${suffix}`, 'viewer')).token,
  };
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
