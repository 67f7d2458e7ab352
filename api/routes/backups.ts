// /api/admin/backups: list, start, inspect, download, cancel and delete backups.
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { Readable } from 'node:stream';
import { getBackup, listBackups, type Backup } from '../../catalog/backups.ts';
import { getTarget } from '../../catalog/targets.ts';
import { openFirstReachableCopy } from '../../services/backup-copies.ts';
import { cancelBackup, deleteBackupOnRequest, describeBackup, startBackup } from '../../services/backups.ts';
import { auditResource } from '../audit.ts';
import { requireRole } from '../auth.ts';
import type { ApiDeps, AppEnv } from '../context.ts';
import {
  actionErrors,
  backupSchema,
  errorResponses,
  idParams,
  json,
  notFoundResponse,
  pageOf,
  pageQuery,
  progressSchema,
} from '../schemas.ts';
import { validationHook } from '../validation.ts';

const listQuery = pageQuery.extend({
  target: z.string().optional(),
  status: z.enum(['running', 'completed', 'failed', 'cancelled']).optional(),
  trigger: z.string().optional(),
  from: z.string().datetime({ offset: true }).optional(),
  to: z.string().datetime({ offset: true }).optional(),
  search: z.string().max(200).optional(),
});

const createBody = z
  .object({
    target: z.string().min(1).openapi({ description: 'Target id or name' }),
    displayName: z.string().max(200).optional(),
    description: z.string().max(2000).optional(),
    tags: z.array(z.string().min(1).max(64)).max(32).default([]),
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

export function backupRoutes(deps: ApiDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.openapi(
    createRoute({
      method: 'get',
      path: '/',
      summary: 'List backups, newest first',
      request: { query: listQuery },
      responses: {
        200: json(pageOf(backupSchema), 'A page of backups'),
        ...errorResponses,
      },
    }),
    async (c) => {
      const { limit, offset, ...filters } = c.req.valid('query');
      const page = await listBackups(deps.db, { ...filters, limit, offset });
      return c.json({ items: page.items.map(withoutManifest), total: page.total, limit, offset }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/',
      summary: 'Start a manual backup',
      middleware: [requireRole('operator')] as const,
      request: { body: { content: { 'application/json': { schema: createBody } }, required: true } },
      responses: {
        202: json(
          z.object({ backupId: z.string().uuid(), workflowId: z.string(), statusUrl: z.string() }),
          'Started',
        ),
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
      summary: 'Delete a backup: its stored files first, then its catalog row',
      description: 'Protected backups are refused unless an admin passes force=true.',
      middleware: [auditResource('id'), requireRole('operator')] as const,
      request: { params: idParams, query: z.object({ force: z.enum(['true', 'false']).default('false') }) },
      responses: {
        204: { description: 'Deleted' },
        ...actionErrors,
      },
    }),
    async (c) => {
      await deleteBackupOnRequest(deps, c.req.valid('param').id, {
        caller: c.get('identity'),
        force: c.req.valid('query').force === 'true',
      });
      return c.body(null, 204);
    },
  );

  return app;
}
