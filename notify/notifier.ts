// The one interface every notification channel implements, the message it delivers, and its one error.
import type { Notification } from '../domain/notifications/render.ts';

// The message is defined where events are worded (domain/notifications); channels import it from here, with
// the rest of their interface.
export type { Severity } from '../domain/notifications/events.ts';
export type { Notification };

export type ChannelKind = 'email' | 'webhook' | 'slack' | 'teams' | 'ntfy';

/** What a channel reports after a delivery the receiver accepted. */
export interface DeliveryReceipt {
  /** e.g. the SMTP server's reply, or the HTTP status. Never a secret. */
  detail: string;
}

/**
 * Thrown when a channel's receiver refused the notification or could not be reached. `permanent` when
 * another attempt cannot help: a 4xx other than 408/429, an SMTP 5xx, a missing secret variable, settings
 * that do not parse. The message names the receiver and what went wrong, never a secret.
 */
export class DeliveryError extends Error {
  override readonly name = 'DeliveryError';
  readonly permanent: boolean;

  constructor(message: string, permanent: boolean) {
    super(message);
    this.permanent = permanent;
  }
}

export interface Notifier {
  readonly kind: ChannelKind;
  /**
   * Delivers one notification; resolves when the receiver accepted it, rejects with DeliveryError
   * otherwise. Honours `signal` (the connection is closed) and gives up after the channel's timeout
   * (30 s unless the registry was told otherwise), both as retryable DeliveryErrors.
   */
  send(notification: Notification, signal?: AbortSignal): Promise<DeliveryReceipt>;
}
