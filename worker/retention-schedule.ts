// The daily Temporal Schedule that applies every target's retention policy, created when a worker starts.
import type { Client } from '@temporalio/client';
import type { retentionSweepWorkflow } from '../workflows/retention.ts';
import { ensureSchedule } from './ensure-schedule.ts';

export const retentionScheduleId = 'lifeboat-retention-daily';
/** 04:00 UTC: after the default daily backups at 03:00. */
export const retentionCron = '0 4 * * *';

/** Creates the schedule, or points an existing one at this deployment's task queue. Idempotent. */
export async function ensureRetentionSchedule(client: Client, taskQueue: string): Promise<void> {
  await ensureSchedule(client, {
    scheduleId: retentionScheduleId,
    spec: { cronExpressions: [retentionCron] },
    action: {
      type: 'startWorkflow',
      workflowType: 'retentionSweepWorkflow',
      taskQueue,
      workflowId: 'retention/daily',
      args: [] as Parameters<typeof retentionSweepWorkflow>,
      staticSummary: 'Daily retention for every target',
    },
    policies: { overlap: 'SKIP', catchupWindow: 6 * 60 * 60 * 1000 },
    memo: { lifeboat: 'retention-schedule' },
  });
}
