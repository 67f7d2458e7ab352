// The heartbeat of a long activity: Temporal hears from it every second, the workflow every few seconds.
import { Context } from '@temporalio/activity';
import type { SignalDefinition } from '@temporalio/common';
import type { ActivityDeps } from './deps.ts';

/**
 * Heartbeats every second with `measure()` and signals it to the workflow every `progressIntervalMs`,
 * until the returned function is called. A failing measurement or signal never fails the activity.
 */
export function startPulse<Update extends { bytes?: number }>(
  deps: Pick<ActivityDeps, 'reportProgress' | 'progressIntervalMs'>,
  workflowId: string | null,
  signal: SignalDefinition<[Update]>,
  measure: () => Update | Promise<Update>,
): () => void {
  const context = Context.current();
  let lastReportMs = 0;
  const timer = setInterval(() => {
    Promise.resolve(measure())
      .then(async (update) => {
        context.heartbeat(update);
        if (workflowId && Date.now() - lastReportMs >= deps.progressIntervalMs) {
          lastReportMs = Date.now();
          await deps.reportProgress(workflowId, signal, update);
        }
      })
      .catch(() => undefined);
  }, 1_000);
  return () => clearInterval(timer);
}
