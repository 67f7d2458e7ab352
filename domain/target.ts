// Targets: the databases Lifeboat backs up. The API's input shape and the connection-URL parsing.
import { z } from 'zod';
import { compressions, isValidTargetName, type Compression } from './naming.ts';
import { ageRecipientsSchema } from './age-keys.ts';
import { retentionOverridesSchema, type RetentionOverrides } from './retention.ts';
import { storageUrlProblem } from './storage-url.ts';

const targetName = z
  .string()
  .refine(
    isValidTargetName,
    'lower-case letters, digits, "-" and "_", starting with a letter or digit, at most 63',
  );

const storageUrl = z.string().superRefine((url, context) => {
  const problem = storageUrlProblem(url);
  if (problem) context.addIssue({ code: 'custom', message: problem });
});

const envVarName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name');

const connectionFields = z.object({
  host: z.string().min(1).max(255),
  port: z.number().int().min(1).max(65535).default(5432),
  database: z.string().min(1).max(63),
  username: z.string().min(1).max(63),
});

/** What a person sends to create a target: the parts, or a postgres:// URL, plus where the password is. */
export const targetInputSchema = z
  .object({
    name: targetName,
    description: z.string().max(1000).optional(),
    url: z.string().startsWith('postgres').optional(),
    host: z.string().min(1).max(255).optional(),
    port: z.number().int().min(1).max(65535).optional(),
    database: z.string().min(1).max(63).optional(),
    username: z.string().min(1).max(63).optional(),
    password: z.string().min(1).max(1000).optional(),
    passwordEnv: envVarName.optional(),
    documentsDir: z.string().startsWith('/', 'an absolute path').optional(),
    /** How archives are compressed; zstd unless said otherwise. */
    compression: z.enum(compressions).optional(),
    /** Overrides of the global retention policy for this target. */
    retention: retentionOverridesSchema.optional(),
    /** Where archives go, the first one primary; the default storage when absent. */
    destinations: z
      .array(storageUrl)
      .min(1)
      .max(5)
      .refine((urls) => new Set(urls).size === urls.length, 'each destination once')
      .optional(),
    /** Archives encrypted to these age recipients (public keys); null or absent for none. */
    encryption: z.object({ recipients: ageRecipientsSchema }).strict().nullable().optional(),
  })
  .strict();

export type TargetInput = z.infer<typeof targetInputSchema>;

export interface TargetConnection {
  host: string;
  port: number;
  database: string;
  username: string;
}

export type PasswordSource =
  { kind: 'none' } | { kind: 'inline'; password: string } | { kind: 'env'; name: string };

export interface ResolvedTargetInput {
  name: string;
  description: string | null;
  connection: TargetConnection;
  password: PasswordSource;
  documentsDir: string | null;
  retention: RetentionOverrides | null;
  compression: Compression;
  destinations: string[] | null;
  encryptionRecipients: string[] | null;
}

export type ResolveResult =
  { ok: true; value: ResolvedTargetInput } | { ok: false; field: string; message: string };

/** Merges a URL and explicit fields (explicit ones win) and checks that the connection is complete. */
export function resolveTargetInput(input: TargetInput): ResolveResult {
  let fromUrl: Partial<TargetConnection> & { password?: string } = {};
  if (input.url) {
    const parsed = parseConnectionUrl(input.url);
    if (!parsed)
      return {
        ok: false,
        field: 'url',
        message: 'not a postgres://user[:password]@host[:port]/database URL',
      };
    fromUrl = parsed;
  }
  const merged = {
    host: input.host ?? fromUrl.host,
    port: input.port ?? fromUrl.port ?? 5432,
    database: input.database ?? fromUrl.database,
    username: input.username ?? fromUrl.username,
  };
  const connection = connectionFields.safeParse(merged);
  if (!connection.success) {
    const issue = connection.error.issues[0];
    return {
      ok: false,
      field: String(issue?.path[0] ?? 'url'),
      message: 'required: give it, or a url that has it',
    };
  }
  const inlinePassword = input.password ?? fromUrl.password;
  if (inlinePassword && input.passwordEnv) {
    return { ok: false, field: 'passwordEnv', message: 'give either a password or passwordEnv, not both' };
  }
  const password: PasswordSource = input.passwordEnv
    ? { kind: 'env', name: input.passwordEnv }
    : inlinePassword
      ? { kind: 'inline', password: inlinePassword }
      : { kind: 'none' };
  return {
    ok: true,
    value: {
      name: input.name,
      description: input.description ?? null,
      connection: connection.data,
      password,
      documentsDir: input.documentsDir ?? null,
      retention: input.retention ?? null,
      compression: input.compression ?? 'zstd',
      destinations: input.destinations ?? null,
      encryptionRecipients: input.encryption?.recipients ?? null,
    },
  };
}

export function parseConnectionUrl(
  url: string,
): (Partial<TargetConnection> & { password?: string }) | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') return undefined;
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  const result: Partial<TargetConnection> & { password?: string } = {};
  if (parsed.hostname) result.host = parsed.hostname.replace(/^\[|\]$/g, '');
  if (parsed.port) result.port = Number(parsed.port);
  if (database) result.database = database;
  if (parsed.username) result.username = decodeURIComponent(parsed.username);
  if (parsed.password) result.password = decodeURIComponent(parsed.password);
  return result;
}
