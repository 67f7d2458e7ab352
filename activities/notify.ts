// The notification activities: an event's channels and message prepared, one channel's delivery (each
// attempt recorded, never sent twice), a delivery given up, and the dead-man's check.
import { ApplicationFailure, Context } from '@temporalio/activity';
import {
  beginDeliveryAttempt,
  findChannel,
  recordDeliveryFailure,
  recordDeliverySent,
} from '../catalog/notifications.ts';
import { LifeboatError } from '../domain/errors.ts';
import type { LifeboatEvent } from '../domain/notifications/events.ts';
import type { Notification } from '../domain/notifications/render.ts';
import { channelConfigSchema, channelEnvNames } from '../notify/channel-config.ts';
import { DeliveryError } from '../notify/notifier.ts';
import { createNotifier } from '../notify/registry.ts';
import { checkFreshness, prepareEvent, type PreparedNotification } from '../services/notification-events.ts';
import type { ActivityDeps } from './deps.ts';

/** How long one send may take before the channel gives up on the receiver; a test is answered sooner. */
const sendTimeoutMs = 30_000;
const testSendTimeoutMs = 10_000;
const heartbeatIntervalMs = 3_000;

export interface DeliveryRequest {
  eventId: string;
  channelId: string;
  notification: Notification;
  /** A test from the API: sent to a disabled channel too. */
  test?: boolean | undefined;
}

export interface DeliveryOutcome {
  status: 'sent' | 'skipped';
  detail: string;
}

/** A failure the retry policy sees: `permanent` ones are not retried. The message is the channel's own. */
function deliveryFailure(message: string, permanent: boolean): ApplicationFailure {
  return ApplicationFailure.create({ type: 'CONNECTION_FAILED', message, nonRetryable: permanent });
}

export function createNotifyActivities(deps: ActivityDeps) {
  /**
   * Reads a secret a channel names, from this worker's environment, at send time. A name the policy
   * refuses (the API checked it too) throws VALIDATION_FAILED; none is given when the worker has no reader.
   */
  const readSecret = (name: string): string | undefined => deps.readNotifyEnv?.(name);

  return {
    prepareNotification(request: { event: LifeboatEvent }): Promise<PreparedNotification> {
      return prepareEvent(deps.db, request.event);
    },

    /**
     * Sends one notification through one channel. The delivery's row counts every attempt; one already
     * sent is not sent again, so a retried activity or a second workflow for the event never repeats it.
     * The channel's settings are read from the catalog now and its secrets from this worker's environment,
     * never carried in the workflow's history.
     */
    async deliverNotification(request: DeliveryRequest): Promise<DeliveryOutcome> {
      const { eventId, channelId, notification } = request;
      const key = { eventId, channelId };
      const channel = await findChannel(deps.db, channelId);
      if (!channel) return { status: 'skipped', detail: 'The channel was deleted before the delivery.' };
      const attempt = await beginDeliveryAttempt(deps.db, {
        ...key,
        eventKind: notification.kind,
        targetName: notification.target ?? null,
      });
      if (!attempt.send) return { status: 'sent', detail: 'Sent already; not sent again.' };
      const refuse = async (message: string): Promise<never> => {
        await recordDeliveryFailure(deps.db, key, message, true);
        throw deliveryFailure(message, true);
      };
      if (!channel.enabled && !request.test) await refuse('The channel was disabled before the delivery.');
      const parsed = channelConfigSchema.safeParse(channel.config);
      if (!parsed.success) {
        await refuse(`The channel's stored settings are no longer valid: ${parsed.error.issues[0]?.message}`);
        return { status: 'skipped', detail: 'unreachable' };
      }
      for (const name of channelEnvNames(parsed.data)) {
        try {
          readSecret(name);
        } catch (error) {
          await refuse(error instanceof LifeboatError ? error.message : String(error));
        }
      }

      const context = Context.current();
      const notifier = createNotifier(parsed.data, readSecret, {
        timeoutMs: request.test ? testSendTimeoutMs : sendTimeoutMs,
      });
      const beat = setInterval(() => context.heartbeat(), heartbeatIntervalMs);
      try {
        const receipt = await notifier.send(notification, context.cancellationSignal);
        await recordDeliverySent(deps.db, key, receipt.detail);
        return { status: 'sent', detail: receipt.detail };
      } catch (error) {
        if (context.cancellationSignal.aborted) throw error;
        const permanent = error instanceof DeliveryError && error.permanent;
        const message = error instanceof Error ? error.message : String(error);
        await recordDeliveryFailure(deps.db, key, message, permanent);
        throw deliveryFailure(message, permanent);
      } finally {
        clearInterval(beat);
      }
    },

    /** Marks a delivery failed for good: its retries ran out, or the receiver refused it. */
    async recordNotificationGivenUp(request: {
      eventId: string;
      channelId: string;
      error: string;
    }): Promise<void> {
      await recordDeliveryFailure(deps.db, request, request.error, true);
    },

    /** The dead-man's check; the run id of the checking workflow names what it finds, so a retry finds the same. */
    checkFreshness(): Promise<LifeboatEvent[]> {
      const { info } = Context.current();
      return checkFreshness(deps.db, new Date(), info.workflowExecution?.runId ?? info.activityId);
    },
  };
}
