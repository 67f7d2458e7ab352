// The Temporal Schedule of the notifications' dead-man's check, created when a worker starts.
import type { Client } from '@temporalio/client';
import type { notifyStaleCheckWorkflow } from '../workflows/notify.ts';
import { ensureSchedule } from './ensure-schedule.ts';

export const staleCheckScheduleId = 'lifeboat-notify-stale-check';
/** Often enough that a target going stale is told within a quarter of an hour of crossing its limit. */
export const staleCheckInterval = '15m';

/** Creates the schedule, or points an existing one at this deployment's task queue. Idempotent. */
export async function ensureStaleCheckSchedule(client: Client, taskQueue: string): Promise<void> {
  await ensureSchedule(client, {
    scheduleId: staleCheckScheduleId,
    spec: { intervals: [{ every: staleCheckInterval }] },
    action: {
      type: 'startWorkflow',
      workflowType: 'notifyStaleCheckWorkflow',
      taskQueue,
      workflowId: 'notify/stale-check',
      args: [] as Parameters<typeof notifyStaleCheckWorkflow>,
      staticSummary: 'Targets without a fresh backup, storage nearly full',
    },
    // A missed check is not worth catching up: the next one sees the same.
    policies: { overlap: 'SKIP', catchupWindow: 60_000 },
    memo: { lifeboat: 'notify-stale-check' },
  });
}
