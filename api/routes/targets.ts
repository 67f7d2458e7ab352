// /api/admin/targets: the databases to back up. Anyone with a token reads; admins change.
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { createTarget, deleteTarget, getTarget, listTargets, updateTarget } from '../../catalog/targets.ts';
import { LifeboatError } from '../../domain/errors.ts';
import { resolveTargetInput, targetInputSchema, type TargetInput } from '../../domain/target.ts';
import { requireRole } from '../auth.ts';
import type { ApiDeps, AppEnv } from '../context.ts';
import { conflictResponse, errorResponses, idParams, notFoundResponse, targetSchema } from '../schemas.ts';
import { validationHook } from '../validation.ts';

const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

function resolveOrThrow(input: TargetInput) {
  const resolved = resolveTargetInput(input);
  if (!resolved.ok) {
    throw new LifeboatError('VALIDATION_FAILED', `${resolved.field}: ${resolved.message}`, {
      field: resolved.field,
    });
  }
  return resolved.value;
}

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
      const target = await createTarget(deps.db, deps.secrets, resolveOrThrow(c.req.valid('json')));
      c.set('resourceId', target.id);
      return c.json(target, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/{id}',
      summary: 'Replace a target',
      middleware: [requireRole('admin')] as const,
      description: 'Without password or passwordEnv, the stored password is kept.',
      request: { params: idParams, body },
      responses: {
        200: json(targetSchema, 'Updated'),
        ...errorResponses,
        ...notFoundResponse,
        ...conflictResponse,
      },
    }),
    async (c) => {
      const existing = await getTarget(deps.db, c.req.valid('param').id);
      c.set('resourceId', existing.id);
      const input = c.req.valid('json');
      const keepPassword = !input.password && !input.passwordEnv && !input.url?.includes('@');
      const target = await updateTarget(
        deps.db,
        deps.secrets,
        existing.id,
        resolveOrThrow(input),
        keepPassword,
      );
      return c.json(target, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/{id}',
      summary: 'Delete a target that has no backups left',
      middleware: [requireRole('admin')] as const,
      request: { params: idParams },
      responses: {
        204: { description: 'Deleted' },
        ...errorResponses,
        ...notFoundResponse,
        ...conflictResponse,
      },
    }),
    async (c) => {
      const existing = await getTarget(deps.db, c.req.valid('param').id);
      c.set('resourceId', existing.id);
      await deleteTarget(deps.db, existing.id);
      return c.body(null, 204);
    },
  );

  return app;
}
