// The Microsoft Teams channel: a message with one Adaptive Card, as a Teams workflow (Power Automate
// "when a webhook request is received") posts it to a channel.
import type { Notification, Severity } from '../notifier.ts';
import { secretUrlChannel } from './secret-url.ts';

/** Adaptive Card text colours by severity. */
const titleColour: Record<Severity, string> = { info: 'Default', warning: 'Warning', critical: 'Attention' };

export function teamsPayload(notification: Notification) {
  const { title, text, facts, severity, kind, occurredAt } = notification;
  return {
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        contentUrl: null,
        content: {
          $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
          type: 'AdaptiveCard',
          version: '1.4',
          msteams: { width: 'Full' },
          body: [
            {
              type: 'TextBlock',
              text: title,
              size: 'Medium',
              weight: 'Bolder',
              color: titleColour[severity],
              wrap: true,
            },
            ...(text ? [{ type: 'TextBlock', text, wrap: true }] : []),
            ...(facts.length
              ? [{ type: 'FactSet', facts: facts.map(({ label, value }) => ({ title: label, value })) }]
              : []),
            {
              type: 'TextBlock',
              text: `${severity} · ${kind} · ${occurredAt} · Lifeboat`,
              isSubtle: true,
              size: 'Small',
              wrap: true,
            },
          ],
        },
      },
    ],
  };
}

// The workflow URL carries its signature (`sig=`), which makes it the secret.
export const createTeamsNotifier = secretUrlChannel({
  kind: 'teams',
  name: 'Teams webhook',
  payload: teamsPayload,
});
