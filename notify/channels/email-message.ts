// What a notification looks like as an email: subject, Message-ID, a plain-text body and an HTML body with
// the facts as a table. Pure: no connection, no clock.
import { createHash } from 'node:crypto';
import type { Notification, Severity } from '../notifier.ts';
import { oneLine } from './failures.ts';

const subjectPrefix: Record<Severity, string> = { info: '', warning: '[WARNING] ', critical: '[CRITICAL] ' };
const titleColour: Record<Severity, string> = { info: '#1f2937', warning: '#b45309', critical: '#b91c1c' };

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** The same event always gets the same Message-ID, so a mail sent twice by a retry is seen as one. */
export function emailMessageId(eventId: string): string {
  return `<${createHash('sha256').update(eventId).digest('hex')}@lifeboat>`;
}

export function emailSubject(notification: Notification): string {
  return oneLine(`${subjectPrefix[notification.severity]}${notification.title}`, 250);
}

/** Continuation lines of a multi-line value are indented, so each fact stays one block. */
function factLine(label: string, value: string): string {
  return `${label}: ${value.split(/\r?\n/).join('\n  ')}`;
}

export function emailText(notification: Notification): string {
  const { title, text, facts, eventId, kind, severity, occurredAt } = notification;
  return [
    title,
    '',
    ...(text ? [text, ''] : []),
    ...facts.map(({ label, value }) => factLine(label, value)),
    '',
    '-- ',
    `Lifeboat: ${kind} (${severity}) at ${occurredAt}, event ${eventId}`,
    '',
  ].join('\n');
}

function htmlLines(text: string): string {
  return text.split(/\r?\n/).map(escapeHtml).join('<br>\n');
}

export function emailHtml(notification: Notification): string {
  const { title, text, facts, eventId, kind, severity, occurredAt } = notification;
  const rows = facts
    .map(
      ({ label, value }) =>
        `<tr><th align="left" valign="top" style="padding:4px 12px 4px 0;color:#4b5563">${escapeHtml(label)}</th>` +
        `<td style="padding:4px 0">${htmlLines(value)}</td></tr>`,
    )
    .join('\n');
  return [
    '<!DOCTYPE html>',
    '<html><head><meta charset="utf-8"><meta name="color-scheme" content="light dark">',
    `<title>${escapeHtml(title)}</title></head>`,
    '<body style="font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:14px;color:#111827">',
    `<h2 style="font-size:18px;color:${titleColour[severity]}">${escapeHtml(title)}</h2>`,
    ...(text ? [`<p>${htmlLines(text)}</p>`] : []),
    ...(rows
      ? [`<table cellspacing="0" cellpadding="0" style="border-collapse:collapse">\n${rows}\n</table>`]
      : []),
    `<p style="margin-top:24px;font-size:12px;color:#6b7280">Lifeboat: ${escapeHtml(kind)} (${escapeHtml(severity)}) at ` +
      `${escapeHtml(occurredAt)}, event ${escapeHtml(eventId)}</p>`,
    '</body></html>',
    '',
  ].join('\n');
}
