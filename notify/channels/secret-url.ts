// The channels whose whole address is a secret URL held in a variable (Slack, Teams): the URL read and
// checked at every send, and the channel's JSON payload POSTed to it, no echo of the URL in an error.
import { receiverUrlProblem } from '../channel-config.ts';
import type { ChannelKind, Notification, Notifier } from '../notifier.ts';
import { deliveryFailure, requireSecret, type ReadSecret } from './failures.ts';
import { postToReceiver, secretUrlParts } from './http.ts';

export interface SecretUrlChannel {
  kind: ChannelKind;
  /** What the receiver is, e.g. `Slack webhook`; messages add the variable, never the URL. */
  name: string;
  /** The JSON body for one notification, in the receiver's own format. */
  payload(notification: Notification): unknown;
}

/** The notifier factory of such a channel, for settings that name the variable holding the URL. */
export function secretUrlChannel(channel: SecretUrlChannel) {
  return function createSecretUrlNotifier(
    config: { urlEnv: string },
    readSecret: ReadSecret,
    options: { timeoutMs: number },
  ): Notifier {
    const { urlEnv } = config;
    // The URL is the secret: messages name the variable that holds it.
    const receiver = `${channel.name} (${urlEnv})`;
    return {
      kind: channel.kind,
      async send(notification, signal) {
        const url = requireSecret(readSecret, urlEnv, receiver);
        const problem = receiverUrlProblem(url);
        if (problem) {
          throw deliveryFailure(`${receiver}: the variable does not hold a usable URL (${problem})`, true, [
            url,
          ]);
        }
        return postToReceiver({
          receiver,
          url,
          eventId: notification.eventId,
          contentType: 'application/json',
          body: JSON.stringify(channel.payload(notification)),
          timeoutMs: options.timeoutMs,
          signal,
          secrets: secretUrlParts(url),
        });
      },
    };
  };
}
