// GET /health, unauthenticated: can Lifeboat reach its catalog and Temporal, and is a worker polling?
import { Hono } from 'hono';
import { checkHealth } from '../../services/health.ts';
import type { ApiDeps, AppEnv } from '../context.ts';

export function healthRoutes(deps: ApiDeps) {
  const app = new Hono<AppEnv>();
  app.get('/', async (c) => {
    const { ok, checks } = await checkHealth(deps);
    return c.json({ status: ok ? 'ok' : 'degraded', checks }, ok ? 200 : 503);
  });
  return app;
}
