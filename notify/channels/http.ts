// One HTTP POST to a notification receiver (webhook, Slack, Teams, ntfy) and what its answer means:
// delivered (2xx), worth retrying (408, 429, 5xx, no connection, no answer in time) or not (the rest).
import type { DeliveryReceipt } from '../notifier.ts';
import { deliveryFailure, isCertificateError, oneLine } from './failures.ts';

export interface HttpPost {
  /** How messages name the receiver, e.g. `webhook https://hooks.example.com`; never a secret. */
  receiver: string;
  url: string;
  /** The event id, sent as `Lifeboat-Event-Id` so that the receiver can deduplicate. */
  eventId: string;
  contentType: string;
  headers?: Record<string, string>;
  body: string;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Values that must never appear in an error message: tokens, secret URLs, secret header values. */
  secrets: readonly string[];
}

/** How much of a refusal's body goes into the error: enough for Slack's `no_service` or a JSON error. */
const snippetBytes = 512;
const snippetChars = 200;

/** The event id as a header value: printable ASCII as it is, anything else percent-encoded. */
export function eventIdHeader(eventId: string): string {
  return /^[\x21-\x7e]+$/.test(eventId) ? eventId : encodeURIComponent(eventId);
}

/** A URL that is itself a secret, and the parts of it an echo could show on their own. */
export function secretUrlParts(url: string): string[] {
  const { pathname, search } = new URL(url);
  return [url, pathname, search];
}

export async function postToReceiver(post: HttpPost): Promise<DeliveryReceipt> {
  const { receiver, secrets } = post;
  const headers = new Headers();
  for (const [name, value] of Object.entries({
    'user-agent': 'Lifeboat',
    ...post.headers,
    'content-type': post.contentType,
    'lifeboat-event-id': eventIdHeader(post.eventId),
  })) {
    try {
      headers.set(name, value);
    } catch {
      // The value may be a secret read from the environment: name the header, never show the value.
      throw deliveryFailure(
        `${receiver}: the value of header ${name} is not a valid header value`,
        true,
        secrets,
      );
    }
  }

  const timeout = AbortSignal.timeout(post.timeoutMs);
  const signal = post.signal ? AbortSignal.any([post.signal, timeout]) : timeout;
  let response: Response;
  try {
    response = await fetch(post.url, {
      method: 'POST',
      headers,
      body: post.body,
      redirect: 'manual',
      signal,
    });
  } catch (error) {
    throw requestFailure(error, post, timeout);
  }
  const snippet = await bodySnippet(response, response.ok);
  const status = `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
  if (response.ok) return { detail: status };

  const said = snippet ? `: ${snippet}` : '';
  if (response.status >= 300 && response.status < 400) {
    throw deliveryFailure(
      `${receiver} answered ${status}, a redirect, which Lifeboat does not follow: configure the URL it points to`,
      true,
      secrets,
    );
  }
  const retryable = response.status === 408 || response.status === 429 || response.status >= 500;
  const retryAfter = response.headers.get('retry-after');
  const wait = retryable && retryAfter ? ` (Retry-After: ${oneLine(retryAfter, 40)})` : '';
  throw deliveryFailure(`${receiver} answered ${status}${said}${wait}`, !retryable, secrets);
}

function requestFailure(error: unknown, post: HttpPost, timeout: AbortSignal) {
  const { receiver, secrets } = post;
  if (post.signal?.aborted) return deliveryFailure(`${receiver}: delivery aborted`, false, secrets);
  if (timeout.aborted) {
    return deliveryFailure(`${receiver}: no answer within ${post.timeoutMs} ms`, false, secrets);
  }
  const cause = (error as Error & { cause?: { code?: string; message?: string } }).cause;
  const reason = oneLine(cause?.message ?? (error as Error).message, snippetChars);
  if (isCertificateError(cause?.code)) {
    return deliveryFailure(
      `${receiver}: its TLS certificate was refused (${cause?.code}): ${reason}`,
      true,
      secrets,
    );
  }
  return deliveryFailure(`${receiver} could not be reached: ${reason}`, false, secrets);
}

/** The start of a refusal's body as one line; the body of an answer that is `discard`ed goes unread. */
async function bodySnippet(response: Response, discard: boolean): Promise<string> {
  if (!response.body) return '';
  if (discard) {
    await response.body.cancel().catch(() => undefined);
    return '';
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    // Leaving the loop early cancels the rest of the body.
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      chunks.push(chunk);
      size += chunk.byteLength;
      if (size >= snippetBytes) break;
    }
  } catch {
    // A body cut off midway: what arrived is enough to say what the receiver meant.
  }
  return oneLine(Buffer.concat(chunks).subarray(0, snippetBytes).toString('utf8'), snippetChars);
}
