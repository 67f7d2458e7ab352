// The Temporal Schedule of the nightly restore drills, created when a worker starts.
import type { Client } from '@temporalio/client';
import type { drillScheduleWorkflow } from '../workflows/drill.ts';
import { ensureSchedule } from './ensure-schedule.ts';

export const drillScheduleId = 'lifeboat-drill-nightly';

/** Creates the schedule, or points an existing one at this deployment's task queue. Idempotent. */
export async function ensureDrillSchedule(client: Client, taskQueue: string): Promise<void> {
  await ensureSchedule(client, {
    scheduleId: drillScheduleId,
    // After the usual night's backups (03:00) and retention (04:00).
    spec: { calendars: [{ hour: 5, minute: 0 }] },
    action: {
      type: 'startWorkflow',
      workflowType: 'drillScheduleWorkflow',
      taskQueue,
      workflowId: 'drill/nightly',
      args: [] as Parameters<typeof drillScheduleWorkflow>,
      staticSummary: "Drill each target's newest backup (and on Sundays an older one)",
    },
    policies: { overlap: 'SKIP', catchupWindow: 3_600_000 },
    memo: { lifeboat: 'drill-nightly' },
  });
}
