// The ntfy channel: the text and facts POSTed to a topic URL, with Title, Priority (by severity) and Tags.
import type { NtfyChannelConfig } from '../channel-config.ts';
import type { Notification, Notifier, Severity } from '../notifier.ts';
import { oneLine, requireSecret, type ReadSecret } from './failures.ts';
import { postToReceiver } from './http.ts';

/** ntfy's priorities: 3 default, 4 high, 5 max (a phone sounds and vibrates for longer). */
export const ntfyPriority: Record<Severity, number> = { info: 3, warning: 4, critical: 5 };

/** Tags that name an emoji: ntfy shows them in front of the title. */
const severityTag: Record<Severity, string> = {
  info: 'information_source',
  warning: 'warning',
  critical: 'rotating_light',
};

/** ntfy.sh keeps messages up to 4096 bytes as text; a longer one would become an attachment. */
const maxBodyBytes = 4000;

/**
 * A header value ntfy reads back as it was: ASCII as it is, anything else as an RFC 2047 encoded word,
 * which ntfy decodes in Title and Tags.
 */
export function ntfyHeaderValue(text: string): string {
  const line = oneLine(text, 250);
  return /^[\x20-\x7e]*$/.test(line) ? line : `=?UTF-8?B?${Buffer.from(line, 'utf8').toString('base64')}?=`;
}

/** The message: the text, then one line per fact. */
export function ntfyBody(notification: Notification): string {
  const lines = [
    notification.text,
    '',
    ...notification.facts.map(({ label, value }) => `${label}: ${value}`),
  ];
  const body = lines.join('\n').trim();
  if (Buffer.byteLength(body, 'utf8') <= maxBodyBytes) return body;
  // Cut on a byte count, then drop the character the cut may have split; the ellipsis takes 3 bytes.
  const cut = Buffer.from(body, 'utf8')
    .subarray(0, maxBodyBytes - 3)
    .toString('utf8');
  return `${cut.replace(/\uFFFD$/, '')}…`;
}

/** Severity emoji, event kind and target; commas separate tags, so none stays inside one. */
export function ntfyTags(notification: Notification): string {
  return [severityTag[notification.severity], notification.kind, notification.target]
    .filter((tag): tag is string => Boolean(tag))
    .map((tag) => tag.replace(/,/g, ' '))
    .join(',');
}

export function createNtfyNotifier(
  config: NtfyChannelConfig,
  readSecret: ReadSecret,
  options: { timeoutMs: number },
): Notifier {
  const receiver = `ntfy ${new URL(config.url).origin}`;
  return {
    kind: 'ntfy',
    async send(notification, signal) {
      const token = config.tokenEnv ? requireSecret(readSecret, config.tokenEnv, receiver) : undefined;
      return postToReceiver({
        receiver,
        url: config.url,
        eventId: notification.eventId,
        contentType: 'text/plain; charset=utf-8',
        headers: {
          title: ntfyHeaderValue(notification.title),
          priority: String(ntfyPriority[notification.severity]),
          tags: ntfyHeaderValue(ntfyTags(notification)),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: ntfyBody(notification),
        timeoutMs: options.timeoutMs,
        signal,
        secrets: token ? [token] : [],
      });
    },
  };
}
