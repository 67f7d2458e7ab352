// ensureSchedule: one Temporal Schedule that Lifeboat itself owns, created when a worker starts or kept.
import { ScheduleAlreadyRunning, type Client, type ScheduleOptions } from '@temporalio/client';

/**
 * Creates the schedule, or, where it exists already, points its action at this deployment's task queue
 * (a renamed LIFEBOAT_TASK_QUEUE); its spec and policies stay as they are. Idempotent.
 */
export async function ensureSchedule(client: Client, options: ScheduleOptions): Promise<void> {
  try {
    await client.schedule.create(options);
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
    const handle = client.schedule.getHandle(options.scheduleId);
    const current = await handle.describe();
    if (current.action.taskQueue !== options.action.taskQueue) {
      await handle.update((previous) => ({ ...previous, action: options.action }));
    }
  }
}
