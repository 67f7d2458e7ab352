// The only module that reads process.env: parses Lifeboat's settings with zod and says clearly what is wrong.
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { z } from 'zod';

const root = path.resolve(import.meta.dirname, '..');

const list = (value: string) =>
  value
    .split(':')
    .map((part) => part.trim())
    .filter(Boolean);

const envSchema = z.object({
  LIFEBOAT_DATABASE_URL: z.string().startsWith('postgres', 'a postgres:// URL of the catalog database'),
  LIFEBOAT_SECRET_KEY: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, '64 hex digits (32 bytes); make one with: openssl rand -hex 32')
    .optional(),
  TEMPORAL_ADDRESS: z.string().default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  LIFEBOAT_TASK_QUEUE: z.string().default('lifeboat'),
  LIFEBOAT_WORKER_ID: z.string().default(hostname()),
  LIFEBOAT_STORAGE_URL: z.string().default(`file://${path.join(root, 'data', 'backups')}`),
  LIFEBOAT_WORK_DIR: z.string().default(path.join(root, 'data', 'work')),
  LIFEBOAT_PG_BIN_DIRS: z.string().default('').transform(list),
  LIFEBOAT_API_HOST: z.string().default('127.0.0.1'),
  LIFEBOAT_API_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  LIFEBOAT_WORKFLOW_BUNDLE: z.string().optional(),
  LIFEBOAT_UPLOAD_DIR: z.string().default(path.join(root, 'data', 'uploads')),
  LIFEBOAT_UPLOAD_MAX_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(64 * 1024 ** 3),
  LIFEBOAT_AGE_IDENTITY_FILE: z.string().startsWith('/', 'an absolute path').optional(),
});

export type LifeboatEnv = z.infer<typeof envSchema>;

const clientEnvSchema = z.object({
  LIFEBOAT_API_URL: z.string().url().default('http://127.0.0.1:8080'),
  LIFEBOAT_TOKEN: z.string().optional(),
});

export type ClientEnv = z.infer<typeof clientEnvSchema>;

function parseOrExit<T extends z.ZodType>(schema: T, source: NodeJS.ProcessEnv): z.infer<T> {
  const parsed = schema.safeParse(source);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
  console.error(
    `lifeboat: invalid environment:\n${lines.join('\n')}\nSee README.md, "Environment variables".`,
  );
  process.exit(2);
}

/** The embedded stack writes its settings here; the CLI reads them so it works in the checkout as is. */
export const localEnvFile = path.join(root, 'data', 'lifeboat.env');

/** Settings of the worker and API processes; on bad values prints every problem and exits. */
export function loadEnv(source: NodeJS.ProcessEnv = process.env): LifeboatEnv {
  return parseOrExit(envSchema, source);
}

/** Settings of the CLI's API commands. */
export function loadClientEnv(source: NodeJS.ProcessEnv = process.env): ClientEnv {
  return parseOrExit(clientEnvSchema, source);
}

/** Adds the embedded stack's settings to the environment, without overriding anything already set. */
export function loadLocalEnvFile(): void {
  if (existsSync(localEnvFile)) process.loadEnvFile(localEnvFile);
}

/** Reads a secret that a target references by environment-variable name, on the worker only. */
export function readSecretFromEnv(name: string): string | undefined {
  return process.env[name];
}

/** This process's environment with `overrides` on top: what the embedded stack hands its children. */
export function childEnv(overrides: Record<string, string>): NodeJS.ProcessEnv {
  return { ...process.env, ...overrides };
}
