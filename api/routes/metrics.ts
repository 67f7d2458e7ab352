// GET /metrics: the Prometheus text exposition, behind LIFEBOAT_METRICS_TOKEN when one is set (never an
// API token: a scraper's credential opens nothing else).
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { createHash, timingSafeEqual } from 'node:crypto';
import { lifeboatVersion } from '../../config/version.ts';
import { LifeboatError } from '../../domain/errors.ts';
import { catalogMetrics, type LifeboatMetrics } from '../../services/metrics.ts';
import type { ApiDeps, AppEnv } from '../context.ts';
import { errorSchema, json } from '../schemas.ts';

/** The name of the metrics token's security scheme in the OpenAPI document. */
export const metricsSecurityScheme = 'metricsToken';

/** Compared as sha256 digests: constant time whatever the lengths, and nothing learnt from the timing. */
export function metricsTokenMatches(expected: string, authorization: string | undefined): boolean {
  const given = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
  if (given === undefined) return false;
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

export function metricsRoutes(deps: Pick<ApiDeps, 'db' | 'metricsToken'>) {
  const app = new OpenAPIHono<AppEnv>();
  // Made at the first scrape: an app that is never scraped starts no process-metric collectors.
  let metrics: LifeboatMetrics | undefined;
  const token = deps.metricsToken;
  app.openapi(
    createRoute({
      method: 'get',
      path: '/',
      summary: 'Prometheus metrics (text exposition format)',
      description: token
        ? 'Needs "Authorization: Bearer <LIFEBOAT_METRICS_TOKEN>"; API tokens are refused.'
        : 'Open: LIFEBOAT_METRICS_TOKEN is not set.',
      security: token ? [{ [metricsSecurityScheme]: [] }] : [],
      responses: {
        200: { description: 'The metrics', content: { 'text/plain': { schema: z.string() } } },
        401: json(errorSchema, 'Missing or wrong metrics token'),
      },
    }),
    async (c) => {
      if (token && !metricsTokenMatches(token, c.req.header('authorization'))) {
        c.header('www-authenticate', 'Bearer realm="lifeboat-metrics"');
        throw new LifeboatError('UNAUTHORIZED', 'Send the metrics token: "Authorization: Bearer <token>".');
      }
      metrics ??= catalogMetrics(deps.db, lifeboatVersion);
      const text = await metrics.render();
      return c.text(text, 200, { 'content-type': metrics.contentType });
    },
  );
  return app;
}
