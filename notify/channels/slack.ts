// The Slack-compatible channel: an incoming-webhook message with `text` and Block Kit `blocks`. Slack shows
// the blocks; Mattermost and Discord's `/slack` endpoint show `text`, which therefore carries everything.
import type { Notification, Severity } from '../notifier.ts';
import { secretUrlChannel } from './secret-url.ts';

/** Slack's limits: header text, section text, one field, fields per section. */
const headerChars = 150;
const sectionChars = 3000;
const fieldChars = 2000;
const fieldsPerSection = 10;
/** Blocks a message may hold is 50: a header, the text, the context, and the rest for facts. */
const factSections = 40;

const severityEmoji: Record<Severity, string> = {
  info: ':information_source:',
  warning: ':warning:',
  critical: ':rotating_light:',
};

/** Slack's mrkdwn reserves &, < and >: escaped, a value shows as it is and cannot mention or link. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function truncate(text: string, maxChars: number): string {
  return text.length > maxChars ? `${text.slice(0, maxChars - 1)}…` : text;
}

export function slackPayload(notification: Notification) {
  const { title, text, facts, severity, kind, occurredAt } = notification;
  const fields = facts.map(({ label, value }) => ({
    type: 'mrkdwn' as const,
    text: truncate(`*${escapeMrkdwn(label)}*\n${escapeMrkdwn(value)}`, fieldChars),
  }));
  const sections = [];
  for (let start = 0; start < fields.length && sections.length < factSections; start += fieldsPerSection) {
    sections.push({ type: 'section' as const, fields: fields.slice(start, start + fieldsPerSection) });
  }
  const fallback = [
    `${severityEmoji[severity]} *${escapeMrkdwn(title)}*`,
    escapeMrkdwn(text),
    ...facts.map(({ label, value }) => `*${escapeMrkdwn(label)}:* ${escapeMrkdwn(value)}`),
  ].join('\n');
  return {
    text: fallback,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: truncate(title, headerChars), emoji: true } },
      ...(text
        ? [{ type: 'section', text: { type: 'mrkdwn', text: truncate(escapeMrkdwn(text), sectionChars) } }]
        : []),
      ...sections,
      {
        type: 'context',
        elements: [
          {
            type: 'mrkdwn',
            text: `${severityEmoji[severity]} ${severity} · ${escapeMrkdwn(kind)} · ${escapeMrkdwn(occurredAt)} · Lifeboat`,
          },
        ],
      },
    ],
  };
}

// The incoming-webhook URL is the secret.
export const createSlackNotifier = secretUrlChannel({
  kind: 'slack',
  name: 'Slack webhook',
  payload: slackPayload,
});
