// /api/admin/backups/settings: global defaults — retention policy, its time zone and cleanup ages, storage.
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { getSettings, putSettings, settingsSchema } from '../../catalog/settings.ts';
import { requireRole } from '../auth.ts';
import type { ApiDeps, AppEnv } from '../context.ts';
import { errorResponses } from '../schemas.ts';
import { validationHook } from '../validation.ts';

export function settingsRoutes(deps: ApiDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  // Domain schemas are plain zod (no OpenAPI names): they may be built before @hono/zod-openapi loads.
  const schema = settingsSchema;

  app.openapi(
    createRoute({
      method: 'get',
      path: '/',
      summary: 'Global backup settings',
      responses: {
        200: { description: 'Settings', content: { 'application/json': { schema } } },
        ...errorResponses,
      },
    }),
    async (c) => c.json(await getSettings(deps.db), 200),
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/',
      summary: 'Replace the global backup settings',
      description:
        'Omitted fields take their defaults (retention: hourly 8, daily 7, weekly 4, monthly 12, UTC).',
      middleware: [requireRole('admin')] as const,
      request: { body: { content: { 'application/json': { schema } }, required: true } },
      responses: {
        200: { description: 'Saved', content: { 'application/json': { schema: z.unknown() } } },
        ...errorResponses,
      },
    }),
    async (c) => {
      const saved = await putSettings(deps.db, c.req.valid('json'), c.get('identity')?.name ?? 'unknown');
      return c.json(saved, 200);
    },
  );

  return app;
}
