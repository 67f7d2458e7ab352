// The notifier for a channel's settings, by kind.
import { channelConfigSchema, type ChannelConfig } from './channel-config.ts';
import { createEmailNotifier } from './channels/email.ts';
import type { ReadSecret } from './channels/failures.ts';
import { createNtfyNotifier } from './channels/ntfy.ts';
import { createSlackNotifier } from './channels/slack.ts';
import { createTeamsNotifier } from './channels/teams.ts';
import { createWebhookNotifier } from './channels/webhook.ts';
import { DeliveryError, type Notifier } from './notifier.ts';

/** How long one delivery may take, connection to answer, unless the caller says otherwise. */
export const defaultDeliveryTimeoutMs = 30_000;

export interface NotifierOptions {
  timeoutMs?: number;
  /** PEM certificates an SMTP relay's certificate may chain to besides the system's (a private CA). */
  trustedCa?: string;
}

/**
 * The notifier for `config`. Secrets are read through `readSecret` at every send, so a variable set later
 * is picked up; a missing one fails that send, permanently, naming the variable. Settings that do not
 * parse (a catalog row written by an older version, say) fail every send the same way.
 */
export function createNotifier(
  config: ChannelConfig,
  readSecret: ReadSecret,
  options: NotifierOptions = {},
): Notifier {
  const timeoutMs = options.timeoutMs ?? defaultDeliveryTimeoutMs;
  const parsed = channelConfigSchema.safeParse(config);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join('.') || 'settings'}: ${issue.message}`,
    );
    const error = new DeliveryError(
      `The ${config.kind} channel's settings are invalid: ${problems.join('; ')}`,
      true,
    );
    return { kind: config.kind, send: () => Promise.reject(error) };
  }
  const settings = parsed.data;
  switch (settings.kind) {
    case 'email':
      return createEmailNotifier(settings, readSecret, { timeoutMs, trustedCa: options.trustedCa });
    case 'webhook':
      return createWebhookNotifier(settings, readSecret, { timeoutMs });
    case 'slack':
      return createSlackNotifier(settings, readSecret, { timeoutMs });
    case 'teams':
      return createTeamsNotifier(settings, readSecret, { timeoutMs });
    case 'ntfy':
      return createNtfyNotifier(settings, readSecret, { timeoutMs });
  }
}
