// Live events from the activities: published best effort, with the run's target looked up when not given.
import { Context } from '@temporalio/activity';
import { liveEventTarget, publishLiveEvent } from '../catalog/events.ts';
import type { LiveEventInput } from '../domain/live-events.ts';
import type { ActivityDeps } from './deps.ts';

/** The run an activity works for, as its events name it. */
export type LiveRun = { backupId: string } | { restoreId: string };

type RunTarget = { target: string; targetId: string | undefined };

/** Targets of the runs this process announced lately: a progress event then costs no lookup. */
const targetsByRun = new Map<string, RunTarget>();
const maxRememberedRuns = 1_000;

function remember(key: string, found: RunTarget): void {
  targetsByRun.delete(key);
  targetsByRun.set(key, found);
  if (targetsByRun.size > maxRememberedRuns) targetsByRun.delete(targetsByRun.keys().next().value!);
}

function warn(message: string, error: unknown): void {
  // Inside an activity its own logger (the worker's log, with the run's ids); elsewhere the console.
  const detail = { error: error instanceof Error ? error.message : String(error) };
  try {
    Context.current().log.warn(message, detail);
  } catch {
    console.warn(`lifeboat: ${message}: ${detail.error}`);
  }
}

function runKey(event: LiveEventInput): string | undefined {
  if (event.backupId) return `backup:${event.backupId}`;
  if (event.restoreId) return `restore:${event.restoreId}`;
  return undefined;
}

/**
 * Publishes `event` for the API's live streams. Never throws and never fails the step: a catalog that
 * cannot take the event costs the stream that event, logged here.
 */
export async function announce(deps: Pick<ActivityDeps, 'db'>, event: LiveEventInput): Promise<void> {
  const key = runKey(event);
  let published = event;
  if (key && event.target !== undefined) {
    remember(key, { target: event.target, targetId: event.targetId });
  } else if (key) {
    try {
      const found =
        targetsByRun.get(key) ??
        (await liveEventTarget(
          deps.db,
          event.backupId ? { backupId: event.backupId } : { restoreId: event.restoreId! },
        ));
      if (found) {
        remember(key, found);
        published = { ...event, ...found };
      }
    } catch (error) {
      warn('The target of a live event could not be read', error);
    }
  }
  await publishLiveEvent(deps.db, published, (error) => warn('A live event could not be published', error));
}
