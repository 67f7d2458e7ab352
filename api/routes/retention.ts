// /api/admin/backups/retention/preview: a dry run of a policy over a target's backups or given times.
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { getSettings } from '../../catalog/settings.ts';
import { getTarget } from '../../catalog/targets.ts';
import { planTarget } from '../../services/retention.ts';
import { planRetention, retentionOverridesSchema, retentionPolicySchema } from '../../domain/retention.ts';
import { instant, storableText } from '../../domain/text.ts';
import { requireRole } from '../auth.ts';
import type { ApiDeps, AppEnv } from '../context.ts';
import { errorResponses, notFoundResponse } from '../schemas.ts';
import { validationHook } from '../validation.ts';

const previewFields = { policy: retentionOverridesSchema.default({}), now: instant().optional() };

/** A target's backups, or given times: one or the other, as two shapes the document names with anyOf. */
const previewBody = z
  .union(
    [
      z.object({ ...previewFields, target: storableText() }).strict(),
      z.object({ ...previewFields, timestamps: z.array(instant()).max(200_000) }).strict(),
    ],
    { error: 'give either target or timestamps' },
  )
  .openapi('RetentionPreviewRequest');

const previewResponse = z
  .object({
    policy: z.record(z.string(), z.unknown()),
    keep: z.array(
      z.object({
        id: z.string().optional(),
        time: z.string(),
        reasons: z.array(z.string()),
        expiresAt: z.string().nullable(),
      }),
    ),
    remove: z.array(z.object({ id: z.string().optional(), time: z.string(), reason: z.string() })),
  })
  .openapi('RetentionPreview');

export function retentionRoutes(deps: ApiDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.openapi(
    createRoute({
      method: 'post',
      path: '/preview',
      operationId: 'previewRetention',
      summary: 'What a retention policy would keep and remove; changes nothing',
      description:
        'Give a target (its backups, its policy overridden by `policy`) or a list of timestamps (all taken as ' +
        'successful backups, with the global policy overridden by `policy`).',
      middleware: [requireRole('operator')] as const,
      request: { body: { content: { 'application/json': { schema: previewBody } }, required: true } },
      responses: {
        200: { description: 'The plan', content: { 'application/json': { schema: previewResponse } } },
        ...errorResponses,
        ...notFoundResponse,
      },
    }),
    async (c) => {
      const request = c.req.valid('json');
      const now = request.now ? new Date(request.now) : new Date();
      const settings = await getSettings(deps.db);
      if ('target' in request) {
        const target = await getTarget(deps.db, request.target);
        const policy = retentionPolicySchema.parse({
          ...settings.retention,
          ...(target.retention ?? {}),
          ...request.policy,
        });
        const { plan } = await planTarget(deps.db, target.id, now, policy);
        return c.json(
          {
            policy,
            keep: plan.keep.map((k) => ({
              id: k.id,
              time: k.time.toISOString(),
              reasons: k.reasons,
              expiresAt: k.expiresAt?.toISOString() ?? null,
            })),
            remove: plan.remove.map((r) => ({ id: r.id, time: r.time.toISOString(), reason: r.reason })),
          },
          200,
        );
      }
      const times = request.timestamps;
      const policy = retentionPolicySchema.parse({ ...settings.retention, ...request.policy });
      const plan = planRetention(
        times.map((time, index) => ({
          id: String(index),
          time: new Date(time),
          status: 'completed' as const,
          protected: false,
          sizeBytes: 0,
          trigger: 'manual',
        })),
        policy,
        now,
      );
      const given = (id: string) => times[Number(id)] ?? id;
      return c.json(
        {
          policy,
          keep: plan.keep.map((k) => ({
            time: given(k.id),
            reasons: k.reasons,
            expiresAt: k.expiresAt?.toISOString() ?? null,
          })),
          remove: plan.remove.map((r) => ({ time: given(r.id), reason: r.reason })),
        },
        200,
      );
    },
  );

  return app;
}
