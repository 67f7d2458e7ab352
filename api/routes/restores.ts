// Restores: preview and start under /api/admin/backups, the operations under /api/admin/restores.
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { listRestoreOperations } from '../../catalog/restores.ts';
import { systemDatabases } from '../../domain/access-policy.ts';
import { LifeboatError } from '../../domain/errors.ts';
import { restoreModes, tableNamePattern } from '../../domain/restore/options.ts';
import { restoreMethods } from '../../domain/restore/swap.ts';
import { storableText, textMatching } from '../../domain/text.ts';
import {
  approveRestore,
  cancelRestore,
  describeRestore,
  restoresByTarget,
} from '../../services/restore-operations.ts';
import { auditResource } from '../audit.ts';
import { requireRole } from '../auth.ts';
import type { ApiDeps, AppEnv } from '../context.ts';
import {
  actionErrors,
  errorResponses,
  errorSchema,
  idParams,
  json,
  linksTo,
  notFoundResponse,
  pageOf,
  pageQuery,
} from '../schemas.ts';
import { previewRestore, startRestore } from '../../services/restores.ts';
import { validationHook } from '../validation.ts';

const unprocessableResponse = {
  422: {
    description: 'Bad or missing confirmation token',
    content: { 'application/json': { schema: errorSchema } },
  },
} as const;

/** A database a restore may create or write: a plain name (PostgreSQL counts 63 bytes), never a system one. */
const destinationDatabasePattern = new RegExp(`^(?!(?:${systemDatabases.join('|')})$)[A-Za-z0-9_$.-]{1,63}$`);

const restoreFields = {
  destination: z
    .object({
      target: storableText({ min: 1 })
        .optional()
        .openapi({ description: 'Target id or name; default the backup’s' }),
      database: textMatching(destinationDatabasePattern, (name) =>
        systemDatabases.includes(name)
          ? `"${name}" is a system database; restore into another database`
          : '1 to 63 letters, digits and _$.-',
      )
        .optional()
        .openapi({ description: 'A new database on that target’s server, created by the restore' }),
    })
    .strict()
    .optional(),
  documents: z
    .boolean()
    .optional()
    .openapi({ description: 'Replace the documents tree; default true in mode full' }),
  noOwner: z.boolean().optional().openapi({ description: 'Restore without ownership and grants' }),
  terminateConnections: z
    .boolean()
    .optional()
    .openapi({ description: 'End other sessions on the destination database first' }),
  method: z
    .enum(restoreMethods)
    .optional()
    .openapi({
      description:
        'How a full restore into a target replaces its database. auto (default): restored beside it, checked, ' +
        'then swapped in, the old one kept aside as the safety copy, where the server allows it; in place ' +
        'otherwise. swap: only by swap (409 when it cannot). in-place: one transaction after a safety backup.',
    }),
  identity: storableText({ min: 1, max: 1000 })
    .optional()
    .openapi({ description: 'age identity (private key) for an encrypted backup; never stored in clear' }),
};

const tableName = textMatching(tableNamePattern, 'a "schema.table" name, either part may be double-quoted', {
  min: 1,
  max: 200,
});

const modeDescription =
  'full: the database becomes the backup (objects not in it are dropped); schema-only: its schema, empty; ' +
  'data-only: the rows of its tables replace the current ones; tables: the listed tables with their sequences.';

/**
 * A restore of the listed tables (mode tables, at least one), or of the whole backup (the other modes, no
 * tables): two shapes, so that the document says which modes take tables.
 */
function restoreShapes<T extends z.ZodRawShape>(extra: T) {
  return z.union(
    [
      z
        .object({
          mode: z.literal('tables').openapi({ description: modeDescription }),
          tables: z
            .array(tableName)
            .min(1)
            .max(1000)
            .openapi({ description: 'The "schema.table" names to restore' }),
          ...restoreFields,
          ...extra,
        })
        .strict(),
      z
        .object({
          mode: z
            .enum(restoreModes.filter((mode) => mode !== 'tables') as ['full', 'schema-only', 'data-only'])
            .default('full')
            .openapi({ description: modeDescription }),
          tables: z.array(tableName).max(0).optional().openapi({ description: 'Only in mode tables' }),
          ...restoreFields,
          ...extra,
        })
        .strict(),
    ],
    { error: 'mode "tables" needs at least one table, and only it takes tables' },
  );
}

const previewBody = restoreShapes({}).openapi('RestorePreviewRequest');
const confirmBody = restoreShapes({
  confirmationToken: storableText({ max: 200 })
    .optional()
    .openapi({ description: 'From a preview of exactly this request, at most 10 minutes old, used once' }),
}).openapi('RestoreRequest');

const tableSchema = z.object({ schema: z.string(), name: z.string() }).passthrough();

const previewSchema = z
  .object({
    backup: z.record(z.string(), z.unknown()),
    destination: z.record(z.string(), z.unknown()),
    mode: z.enum(restoreModes),
    options: z.record(z.string(), z.unknown()),
    tables: z.array(tableSchema),
    sequences: z.array(tableSchema),
    safetyBackup: z.boolean(),
    path: z
      .object({ kind: z.enum(['swap', 'in-place']), reasons: z.array(z.string()) })
      .openapi({ description: 'How the restore replaces the database, and why' }),
    warnings: z.array(
      z.object({ code: z.string(), message: z.string(), objects: z.array(z.string()).optional() }),
    ),
    estimatedDurationMs: z.number(),
    confirmationToken: z.string(),
    expiresAt: z.string(),
  })
  .openapi('RestorePreview');

const progressSchema = z
  .object({
    step: z.string(),
    percent: z.number(),
    currentTable: z.string().nullable(),
    status: z.string(),
  })
  .openapi('RestoreProgress');

const operationSchema = z
  .object({
    id: z.string().uuid(),
    workflowId: z.string(),
    backupId: z.string().uuid(),
    sourceTargetName: z.string(),
    targetId: z.string().nullable(),
    targetName: z.string(),
    destination: z.record(z.string(), z.unknown()),
    mode: z.enum(restoreModes),
    options: z.record(z.string(), z.unknown()),
    status: z.string(),
    requestedBy: z.string(),
    approvedBy: z.string().nullable(),
    approvedAt: z.string().nullable(),
    safetyBackupId: z.string().nullable(),
    steps: z.array(
      z.object({
        step: z.string(),
        status: z.string(),
        code: z.string().nullable(),
        message: z.string().nullable(),
        at: z.string(),
      }),
    ),
    result: z.unknown(),
    errorCode: z.string().nullable(),
    errorMessage: z.string().nullable(),
    rollback: z
      .object({ status: z.string(), code: z.string().nullable(), message: z.string().nullable() })
      .nullable(),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    progress: progressSchema.nullable(),
  })
  .openapi('RestoreOperation');

const operationParams = z.object({
  operationId: storableText({ min: 1 }).openapi({ param: { name: 'operationId', in: 'path' } }),
});

/** What a restore operation's id leads to. */
const operationLinks = (expression: string) =>
  linksTo({ getRestore: expression, cancelRestore: expression, approveRestore: expression }, 'operationId');

function callerOf(identity: AppEnv['Variables']['identity']) {
  if (!identity)
    throw new LifeboatError('UNAUTHORIZED', 'Send an API token: "Authorization: Bearer <token>".');
  return identity;
}

/** Mounted at /api/admin/backups, before the backup routes: `/restore/status` must not reach `/:id`. */
export function backupRestoreRoutes(deps: ApiDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.openapi(
    createRoute({
      method: 'get',
      path: '/restore/status',
      operationId: 'restoreStatus',
      summary: 'Per target, the restore in progress (with live progress) or the last one',
      request: { query: z.object({ target: storableText().optional() }) },
      responses: {
        200: {
          ...json(z.object({ items: z.array(operationSchema) }), 'Current or last restore per target'),
          links: operationLinks('$response.body#/items/0/id'),
        },
        ...errorResponses,
      },
    }),
    async (c) => {
      return c.json({ items: await restoresByTarget(deps, c.req.valid('query').target) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/restore/preview',
      operationId: 'previewRestore',
      summary: 'Describe what a restore would do, with a confirmation token for exactly this request',
      description:
        'Reads the archive on a worker and changes nothing. The token is bound to the backup, destination, mode ' +
        'and options, valid 10 minutes and usable once.',
      middleware: [requireRole('admin')] as const,
      request: {
        params: idParams,
        body: { content: { 'application/json': { schema: previewBody } }, required: true },
      },
      responses: {
        200: json(previewSchema, 'The preview'),
        ...actionErrors,
        // The preview reads the destination database itself: one that cannot be reached is the upstream's
        // failure, not the request's.
        502: json(errorSchema, 'The destination database cannot be reached (CONNECTION_FAILED)'),
      },
    }),
    async (c) => {
      const preview = await previewRestore(
        deps,
        c.req.valid('param').id,
        c.req.valid('json'),
        callerOf(c.get('identity')),
      );
      c.set('resourceId', preview.backup.id);
      return c.json(preview, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/restore',
      operationId: 'startRestore',
      summary: 'Start a restore confirmed by a preview’s token',
      middleware: [requireRole('admin')] as const,
      request: {
        params: idParams,
        body: { content: { 'application/json': { schema: confirmBody } }, required: true },
      },
      responses: {
        202: {
          ...json(
            z.object({ operationId: z.string().uuid(), workflowId: z.string(), statusUrl: z.string() }),
            'Started',
          ),
          links: operationLinks('$response.body#/operationId'),
        },
        ...actionErrors,
        ...unprocessableResponse,
      },
    }),
    async (c) => {
      const started = await startRestore(
        deps,
        c.req.valid('param').id,
        c.req.valid('json'),
        callerOf(c.get('identity')),
      );
      c.set('resourceId', started.operationId);
      return c.json({ ...started, statusUrl: `/api/admin/restores/${started.operationId}` }, 202);
    },
  );

  return app;
}

/** Mounted at /api/admin/restores. */
export function restoreRoutes(deps: ApiDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.openapi(
    createRoute({
      method: 'get',
      path: '/',
      operationId: 'listRestores',
      summary: 'Restore operations, newest first',
      request: {
        query: pageQuery.extend({
          target: storableText().optional(),
          status: z
            .enum([
              'pending',
              'awaiting_approval',
              'running',
              'rolling_back',
              'completed',
              'failed',
              'cancelled',
            ])
            .optional(),
        }),
      },
      responses: {
        200: {
          ...json(pageOf(operationSchema), 'A page of restores'),
          links: operationLinks('$response.body#/items/0/id'),
        },
        ...errorResponses,
      },
    }),
    async (c) => {
      const { limit, offset, ...filters } = c.req.valid('query');
      const page = await listRestoreOperations(deps.db, { ...filters, limit, offset });
      const items = page.items.map((operation) => ({ ...operation, progress: null }));
      return c.json({ items, total: page.total, limit, offset }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/{operationId}',
      operationId: 'getRestore',
      summary: 'One restore: every step with its outcome, and live progress while it runs',
      request: { params: operationParams },
      responses: { 200: json(operationSchema, 'The restore'), ...errorResponses, ...notFoundResponse },
    }),
    async (c) => c.json(await describeRestore(deps, c.req.valid('param').operationId), 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/{operationId}/cancel',
      operationId: 'cancelRestore',
      summary: 'Cancel a restore: what it changed is rolled back from the safety backup',
      middleware: [auditResource('operationId'), requireRole('admin')] as const,
      request: { params: operationParams },
      responses: {
        202: json(z.object({ operationId: z.string() }), 'Cancellation requested'),
        ...actionErrors,
      },
    }),
    async (c) => {
      const operation = await cancelRestore(deps, c.req.valid('param').operationId);
      return c.json({ operationId: operation.id }, 202);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/{operationId}/approve',
      operationId: 'approveRestore',
      summary: 'Approve a restore that waits for approval; the admin who asked for it cannot',
      middleware: [auditResource('operationId'), requireRole('admin')] as const,
      request: { params: operationParams },
      responses: {
        200: json(z.object({ approvedBy: z.string(), approvedAt: z.string() }), 'Approved'),
        ...actionErrors,
      },
    }),
    async (c) => {
      // People approve, not tokens: a second token of the requester's owner is still the requester.
      const approver = callerOf(c.get('identity')).owner;
      return c.json(await approveRestore(deps, c.req.valid('param').operationId, approver), 200);
    },
  );

  return app;
}
