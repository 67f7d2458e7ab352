// The generic webhook channel: the notification as JSON, signed with HMAC-SHA256 when a secret is set.
import type { WebhookChannelConfig } from '../channel-config.ts';
import type { Notification, Notifier } from '../notifier.ts';
import { requireSecret, type ReadSecret } from './failures.ts';
import { postToReceiver } from './http.ts';
import { signWebhookBody } from './webhook-signature.ts';

/** The body every webhook receives: the notification's fields, `target` null when there is none. */
export function webhookBody(notification: Notification): string {
  const { eventId, kind, severity, occurredAt, title, text, facts } = notification;
  return JSON.stringify({
    eventId,
    kind,
    severity,
    occurredAt,
    title,
    text,
    facts: facts.map(({ label, value }) => ({ label, value })),
    target: notification.target ?? null,
  });
}

export function createWebhookNotifier(
  config: WebhookChannelConfig,
  readSecret: ReadSecret,
  options: { timeoutMs: number },
): Notifier {
  // The URL holds no secret (the settings refuse user:password), but its path and query may say more than
  // an error message needs to.
  const receiver = `webhook ${new URL(config.url).origin}`;
  return {
    kind: 'webhook',
    async send(notification, signal) {
      const secret = config.secretEnv ? requireSecret(readSecret, config.secretEnv, receiver) : undefined;
      const secretHeaders = Object.entries(config.headerEnvs ?? {}).map(
        ([name, envName]) => [name, requireSecret(readSecret, envName, receiver)] as const,
      );
      const body = webhookBody(notification);
      // A fresh timestamp on every attempt: receivers refuse old ones, and the event id stays the same.
      const timestamp = Math.floor(Date.now() / 1000);
      return postToReceiver({
        receiver,
        url: config.url,
        eventId: notification.eventId,
        contentType: 'application/json',
        headers: {
          ...config.headers,
          ...Object.fromEntries(secretHeaders),
          'lifeboat-timestamp': String(timestamp),
          ...(secret ? { 'lifeboat-signature': signWebhookBody({ secret, timestamp, body }) } : {}),
        },
        body,
        timeoutMs: options.timeoutMs,
        signal,
        secrets: [...(secret ? [secret] : []), ...secretHeaders.map(([, value]) => value)],
      });
    },
  };
}
