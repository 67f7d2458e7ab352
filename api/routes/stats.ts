// GET /api/admin/backups/stats: run statistics of a window, per target or for all of them.
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { runStats } from '../../services/stats.ts';
import { timeZoneSchema } from '../../domain/time-zone.ts';
import type { ApiDeps, AppEnv } from '../context.ts';
import { errorResponses, json, notFoundResponse } from '../schemas.ts';
import { validationHook } from '../validation.ts';

/** ISO 8601 with an offset; times before 1970 or after 9999 count from or to those years. */
const instant = z.string().datetime({ offset: true });

const statsQuery = z.object({
  target: z
    .string()
    .min(1)
    .max(200)
    // eslint-disable-next-line no-control-regex -- NUL, the one character PostgreSQL text cannot hold
    .regex(/^[^\u0000]*$/, 'no NUL character')
    .optional()
    .openapi({ description: 'Target id or name; all targets without it' }),
  from: instant.optional().openapi({
    description:
      'Start of the window (inclusive); default 30 days before `to`. Not before `to`: an empty window',
  }),
  to: instant.optional().openapi({ description: 'End of the window (exclusive); default now' }),
  timeZone: timeZoneSchema.default('UTC').openapi({ description: 'IANA time zone the daily buckets follow' }),
});

const durationSchema = z.object({
  count: z.number().int(),
  p50: z.number().nullable(),
  p90: z.number().nullable(),
  p99: z.number().nullable(),
  max: z.number().nullable(),
});

const statsSchema = z
  .object({
    window: z.object({
      from: z.string(),
      to: z.string(),
      dailyFrom: z.string().openapi({ description: 'Where `daily` starts: `from`, or 366 days before `to`' }),
      timeZone: z.string(),
    }),
    target: z.string().nullable(),
    totals: z.object({
      total: z.number().int(),
      running: z.number().int(),
      succeeded: z.number().int(),
      failed: z.number().int(),
      cancelled: z.number().int(),
      degraded: z.number().int(),
      successRate: z
        .number()
        .nullable()
        .openapi({ description: 'succeeded / (succeeded + failed); null while neither happened' }),
    }),
    durationsMs: z
      .object({
        dump: durationSchema,
        archive: durationSchema,
        upload: durationSchema,
        total: durationSchema,
      })
      .openapi({ description: 'Of the completed runs: continuous percentiles and the longest, in ms' }),
    daily: z.array(
      z.object({
        date: z.string(),
        start: z.string(),
        end: z.string(),
        succeeded: z.number().int(),
        failed: z.number().int(),
        cancelled: z.number().int(),
        totalBytes: z.number(),
        maxBytes: z.number().nullable(),
      }),
    ),
    targets: z
      .array(
        z.object({
          name: z.string(),
          lastSuccess: z
            .object({
              backupId: z.string(),
              startedAt: z.string(),
              finishedAt: z.string(),
              durationMs: z.number(),
              sizeBytes: z.number().nullable(),
              degraded: z.boolean(),
            })
            .nullable(),
          lastFailure: z
            .object({
              backupId: z.string(),
              startedAt: z.string(),
              finishedAt: z.string().nullable(),
              errorCode: z.string().nullable(),
              errorMessage: z.string().nullable(),
            })
            .nullable(),
          consecutiveFailures: z.number().int(),
        }),
      )
      .openapi({ description: 'Of all time, not only the window' }),
    schedules: z
      .array(
        z.object({
          name: z.string(),
          target: z.string(),
          enabled: z.boolean(),
          cron: z.string(),
          timeZone: z.string(),
          nextRunAt: z.string().nullable(),
          consecutiveFailures: z.number().int(),
          lastSuccessAt: z.string().nullable(),
        }),
      )
      .nullable()
      .openapi({ description: 'Null when Temporal did not answer' }),
  })
  .openapi('RunStats');

export function statsRoutes(deps: ApiDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.openapi(
    createRoute({
      method: 'get',
      path: '/',
      summary: 'Run statistics: counts, success rate, step durations, daily sizes, last outcomes, schedules',
      request: { query: statsQuery },
      responses: { 200: json(statsSchema, 'Statistics'), ...errorResponses, ...notFoundResponse },
    }),
    async (c) => c.json(await runStats(deps, c.req.valid('query')), 200),
  );
  return app;
}
