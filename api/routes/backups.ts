// /api/admin/backups: list, start, inspect, download, cancel, delete (to the trash) and undelete backups.
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { Readable } from 'node:stream';
import { getBackup, listBackups, type Backup } from '../../catalog/backups.ts';
import { withVerification } from '../../services/drills.ts';
import { getTarget } from '../../catalog/targets.ts';
import { openFirstReachableCopy } from '../../services/backup-copies.ts';
import {
  cancelBackup,
  describeBackup,
  startBackup,
  trashBackupOnRequest,
  undeleteBackup,
} from '../../services/backups.ts';
import { auditResource } from '../audit.ts';
import { requireRole } from '../auth.ts';
import type { ApiDeps, AppEnv } from '../context.ts';
import {
  actionErrors,
  backupSchema,
  errorResponses,
  idParams,
  json,
  linksTo,
  notFoundResponse,
  pageOf,
  pageQuery,
  progressSchema,
} from '../schemas.ts';
import { instant, storableText } from '../../domain/text.ts';
import { validationHook } from '../validation.ts';

const listQuery = pageQuery.extend({
  target: storableText().optional(),
  status: z.enum(['running', 'completed', 'failed', 'cancelled']).optional(),
  trigger: storableText().optional(),
  from: instant().optional(),
  to: instant().optional(),
  search: storableText({ max: 200 }).optional(),
  trashed: z
    .enum(['true', 'false'])
    .default('false')
    .openapi({ description: 'true: only the backups in the trash, which are otherwise left out' }),
});

const createBody = z
  .object({
    target: storableText({ min: 1 }).openapi({ description: 'Target id or name' }),
    displayName: storableText({ max: 200 }).optional(),
    description: storableText({ max: 2000 }).optional(),
    tags: z
      .array(storableText({ min: 1, max: 64 }))
      .max(32)
      .default([]),
    protected: z.boolean().default(false),
  })
  .strict()
  .openapi('BackupRequest');

const detailSchema = backupSchema
  .extend({ manifest: z.unknown().nullable(), progress: progressSchema.nullable() })
  .openapi('BackupDetail');

function withoutManifest({ manifest: _manifest, ...rest }: Backup) {
  return rest;
}

/**
 * An instant for the catalog, in UTC: PostgreSQL refuses offsets beyond ±15:59 that RFC 3339 allows
 * (-23:26), and a time past the year 9999 in UTC (9999-12-31T23:00-05:00) is later than any backup.
 */
function catalogInstant(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const at = Date.parse(text);
  return at >= Date.UTC(10000, 0, 1) ? 'infinity' : new Date(at).toISOString();
}

/** What a backup's id leads to: the operations that take it as their `id`. */
const backupLinks = (expression: string) =>
  linksTo({
    getBackup: expression,
    downloadBackup: expression,
    cancelBackup: expression,
    deleteBackup: expression,
    undeleteBackup: expression,
    previewRestore: expression,
  });

export function backupRoutes(deps: ApiDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.openapi(
    createRoute({
      method: 'get',
      path: '/',
      operationId: 'listBackups',
      summary: 'List backups, newest first',
      request: { query: listQuery },
      responses: {
        200: {
          ...json(pageOf(backupSchema), 'A page of backups'),
          links: backupLinks('$response.body#/items/0/id'),
        },
        ...errorResponses,
      },
    }),
    async (c) => {
      const { limit, offset, trashed, from, to, ...filters } = c.req.valid('query');
      const page = await listBackups(deps.db, {
        ...filters,
        from: catalogInstant(from),
        to: catalogInstant(to),
        trashed: trashed === 'true',
        limit,
        offset,
      });
      const items = await withVerification(deps.db, page.items.map(withoutManifest));
      return c.json({ items, total: page.total, limit, offset }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/',
      operationId: 'startBackup',
      summary: 'Start a manual backup',
      middleware: [requireRole('operator')] as const,
      request: { body: { content: { 'application/json': { schema: createBody } }, required: true } },
      responses: {
        202: {
          ...json(
            z.object({ backupId: z.string().uuid(), workflowId: z.string(), statusUrl: z.string() }),
            'Started',
          ),
          links: backupLinks('$response.body#/backupId'),
        },
        ...errorResponses,
        ...notFoundResponse,
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const target = await getTarget(deps.db, body.target);
      const started = await startBackup(deps, {
        target,
        trigger: 'manual',
        requestedBy: c.get('identity')?.name ?? 'unknown',
        displayName: body.displayName ?? null,
        description: body.description ?? null,
        tags: body.tags,
        protected: body.protected,
      });
      c.set('resourceId', started.backupId);
      return c.json({ ...started, statusUrl: `/api/admin/backups/${started.backupId}` }, 202);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/{id}',
      operationId: 'getBackup',
      summary: 'One backup with its manifest, and live progress while it runs',
      request: { params: idParams },
      responses: { 200: json(detailSchema, 'The backup'), ...errorResponses, ...notFoundResponse },
    }),
    async (c) => c.json(await describeBackup(deps, c.req.valid('param').id), 200),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/{id}/download',
      operationId: 'downloadBackup',
      summary: 'Stream the archive',
      middleware: [requireRole('operator')] as const,
      request: { params: idParams },
      responses: {
        200: {
          description: 'The tar archive',
          content: { 'application/x-tar': { schema: z.string().openapi({ format: 'binary' }) } },
        },
        ...actionErrors,
      },
    }),
    async (c) => {
      const backup = await getBackup(deps.db, c.req.valid('param').id);
      const { stream, copy } = await openFirstReachableCopy(deps, backup);
      const fileName = copy.storageKey.split('/').at(-1) ?? 'backup.tar';
      return new Response(Readable.toWeb(stream) as ReadableStream, {
        status: 200,
        headers: {
          'content-type': 'application/x-tar',
          'content-disposition': `attachment; filename="${fileName}"`,
          ...(backup.sizeBytes !== null ? { 'content-length': String(backup.sizeBytes) } : {}),
          ...(backup.sha256 ? { 'x-checksum-sha256': backup.sha256 } : {}),
        },
      });
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/cancel',
      operationId: 'cancelBackup',
      summary: 'Cancel a running backup',
      middleware: [auditResource('id'), requireRole('operator')] as const,
      request: { params: idParams },
      responses: {
        202: json(z.object({ backupId: z.string() }), 'Cancellation requested'),
        ...actionErrors,
      },
    }),
    async (c) => {
      const backup = await cancelBackup(deps, c.req.valid('param').id);
      return c.json({ backupId: backup.id }, 202);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/{id}',
      operationId: 'deleteBackup',
      summary: 'Move a backup to the trash; the retention sweep removes it after deleteGraceDays',
      description:
        'Its files stay in storage and it can be undeleted until then. Refused (409) for a running ' +
        'backup and one an unfinished restore uses; refused unless an admin passes force=true (recorded ' +
        'in the audit log) for a protected backup and for the newest completed backup of its target. ' +
        'Operators may delete only when the settings allow it (allowOperatorDelete).',
      middleware: [auditResource('id'), requireRole('operator')] as const,
      request: { params: idParams, query: z.object({ force: z.enum(['true', 'false']).default('false') }) },
      responses: {
        204: { description: 'In the trash' },
        ...actionErrors,
      },
    }),
    async (c) => {
      const force = c.req.valid('query').force === 'true';
      if (force) c.set('auditDetails', { force: true });
      const { overridden } = await trashBackupOnRequest(deps, c.req.valid('param').id, {
        caller: c.get('identity'),
        force,
      });
      if (force) c.set('auditDetails', { force: true, overridden });
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/undelete',
      operationId: 'undeleteBackup',
      summary: 'Take a backup out of the trash',
      middleware: [auditResource('id'), requireRole('operator')] as const,
      request: { params: idParams },
      responses: { 200: json(backupSchema, 'Back in the list'), ...actionErrors },
    }),
    async (c) => c.json(withoutManifest(await undeleteBackup(deps, c.req.valid('param').id)), 200),
  );

  return app;
}
