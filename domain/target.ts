// Targets: the databases Lifeboat backs up. The API's input shape and the connection-URL parsing.
import { z } from 'zod';
import type { AccessPolicy } from './access-policy.ts';
import { documentsDirSource, envNameSource } from './access-patterns.ts';
import { documentsDirProblem, envNameProblem } from './access-policy.ts';
import { ageRecipientsSchema } from './age-keys.ts';
import { compressions, targetNamePattern, targetNameRule, type Compression } from './naming.ts';
import { retentionOverridesSchema, type RetentionOverrides } from './retention.ts';
import { storageUrlSchema } from './storage-url-pattern.ts';
import { characterCount, storableText, textMatching } from './text.ts';
import { asciiEscape, hostPattern, portPattern, userCharacter } from './pattern-parts.ts';

const targetName = z.string().regex(targetNamePattern, targetNameRule);

const connectionFields = z.object({
  host: z.string().refine((host) => characterCount(host) >= 1 && characterCount(host) <= 255),
  port: z.number().int().min(1).max(65535).default(5432),
  database: z.string().refine((database) => characterCount(database) >= 1 && characterCount(database) <= 63),
  username: z.string().refine((username) => characterCount(username) >= 1 && characterCount(username) <= 63),
});

/**
 * postgres:// URLs as parseConnectionUrl reads them, each part optional, ASCII with %XX escapes: a user and
 * database name of 1 to 63 characters once decoded, no query or fragment. `parts` says which parts a URL
 * must have (true), may have (absent) or must not have (false; only the password).
 */
export function connectionUrlPattern(parts: {
  password?: boolean;
  host?: boolean;
  database?: boolean;
  user?: boolean;
}) {
  const user = `(?:${userCharacter}|${asciiEscape}){1,63}`;
  const secret = `:(?:${userCharacter}|:|${asciiEscape}){0,1000}`;
  const password = parts.password === false ? '' : parts.password ? secret : `(?:${secret})?`;
  const userInfo = parts.user || parts.password ? `${user}${password}@` : `(?:${user}${password}@)?`;
  const authority = `${userInfo}${hostPattern}(?::${portPattern})?`;
  const database = `(?!\\.\\.?$)(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|${asciiEscape}){1,63}`;
  const path = parts.database ? `/${database}` : `(?:/(?:${database})?)?`;
  const required = parts.host || parts.user || parts.password;
  return new RegExp(`^postgres(?:ql)?://${required ? authority : `(?:${authority})?`}${path}$`);
}

const anyConnectionUrl = connectionUrlPattern({});
const wholeConnectionUrl = connectionUrlPattern({ user: true, host: true, database: true });
const connectionUrlWithPassword = connectionUrlPattern({ password: true });

/**
 * The rules between fields, each stated once: as JSON Schema for the document and as the check zod runs,
 * from the same patterns. The connection is a url with user, host and database, or host, database and
 * username themselves; a password (in the body or the url) and passwordEnv are never given together.
 */
const crossFieldRules = [
  {
    schema: {
      anyOf: [
        { required: ['host', 'database', 'username'] },
        { required: ['url'], properties: { url: { pattern: wholeConnectionUrl.source } } },
      ],
    },
    refuses: (input: TargetInput) =>
      !(input.host !== undefined && input.database !== undefined && input.username !== undefined) &&
      !(input.url !== undefined && wholeConnectionUrl.test(input.url)),
    path: ['url'],
    message:
      'give the connection as a url with user, host and database (postgres://user@host/database), or as host, database and username',
  },
  {
    schema: { not: { required: ['password', 'passwordEnv'] } },
    refuses: (input: TargetInput) => input.password !== undefined && input.passwordEnv !== undefined,
    path: ['passwordEnv'],
    message: 'give either a password or passwordEnv, not both',
  },
  {
    schema: {
      not: {
        required: ['passwordEnv', 'url'],
        properties: { url: { pattern: connectionUrlWithPassword.source } },
      },
    },
    refuses: (input: TargetInput) =>
      input.passwordEnv !== undefined && input.url !== undefined && connectionUrlWithPassword.test(input.url),
    path: ['passwordEnv'],
    message: 'the url has a password: give either it or passwordEnv, not both',
  },
] as const;

/**
 * What a person sends to create or replace a target, for an installation's access policy (the variables a
 * password or storage credential may be in, where documents may be): the connection as a postgres:// URL
 * with user, host and database, or as host, database and username (a url then only fills in the port and
 * password; explicit fields win); and a password (in the body or the URL) or passwordEnv, not both. Every
 * rule is in the OpenAPI document, so it says exactly what is accepted. Without a policy: any variable
 * name and absolute directory.
 */
export function targetInputSchemaFor(policy?: Pick<AccessPolicy, 'targetEnv' | 'storageEnv' | 'documents'>) {
  const storageUrl = storageUrlSchema(policy?.storageEnv);
  const documentsDir = policy ? documentsDirSource(policy.documents) : '/[^\\x00]*';
  const passwordEnv = textMatching(new RegExp(`^${envNameSource(policy?.targetEnv)}$`), (name) =>
    policy
      ? (envNameProblem(name, policy.targetEnv) ?? 'an environment variable name')
      : 'an environment variable name',
  );
  const object = z
    .object({
      name: targetName,
      description: storableText({ max: 1000 }).optional(),
      url: z
        .string()
        .regex(anyConnectionUrl, 'a postgres://user[:password]@host[:port]/database URL (ASCII, %XX escapes)')
        .optional(),
      host: storableText({ min: 1, max: 255 }).optional(),
      port: z.number().int().min(1).max(65535).optional(),
      database: storableText({ min: 1, max: 63 }).optional(),
      username: storableText({ min: 1, max: 63 }).optional(),
      password: storableText({ min: 1, max: 1000 }).optional(),
      passwordEnv: passwordEnv.optional(),
      documentsDir: textMatching(
        new RegExp(`^${documentsDir ?? '(?!)'}$`),
        (dir) =>
          (policy && documentsDirProblem(dir, policy.documents)) ||
          (policy
            ? 'an absolute path without "." or ".." whose names are letters, digits and ._~+=,@- (at most 255 each)'
            : 'an absolute path'),
        { max: 1024 },
      ).optional(),
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
        .meta({ uniqueItems: true })
        .optional(),
      /** Archives encrypted to these age recipients (public keys); null or absent for none. */
      encryption: z.object({ recipients: ageRecipientsSchema }).strict().nullable().optional(),
    })
    .strict();
  // Where no directory is allowed (the installation has no documents roots), documentsDir is not a field.
  const shape = documentsDir === undefined ? object.omit({ documentsDir: true }) : object;
  return shape
    .superRefine((input, ctx) => {
      for (const rule of crossFieldRules) {
        if (rule.refuses(input))
          ctx.addIssue({ code: 'custom', path: [...rule.path], message: rule.message });
      }
    })
    .meta({ allOf: crossFieldRules.map((rule) => rule.schema) }) as unknown as z.ZodType<
    TargetInput,
    unknown
  >;
}

/** The target input of an installation that allows any variable name and any absolute documents directory. */
export const targetInputSchema = targetInputSchemaFor();

/** A target request after validation, read without asking which of its shapes it has. */
export interface TargetInput {
  name: string;
  description?: string | undefined;
  url?: string | undefined;
  host?: string | undefined;
  port?: number | undefined;
  database?: string | undefined;
  username?: string | undefined;
  password?: string | undefined;
  passwordEnv?: string | undefined;
  documentsDir?: string | undefined;
  compression?: Compression | undefined;
  retention?: RetentionOverrides | undefined;
  destinations?: string[] | undefined;
  encryption?: { recipients: string[] } | null | undefined;
}

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
