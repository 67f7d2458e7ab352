// /api/admin/backups: list, start, inspect, download, cancel and delete backups.
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { Readable } from 'node:stream';
import { openFirstReachableCopy, removeAllCopies } from '../../services/backup-copies.ts';
import {
  deleteBackupRow,
  getBackup,
  listBackupCopies,
  listBackups,
  type Backup,
} from '../../catalog/backups.ts';
import { getTarget } from '../../catalog/targets.ts';
import { LifeboatError } from '../../domain/errors.ts';
import type { BackupProgress } from '../../domain/progress.ts';
import { progressQuery } from '../../workflows/messages.ts';
import { requireRole } from '../auth.ts';
import { queryWithin } from '../live-query.ts';
import type { ApiDeps, AppEnv } from '../context.ts';
import {
  backupSchema,
  conflictResponse,
  errorResponses,
  idParams,
  notFoundResponse,
  progressSchema,
} from '../schemas.ts';
import { startBackup } from '../../services/start-backup.ts';
import { validationHook } from '../validation.ts';

const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

const listQuery = z.object({
  target: z.string().optional(),
  status: z.enum(['running', 'completed', 'failed', 'cancelled']).optional(),
  trigger: z.string().optional(),
  from: z.string().datetime({ offset: true }).optional(),
  to: z.string().datetime({ offset: true }).optional(),
  search: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).default(0),
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

/** Live progress from the running workflow; null when it cannot answer in time (the row still tells). */
async function liveProgress(deps: ApiDeps, backup: Backup): Promise<BackupProgress | null> {
  if (backup.status !== 'running') return null;
  return queryWithin(deps, backup.workflowId, progressQuery);
}

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
        200: json(
          z.object({
            items: z.array(backupSchema),
            total: z.number(),
            limit: z.number(),
            offset: z.number(),
          }),
          'A page of backups',
        ),
        ...errorResponses,
      },
    }),
    async (c) => {
      const query = c.req.valid('query');
      const page = await listBackups(deps.db, query);
      return c.json(
        {
          items: page.items.map(withoutManifest),
          total: page.total,
          limit: query.limit,
          offset: query.offset,
        },
        200,
      );
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
    async (c) => {
      const backup = await getBackup(deps.db, c.req.valid('param').id);
      const copies = await listBackupCopies(deps.db, backup.id);
      const warnings = copies
        .filter((copy) => copy.status === 'failed')
        .map(
          (copy) =>
            `The copy to ${copy.storageUrl} failed (${copy.errorCode}): ${copy.errorMessage} Only ` +
            `${copies.length - 1} of ${copies.length} destinations hold this backup.`,
        );
      return c.json({ ...backup, copies, warnings, progress: await liveProgress(deps, backup) }, 200);
    },
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
        ...errorResponses,
        ...notFoundResponse,
        ...conflictResponse,
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
      middleware: [requireRole('operator')] as const,
      request: { params: idParams },
      responses: {
        202: json(z.object({ backupId: z.string() }), 'Cancellation requested'),
        ...errorResponses,
        ...notFoundResponse,
        ...conflictResponse,
      },
    }),
    async (c) => {
      const backup = await getBackup(deps.db, c.req.valid('param').id);
      c.set('resourceId', backup.id);
      if (backup.status !== 'running')
        throw new LifeboatError('CONFLICT', `Backup ${backup.id} is already ${backup.status}.`);
      await deps.temporal.workflow.getHandle(backup.workflowId).cancel();
      return c.json({ backupId: backup.id }, 202);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/{id}',
      summary: 'Delete a backup: its stored files first, then its catalog row',
      description: 'Protected backups are refused unless an admin passes force=true.',
      middleware: [requireRole('operator')] as const,
      request: { params: idParams, query: z.object({ force: z.enum(['true', 'false']).default('false') }) },
      responses: {
        204: { description: 'Deleted' },
        ...errorResponses,
        ...notFoundResponse,
        ...conflictResponse,
      },
    }),
    async (c) => {
      const backup = await getBackup(deps.db, c.req.valid('param').id);
      c.set('resourceId', backup.id);
      const force = c.req.valid('query').force === 'true';
      if (backup.status === 'running') {
        throw new LifeboatError('CONFLICT', 'The backup is still running; cancel it first.');
      }
      if (backup.protected) {
        if (!force)
          throw new LifeboatError(
            'PROTECTED',
            'The backup is protected; an admin may delete it with force=true.',
          );
        if (c.get('identity')?.role !== 'admin') {
          throw new LifeboatError('FORBIDDEN', 'Only an admin may delete a protected backup.');
        }
      }
      await removeAllCopies(deps, backup);
      await deleteBackupRow(deps.db, backup.id);
      return c.body(null, 204);
    },
  );

  return app;
}
