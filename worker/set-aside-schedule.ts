// The Temporal Schedule that drops the databases restores by swap set aside, created when a worker starts.
import type { Client } from '@temporalio/client';
import type { setAsideSweepWorkflow } from '../workflows/set-aside-sweep.ts';
import { ensureSchedule } from './ensure-schedule.ts';

export const setAsideSweepScheduleId = 'lifeboat-set-aside-sweep';

/** Creates the schedule, or points an existing one at this deployment's task queue. Idempotent. */
export async function ensureSetAsideSweepSchedule(client: Client, taskQueue: string): Promise<void> {
  await ensureSchedule(client, {
    scheduleId: setAsideSweepScheduleId,
    // Hourly: a set-aside database outlives its safetyRetentionHours by an hour at most.
    spec: { intervals: [{ every: '1h' }] },
    action: {
      type: 'startWorkflow',
      workflowType: 'setAsideSweepWorkflow',
      taskQueue,
      workflowId: 'restore/set-aside-sweep',
      args: [] as Parameters<typeof setAsideSweepWorkflow>,
      staticSummary: 'Drop the databases restores by swap kept aside, once their time is up',
    },
    policies: { overlap: 'SKIP', catchupWindow: 60_000 },
    memo: { lifeboat: 'set-aside-sweep' },
  });
}
