// The only module that reads process.env: parses Lifeboat's settings with zod and says clearly what is wrong.
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { realPathOf } from '../archive/documents-dir.ts';
import { envNameProblem, type AccessPolicy, type EnvNamePolicy } from '../domain/access-policy.ts';
import { LifeboatError } from '../domain/errors.ts';
import { storageUrlEnvNames } from '../domain/storage-url.ts';
import { parseConnectionUrl } from '../domain/target.ts';

const root = path.resolve(import.meta.dirname, '..');

const list = (value: string) =>
  value
    .split(':')
    .map((part) => part.trim())
    .filter(Boolean);

const envPrefix = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'the start of an environment variable name, e.g. LIFEBOAT_TARGET_');

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
  /** Scratch-file steps (dump, archive, upload, restore) one worker runs at once: bounds its memory. */
  LIFEBOAT_WORKER_STEP_SLOTS: z.coerce.number().int().min(1).max(64).default(4),
  /** Every so many ms the worker logs where its memory goes (heap, external, native); 0: never. */
  LIFEBOAT_MEMORY_REPORT_MS: z.coerce.number().int().min(0).default(0),
  LIFEBOAT_UPLOAD_DIR: z.string().default(path.join(root, 'data', 'uploads')),
  LIFEBOAT_UPLOAD_MAX_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(64 * 1024 ** 3),
  LIFEBOAT_AGE_IDENTITY_FILE: z.string().startsWith('/', 'an absolute path').optional(),
  /** Bytes an uploaded archive may unpack to, against decompression bombs. */
  LIFEBOAT_UPLOAD_MAX_UNPACKED_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(256 * 1024 ** 3),
  /** Target passwords (passwordEnv) may be read only from variables whose names start with it. */
  LIFEBOAT_TARGET_ENV_PREFIX: envPrefix.default('LIFEBOAT_TARGET_'),
  /** Storage credentials (the *Env parameters of storage URLs) likewise. */
  LIFEBOAT_STORAGE_ENV_PREFIX: envPrefix.default('LIFEBOAT_STORAGE_'),
  /** Notification channels' secrets (their *Env settings) likewise. */
  LIFEBOAT_NOTIFY_ENV_PREFIX: envPrefix.default('LIFEBOAT_NOTIFY_'),
  /** Where documentsDir may be, colon-separated; none by default. */
  LIFEBOAT_DOCUMENTS_ROOTS: z
    .string()
    .default('')
    .transform(list)
    .refine((roots) => roots.every((root) => root.startsWith('/')), 'absolute paths, separated by ":"'),
  /** Where the API writes the first admin token of a catalog that never had one (mode 0600). */
  LIFEBOAT_ADMIN_TOKEN_FILE: z.string().default(path.join(root, 'data', 'admin-token')),
  /** Behind a reverse proxy: rate limits and the audit log take the client from X-Forwarded-For. */
  LIFEBOAT_TRUST_PROXY: z
    .enum(['true', 'false'], { message: 'true or false' })
    .default('false')
    .transform((value) => value === 'true'),
  /** How long a change that loosens restoreApproval waits before it applies. */
  LIFEBOAT_APPROVAL_CHANGE_DELAY_HOURS: z.coerce
    .number()
    .min(0)
    .max(24 * 30)
    .default(24),
  /** When set, GET /metrics needs it as its bearer token; API tokens do not open /metrics. */
  LIFEBOAT_METRICS_TOKEN: z
    .string()
    .regex(/^\S{16,}$/, 'at least 16 characters without spaces; make one with: openssl rand -hex 32')
    .optional(),
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

/** Lifeboat's own settings: no target or storage URL may name them as a credential. */
const ownSettings: readonly string[] = [...envSchema.keyof().options, ...clientEnvSchema.keyof().options];

/** The local directory of a file:// storage URL, else undefined. */
function localStorageRoot(url: string): string | undefined {
  return url.startsWith('file:') ? decodeURIComponent(new URL(url).pathname) : undefined;
}

/**
 * What API callers may point Lifeboat at, from the settings: credential variables by prefix, documents
 * under LIFEBOAT_DOCUMENTS_ROOTS and outside Lifeboat's own directories, never the catalog database.
 */
export function accessPolicy(env: LifeboatEnv): AccessPolicy {
  const own = [
    localStorageRoot(env.LIFEBOAT_STORAGE_URL),
    env.LIFEBOAT_WORK_DIR,
    env.LIFEBOAT_UPLOAD_DIR,
    env.LIFEBOAT_AGE_IDENTITY_FILE && path.dirname(env.LIFEBOAT_AGE_IDENTITY_FILE),
    // Secrets kept as files: a documents directory must not hold them.
    env.LIFEBOAT_ADMIN_TOKEN_FILE,
    localEnvFile,
  ].filter((dir): dir is string => Boolean(dir));
  const catalog = parseConnectionUrl(env.LIFEBOAT_DATABASE_URL);
  return {
    targetEnv: { prefix: env.LIFEBOAT_TARGET_ENV_PREFIX, reserved: ownSettings },
    storageEnv: { prefix: env.LIFEBOAT_STORAGE_ENV_PREFIX, reserved: ownSettings },
    notifyEnv: { prefix: env.LIFEBOAT_NOTIFY_ENV_PREFIX, reserved: ownSettings },
    documents: {
      roots: env.LIFEBOAT_DOCUMENTS_ROOTS.map(realPathOf),
      own: own.map((dir) => realPathOf(path.resolve(dir))),
    },
    catalog: catalog?.database
      ? { host: catalog.host ?? 'localhost', port: catalog.port ?? 5432, database: catalog.database }
      : null,
  };
}

/**
 * Reads the credentials that targets and storage URLs name, refusing (VALIDATION_FAILED) every name the
 * policy does not allow: the API checks names when they are given, this checks them again where they are
 * read. `trusted` are names the operator wrote into Lifeboat's own settings (LIFEBOAT_STORAGE_URL).
 */
export function secretReader(
  policy: EnvNamePolicy,
  trusted: readonly string[] = [],
): (name: string) => string | undefined {
  return (name) => {
    const allowed = trusted.includes(name) && !policy.reserved.includes(name);
    const problem = allowed ? undefined : envNameProblem(name, policy);
    if (problem) throw new LifeboatError('VALIDATION_FAILED', `Credential variable refused: ${problem}.`);
    return process.env[name];
  };
}

/** The readers of target passwords, storage credentials and channel secrets, for the worker and the API. */
export function secretReaders(env: LifeboatEnv, policy: AccessPolicy) {
  const trusted = storageUrlEnvNames(env.LIFEBOAT_STORAGE_URL).map((entry) => entry.name);
  return {
    target: secretReader(policy.targetEnv),
    storage: secretReader(policy.storageEnv, trusted),
    notify: secretReader(policy.notifyEnv),
  };
}

/** This process's environment with `overrides` on top: what the embedded stack hands its children. */
export function childEnv(overrides: Record<string, string>): NodeJS.ProcessEnv {
  return { ...process.env, ...overrides };
}
