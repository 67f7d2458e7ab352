// notifyWorkflow: one event delivered to every channel its rules name, each channel on its own; emitEvent
// starts it from any workflow without ever failing or delaying that workflow.
import { WorkflowIdReusePolicy } from '@temporalio/common';
import { log, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import { notifyWorkflowId, type LifeboatEvent } from '../domain/notifications/events.ts';
import type { Notification } from '../domain/notifications/render.ts';
import { describeFailure } from './failure.ts';
import { notifyBookkeepingOptions, notifyDeliveryOptions, notifyTestOptions } from './options.ts';
import { startAbandonedChild } from './start-abandoned.ts';

const bookkeeping = proxyActivities<Activities>(notifyBookkeepingOptions);
const delivering = proxyActivities<Activities>(notifyDeliveryOptions);
const testing = proxyActivities<Activities>(notifyTestOptions);

export interface NotifyWorkflowInput {
  event: LifeboatEvent;
}

export interface ChannelOutcome {
  channelId: string;
  status: 'sent' | 'failed' | 'skipped';
  /** What the receiver answered (sent), or why it was not sent. Never a secret. */
  detail: string;
}

export interface NotifyWorkflowResult {
  eventId: string;
  deliveries: ChannelOutcome[];
  /** The events this one brought about, each delivered by a workflow of its own. */
  followUps: string[];
}

/**
 * Starts the delivery of `event` as a workflow of its own, `notify/<event id>`, that outlives the caller.
 * The id is never reused: a second start for the same event (a retried step, a replayed task) finds it
 * taken and is dropped, so an event is delivered once.
 */
export async function emitEvent(event: LifeboatEvent): Promise<void> {
  await startAbandonedChild(
    notifyWorkflow,
    {
      workflowId: notifyWorkflowId(event),
      args: [{ event }],
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      staticSummary: `Notification ${event.kind}`,
    },
    'A notification could not be started; it is not delivered',
  );
}

/** Delivers to one channel; the final failure (given up, or refused for good) is recorded and answered. */
async function deliverTo(
  channelId: string,
  eventId: string,
  notification: Notification,
  activities: Pick<Activities, 'deliverNotification'>,
  test = false,
): Promise<ChannelOutcome> {
  try {
    const outcome = await activities.deliverNotification({ eventId, channelId, notification, test });
    return { channelId, status: outcome.status, detail: outcome.detail };
  } catch (error) {
    const failure = describeFailure(error);
    log.warn('A notification was not delivered', { eventId, channelId, code: failure.code });
    await bookkeeping.recordNotificationGivenUp({ eventId, channelId, error: failure.message });
    return { channelId, status: 'failed', detail: failure.message };
  }
}

/**
 * Rules and episodes decide the channels and the message; then every channel gets its own activity, all at
 * once, so one that is down (retried for hours) delays none of the others.
 */
export async function notifyWorkflow(input: NotifyWorkflowInput): Promise<NotifyWorkflowResult> {
  const { event } = input;
  const prepared = await bookkeeping.prepareNotification({ event });
  for (const followUp of prepared.followUps) await emitEvent(followUp);
  const deliveries = await Promise.all(
    prepared.channelIds.map((channelId) => deliverTo(channelId, event.id, prepared.notification, delivering)),
  );
  return { eventId: event.id, deliveries, followUps: prepared.followUps.map((followUp) => followUp.id) };
}

export interface NotifyTestInput {
  eventId: string;
  channelId: string;
  notification: Notification;
}

/** The API's test of one channel, enabled or not: one attempt on a worker, with the worker's secrets. */
export async function notifyTestWorkflow(input: NotifyTestInput): Promise<ChannelOutcome> {
  return deliverTo(input.channelId, input.eventId, input.notification, testing, true);
}

export interface StaleCheckResult {
  /** The events the check found (target.stale, target.fresh, storage.nearly_full), each started. */
  emitted: string[];
}

/** The dead-man's check, run by the schedule `lifeboat-notify-stale-check`: finds and tells each episode. */
export async function notifyStaleCheckWorkflow(): Promise<StaleCheckResult> {
  const events = await bookkeeping.checkFreshness();
  for (const event of events) await emitEvent(event);
  return { emitted: events.map((event) => event.id) };
}
