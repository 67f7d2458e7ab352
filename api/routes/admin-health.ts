// GET /api/admin/health: the service checks and every target's verdict (ok / warning / critical) with reasons.
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { healthReasonCodes } from '../../domain/health.ts';
import { healthReport } from '../../services/health-report.ts';
import type { ApiDeps, AppEnv } from '../context.ts';
import { errorResponses, json } from '../schemas.ts';
import { validationHook } from '../validation.ts';

const verdict = z.enum(['ok', 'warning', 'critical']);

const check = z.object({ ok: z.boolean(), detail: z.string().optional() });

const reportSchema = z
  .object({
    status: verdict.openapi({ description: 'The worst target verdict; critical when a service check fails' }),
    evaluatedAt: z.string(),
    checks: z.object({ catalog: check, temporal: check, worker: check }),
    quota: z
      .object({ maxStorageBytes: z.number(), usedBytes: z.number(), usedFraction: z.number() })
      .nullable(),
    targets: z.array(
      z.object({
        id: z.string(),
        name: z.string(),
        verdict,
        reasons: z.array(
          z.object({
            code: z.enum(healthReasonCodes),
            severity: z.enum(['warning', 'critical']),
            message: z.string(),
          }),
        ),
        lastSuccessAt: z.string().nullable(),
        lastFailureAt: z.string().nullable(),
        consecutiveFailures: z.number().int(),
        schedules: z
          .array(z.object({ name: z.string(), intervalSeconds: z.number().nullable() }))
          .nullable()
          .openapi({ description: 'Enabled schedules; null when Temporal did not answer' }),
      }),
    ),
  })
  .openapi('HealthReport');

export function adminHealthRoutes(deps: ApiDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.openapi(
    createRoute({
      method: 'get',
      path: '/',
      summary: 'Service checks and a verdict per target, with the reasons',
      responses: { 200: json(reportSchema, 'The report'), ...errorResponses },
    }),
    async (c) => c.json(await healthReport(deps), 200),
  );
  return app;
}
