// Restore drills: /api/admin/drills (list, one), /api/admin/backups/{id}/drills (a backup's, and start one:
// operators), /api/admin/targets/{id}/restorability (the drill report of a target).
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { drillCheckNames } from '../../domain/drill/checks.ts';
import { getBackup } from '../../catalog/backups.ts';
import { describeDrill, listDrills, startDrill, targetRestorability } from '../../services/drills.ts';
import { auditResource } from '../audit.ts';
import { requireRole } from '../auth.ts';
import type { ApiDeps, AppEnv } from '../context.ts';
import {
  actionErrors,
  errorResponses,
  idParams,
  json,
  notFoundResponse,
  pageOf,
  pageQuery,
} from '../schemas.ts';
import { validationHook } from '../validation.ts';

const drillStatus = z.enum(['queued', 'running', 'passed', 'failed', 'error']);

const drillSchema = z
  .object({
    id: z.string().uuid(),
    backupId: z.string().uuid(),
    targetId: z.string().uuid(),
    targetName: z.string(),
    workflowId: z.string(),
    trigger: z.enum(['after_backup', 'schedule', 'manual']),
    requestedBy: z.string().nullable(),
    storageUrl: z.string().nullable().openapi({ description: 'The copy that was fetched and proven' }),
    serverTargetId: z.string().nullable().openapi({ description: 'The drill server (a target)' }),
    scratchDatabase: z.string().nullable(),
    status: drillStatus.openapi({
      description:
        'passed; failed: a check failed, the backup is not restorable; error: the drill could not run',
    }),
    checks: z.array(
      z.object({
        name: z.enum(drillCheckNames),
        label: z.string().optional(),
        status: z.enum(['passed', 'failed', 'skipped']),
        detail: z.string(),
        durationMs: z.number(),
      }),
    ),
    errorCode: z.string().nullable(),
    errorMessage: z.string().nullable(),
    rtoSeconds: z
      .number()
      .nullable()
      .openapi({ description: 'Measured restore time: fetch, unpack and restore' }),
    checksSeconds: z.number().nullable(),
    peakBytes: z.number().nullable(),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
  })
  .openapi('Drill');

const drillDetailSchema = drillSchema
  .extend({
    progress: z
      .object({ step: z.string(), bytes: z.number() })
      .nullable()
      .openapi({ description: 'While it runs' }),
  })
  .openapi('DrillDetail');

const startedSchema = z
  .object({ drillId: z.string().uuid(), workflowId: z.string(), targetId: z.string().uuid() })
  .openapi('DrillStarted');

const listQuery = pageQuery.extend({
  status: drillStatus.optional(),
});

const restorabilitySchema = z
  .object({
    target: z.object({ id: z.string(), name: z.string() }),
    newestVerified: z
      .object({
        backupId: z.string(),
        startedAt: z.string(),
        ageSeconds: z.number(),
        rtoSeconds: z.number().nullable(),
      })
      .nullable(),
    rtoTrend: z.array(z.object({ at: z.string(), rtoSeconds: z.number() })),
    kept: z.object({ total: z.number().int(), proven: z.number().int() }),
    oldestUnproven: z.object({ backupId: z.string(), startedAt: z.string() }).nullable(),
  })
  .openapi('Restorability');

/** /api/admin/drills */
export function drillRoutes(deps: ApiDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.openapi(
    createRoute({
      method: 'get',
      path: '/',
      summary: 'Restore drills, newest first',
      request: { query: listQuery },
      responses: { 200: json(pageOf(drillSchema), 'A page of drills'), ...errorResponses },
    }),
    async (c) => {
      const { limit, offset, status } = c.req.valid('query');
      const page = await listDrills(deps.db, { limit, offset, ...(status ? { status } : {}) });
      return c.json({ ...page, limit, offset }, 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/{id}',
      summary: 'One drill, with its progress while it runs',
      request: { params: idParams },
      responses: { 200: json(drillDetailSchema, 'The drill'), ...errorResponses, ...notFoundResponse },
    }),
    async (c) => c.json(await describeDrill(deps, c.req.valid('param').id), 200),
  );
  return app;
}

/** /api/admin/backups/{id}/drills */
export function backupDrillRoutes(deps: ApiDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.openapi(
    createRoute({
      method: 'get',
      path: '/{id}/drills',
      summary: "A backup's drills, newest first",
      request: { params: idParams, query: pageQuery },
      responses: {
        200: json(pageOf(drillSchema), 'A page of drills'),
        ...errorResponses,
        ...notFoundResponse,
      },
    }),
    async (c) => {
      const backup = await getBackup(deps.db, c.req.valid('param').id);
      const { limit, offset } = c.req.valid('query');
      const page = await listDrills(deps.db, { backupId: backup.id, limit, offset });
      return c.json({ ...page, limit, offset }, 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/drills',
      summary: 'Drill the backup now: restore it into a scratch database on the drill server and check it',
      middleware: [auditResource('id'), requireRole('operator')] as const,
      request: { params: idParams },
      responses: { 202: json(startedSchema, 'The drill started'), ...actionErrors },
    }),
    async (c) => {
      const caller = c.get('identity');
      const started = await startDrill(
        deps,
        c.req.valid('param').id,
        caller?.owner ?? caller?.name ?? 'unknown',
      );
      return c.json(started, 202);
    },
  );
  return app;
}

/** /api/admin/targets/{id}/restorability */
export function restorabilityRoutes(deps: ApiDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.openapi(
    createRoute({
      method: 'get',
      path: '/{id}/restorability',
      summary: 'The drill report of a target: its newest proven backup, restore times, what is proven',
      request: { params: idParams },
      responses: { 200: json(restorabilitySchema, 'The report'), ...errorResponses, ...notFoundResponse },
    }),
    async (c) => c.json(await targetRestorability(deps.db, c.req.valid('param').id), 200),
  );
  return app;
}
