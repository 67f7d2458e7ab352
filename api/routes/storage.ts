// /api/admin/backups/storage/stats: backup counts, bytes per destination and target, quota, advice.
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { getSettings } from '../../catalog/settings.ts';
import { storageStats } from '../../catalog/storage-stats.ts';
import type { ApiDeps, AppEnv } from '../context.ts';
import { errorResponses } from '../schemas.ts';

const statsSchema = z
  .object({
    countsByStatus: z.record(z.string(), z.number()),
    destinations: z.array(z.object({ url: z.string(), backups: z.number(), bytes: z.number() })),
    targets: z.array(
      z.object({
        name: z.string(),
        backups: z.number(),
        bytes: z.number(),
        newestCompletedAt: z.string().nullable(),
      }),
    ),
    totalBytes: z.number(),
    quota: z
      .object({ maxStorageBytes: z.number(), usedBytes: z.number(), usedFraction: z.number() })
      .nullable(),
    recommendations: z.array(z.object({ code: z.string(), message: z.string() })),
  })
  .openapi('StorageStats');

export function storageRoutes(deps: ApiDeps) {
  const app = new OpenAPIHono<AppEnv>();
  app.openapi(
    createRoute({
      method: 'get',
      path: '/stats',
      summary: 'Storage statistics and recommendations',
      responses: {
        200: { description: 'Statistics', content: { 'application/json': { schema: statsSchema } } },
        ...errorResponses,
      },
    }),
    async (c) => c.json(await storageStats(deps.db, (await getSettings(deps.db)).maxStorageBytes), 200),
  );
  return app;
}
