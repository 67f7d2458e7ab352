// Can Lifeboat reach its catalog and Temporal, and is a worker polling its task queue?
import { pingCatalog } from '../catalog/health.ts';
import type { ServiceDeps } from './deps.ts';

export interface Check {
  ok: boolean;
  detail?: string;
}

export interface Health {
  ok: boolean;
  checks: { catalog: Check; temporal: Check; worker: Check };
}

async function check(probe: () => Promise<string | undefined>): Promise<Check> {
  try {
    const detail = await probe();
    return detail ? { ok: true, detail } : { ok: true };
  } catch (error) {
    return { ok: false, detail: (error as Error).message };
  }
}

export async function checkHealth(deps: Pick<ServiceDeps, 'db' | 'temporal' | 'taskQueue'>): Promise<Health> {
  const [catalog, temporal, worker] = await Promise.all([
    check(async () => {
      await pingCatalog(deps.db);
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
  return { ok: catalog.ok && temporal.ok && worker.ok, checks: { catalog, temporal, worker } };
}
