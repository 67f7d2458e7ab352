// Response schemas shared by the routes, named for the OpenAPI document.
import { z } from '@hono/zod-openapi';
import { errorCodes } from '../domain/errors.ts';
import { storableText } from '../domain/text.ts';

/** A JSON response of `schema`, for a route's `responses`. */
export const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

export const errorSchema = z
  .object({
    error: z.object({
      code: z.enum(errorCodes),
      message: z.string(),
      details: z.record(z.string(), z.unknown()).optional(),
    }),
  })
  .openapi('Error');

export const errorResponses = {
  400: json(errorSchema, 'Invalid input'),
  401: json(errorSchema, 'Missing or unknown token'),
  403: json(errorSchema, 'Role too low'),
} as const;

export const notFoundResponse = { 404: json(errorSchema, 'Not found') } as const;

export const conflictResponse = { 409: json(errorSchema, 'Conflict') } as const;

/**
 * A whole number in a query string; an empty value (`?offset=`) is refused, not read as 0. Without a
 * maximum of its own, at most 2^53 - 1, which zod's int() holds to (and so the document says).
 */
export const queryInteger = (min: number, max: number = Number.MAX_SAFE_INTEGER) =>
  z.preprocess((value) => (value === '' ? Number.NaN : value), z.coerce.number().int().min(min).max(max));

/** `limit` and `offset` of a list request; extend it with the list's own filters. */
export const pageQuery = z.object({
  limit: queryInteger(1, 500).default(50),
  offset: queryInteger(0).default(0),
});

/** A page of `item`s: the items, how many there are in all, and the page asked for. */
export const pageOf = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), total: z.number(), limit: z.number(), offset: z.number() });

/** The errors of a request that acts on one resource: bad input, auth, not found, conflict. */
export const actionErrors = { ...errorResponses, ...notFoundResponse, ...conflictResponse } as const;

export const targetSchema = z
  .object({
    id: z.string().uuid(),
    name: z.string(),
    description: z.string().nullable(),
    connection: z.object({ host: z.string(), port: z.number(), database: z.string(), username: z.string() }),
    passwordSource: z.enum(['none', 'stored', 'env']),
    passwordEnv: z.string().nullable(),
    documentsDir: z.string().nullable(),
    retention: z.record(z.string(), z.unknown()).nullable(),
    compression: z.enum(['zstd', 'gzip', 'none']),
    destinations: z.array(z.string()).nullable(),
    encryptionRecipients: z.array(z.string()).nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('Target');

export const progressSchema = z
  .object({
    step: z.string(),
    percent: z.number(),
    bytes: z.number(),
    status: z.string(),
  })
  .openapi('BackupProgress');

export const backupSchema = z
  .object({
    id: z.string().uuid(),
    targetId: z.string().uuid(),
    targetName: z.string(),
    workflowId: z.string(),
    status: z.enum(['running', 'completed', 'failed', 'cancelled']),
    trigger: z.string(),
    requestedBy: z.string().nullable(),
    displayName: z.string().nullable(),
    description: z.string().nullable(),
    tags: z.array(z.string()),
    protected: z.boolean(),
    storageUrl: z.string().nullable(),
    storageKey: z.string().nullable(),
    sizeBytes: z.number().nullable(),
    sha256: z.string().nullable(),
    md5: z.string().nullable(),
    errorCode: z.string().nullable(),
    errorMessage: z.string().nullable(),
    startedAt: z.string(),
    finishedAt: z.string().nullable(),
    durationsMs: z.object({
      dump: z.number().nullable(),
      archive: z.number().nullable(),
      upload: z.number().nullable(),
    }),
    categories: z.array(z.string()),
    expiresAt: z.string().nullable(),
    deletionError: z.string().nullable(),
    degraded: z.boolean(),
    encrypted: z.boolean(),
    trashedAt: z.string().nullable(),
    trashedBy: z.string().nullable(),
    purgeAfter: z.string().nullable(),
    copies: z
      .array(
        z.object({
          position: z.number(),
          storageUrl: z.string(),
          storageKey: z.string(),
          status: z.enum(['completed', 'failed']),
          sizeBytes: z.number().nullable(),
          errorCode: z.string().nullable(),
          errorMessage: z.string().nullable(),
          recordedAt: z.string(),
        }),
      )
      .optional(),
    warnings: z.array(z.string()).optional(),
    verification: z
      .object({
        status: z.enum(['passed', 'failed', 'error']),
        verifiedAt: z.string(),
        drillId: z.string(),
        checks: z.array(
          z.object({
            name: z.string(),
            label: z.string().optional(),
            status: z.enum(['passed', 'failed', 'skipped']),
            detail: z.string(),
            durationMs: z.number(),
          }),
        ),
        rtoSeconds: z.number().nullable(),
      })
      .nullable()
      .optional()
      .openapi({ description: 'The outcome of its newest finished restore drill; null when never drilled' }),
  })
  .openapi('Backup');

export const idParams = z.object({
  id: storableText({ min: 1 }).openapi({ param: { name: 'id', in: 'path' } }),
});

/**
 * OpenAPI links from a response to the operations that take what it returns: `{ getBackup: '$response.body#/id' }`
 * links to operation getBackup with that value as its `parameter` (by default `id`).
 */
export function linksTo(targets: Record<string, string>, parameter = 'id') {
  return Object.fromEntries(
    Object.entries(targets).map(([operationId, expression]) => [
      operationId,
      { operationId, parameters: { [parameter]: expression } },
    ]),
  );
}
