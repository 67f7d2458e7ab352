// /api/admin/targets: the databases to back up. Anyone with a token reads; admins change.
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { getTarget, listTargets } from '../../catalog/targets.ts';
import { targetInputSchema } from '../../domain/target.ts';
import { createTarget, removeTarget, replaceTarget } from '../../services/targets.ts';
import { auditResource } from '../audit.ts';
import { requireRole } from '../auth.ts';
import type { ApiDeps, AppEnv } from '../context.ts';
import {
  actionErrors,
  conflictResponse,
  errorResponses,
  idParams,
  json,
  notFoundResponse,
  targetSchema,
} from '../schemas.ts';
import { validationHook } from '../validation.ts';

export function targetRoutes(deps: ApiDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const body = {
    content: { 'application/json': { schema: targetInputSchema } },
    required: true,
  };

  app.openapi(
    createRoute({
      method: 'get',
      path: '/',
      summary: 'List targets',
      responses: { 200: json(z.object({ items: z.array(targetSchema) }), 'Targets'), ...errorResponses },
    }),
    async (c) => c.json({ items: await listTargets(deps.db) }, 200),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/{id}',
      summary: 'One target, by id or name',
      request: { params: idParams },
      responses: { 200: json(targetSchema, 'The target'), ...errorResponses, ...notFoundResponse },
    }),
    async (c) => c.json(await getTarget(deps.db, c.req.valid('param').id), 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/',
      summary: 'Create a target',
      middleware: [requireRole('admin')] as const,
      description: 'The password is stored encrypted (or referenced by passwordEnv) and never returned.',
      request: { body },
      responses: { 201: json(targetSchema, 'Created'), ...errorResponses, ...conflictResponse },
    }),
    async (c) => {
      const target = await createTarget(deps, c.req.valid('json'));
      c.set('resourceId', target.id);
      return c.json(target, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/{id}',
      summary: 'Replace a target',
      middleware: [auditResource('id'), requireRole('admin')] as const,
      description: 'Without password or passwordEnv, the stored password is kept.',
      request: { params: idParams, body },
      responses: {
        200: json(targetSchema, 'Updated'),
        ...actionErrors,
      },
    }),
    async (c) => c.json(await replaceTarget(deps, c.req.valid('param').id, c.req.valid('json')), 200),
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/{id}',
      summary: 'Delete a target that has no backups left',
      middleware: [auditResource('id'), requireRole('admin')] as const,
      request: { params: idParams },
      responses: {
        204: { description: 'Deleted' },
        ...actionErrors,
      },
    }),
    async (c) => {
      await removeTarget(deps, c.req.valid('param').id);
      return c.body(null, 204);
    },
  );

  return app;
}
