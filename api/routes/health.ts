// GET /health, unauthenticated: can Lifeboat reach its catalog and Temporal, and is a worker polling?
import { Hono } from 'hono';
import type { ApiDeps, AppEnv } from '../context.ts';

type Check = { ok: boolean; detail?: string };

async function check(probe: () => Promise<string | undefined>): Promise<Check> {
  try {
    const detail = await probe();
    return detail ? { ok: true, detail } : { ok: true };
  } catch (error) {
    return { ok: false, detail: (error as Error).message };
  }
}

export function healthRoutes(deps: ApiDeps) {
  const app = new Hono<AppEnv>();
  app.get('/', async (c) => {
    const [catalog, temporal, worker] = await Promise.all([
      check(async () => {
        await deps.db.query('select 1');
        return undefined;
      }),
      check(async () => {
        await deps.temporal.workflowService.getSystemInfo({});
        return undefined;
      }),
      check(async () => {
        const queue = await deps.temporal.workflowService.describeTaskQueue({
          namespace: deps.temporal.options.namespace,
          taskQueue: { name: deps.taskQueue },
          taskQueueType: 1, // workflow tasks
        });
        const pollers = queue.pollers?.length ?? 0;
        if (pollers === 0) throw new Error(`no worker is polling task queue ${deps.taskQueue}`);
        return `${pollers} poller(s) on ${deps.taskQueue}`;
      }),
    ]);
    const ok = catalog.ok && temporal.ok && worker.ok;
    return c.json({ status: ok ? 'ok' : 'degraded', checks: { catalog, temporal, worker } }, ok ? 200 : 503);
  });
  return app;
}
