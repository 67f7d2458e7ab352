// When each activity of a finished workflow run was scheduled, started and closed, from its Temporal history.
import type { WorkflowHandle } from '@temporalio/client';

export interface ActivityWindow {
  name: string;
  scheduledAtMs: number;
  startedAtMs: number;
  closedAtMs: number;
}

interface Timestamp {
  seconds?: unknown;
  nanos?: number | null;
}

function toMs(timestamp: Timestamp | null | undefined): number {
  return Number(timestamp?.seconds ?? 0) * 1000 + (timestamp?.nanos ?? 0) / 1e6;
}

/** Every activity of the run in the order it was scheduled; a retried one appears once, with its last attempt. */
export async function activityWindows(handle: WorkflowHandle): Promise<ActivityWindow[]> {
  const history = await handle.fetchHistory();
  const byScheduledId = new Map<number, ActivityWindow>();
  for (const event of history.events ?? []) {
    const atMs = toMs(event.eventTime);
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled) {
      byScheduledId.set(Number(event.eventId), {
        name: scheduled.activityType?.name ?? 'unknown',
        scheduledAtMs: atMs,
        startedAtMs: Number.NaN,
        closedAtMs: Number.NaN,
      });
    }
    const started = event.activityTaskStartedEventAttributes;
    const window = started && byScheduledId.get(Number(started.scheduledEventId));
    if (window) window.startedAtMs = atMs;
    const closed =
      event.activityTaskCompletedEventAttributes ??
      event.activityTaskFailedEventAttributes ??
      event.activityTaskTimedOutEventAttributes ??
      event.activityTaskCanceledEventAttributes;
    const closing = closed && byScheduledId.get(Number(closed.scheduledEventId));
    if (closing) closing.closedAtMs = atMs;
  }
  return [...byScheduledId.values()];
}
