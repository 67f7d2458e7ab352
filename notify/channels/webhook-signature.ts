// How webhook requests are signed and how a receiver checks them: HMAC-SHA256 over "<timestamp>.<body>".
// No I/O: the channel signs with it, receivers and tests verify with it.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** How far a request's timestamp may lie from the receiver's clock, either way, by default. */
export const defaultToleranceSeconds = 300;

/** The `Lifeboat-Signature` value for `body` sent at `timestamp` (unix seconds): `v1=<hex>`. */
export function signWebhookBody(input: {
  secret: string;
  timestamp: number;
  body: string | Uint8Array;
}): string {
  return `v1=${hmacHex(input.secret, String(input.timestamp), input.body)}`;
}

function hmacHex(secret: string, timestamp: string, body: string | Uint8Array): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
}

export interface WebhookSignatureCheck {
  secret: string;
  /** The `Lifeboat-Timestamp` header as received. */
  timestamp: string | null | undefined;
  /** The `Lifeboat-Signature` header as received: `v1=<hex>`, or several such separated by commas. */
  signature: string | null | undefined;
  /** The request body exactly as received, before any JSON parsing. */
  body: string | Uint8Array;
  /** The receiver's clock, unix seconds. */
  nowSeconds: number;
  toleranceSeconds?: number;
}

/**
 * True when `signature` is the HMAC of `body` at `timestamp` under `secret` and the timestamp lies within
 * the tolerance of `nowSeconds`, in the past or the future. A request replayed after the tolerance is
 * refused here; within it, the receiver refuses repeats by remembering the Lifeboat-Event-Id values (or
 * signatures) it saw during the last `toleranceSeconds`.
 */
export function verifyWebhookSignature(check: WebhookSignatureCheck): boolean {
  const { secret, timestamp, signature, body, nowSeconds } = check;
  const toleranceSeconds = check.toleranceSeconds ?? defaultToleranceSeconds;
  if (!secret || !timestamp || !signature || !/^\d{1,12}$/.test(timestamp)) return false;
  if (Math.abs(nowSeconds - Number(timestamp)) > toleranceSeconds) return false;
  const expected = Buffer.from(hmacHex(secret, timestamp, body), 'hex');
  return signature.split(',').some((candidate) => {
    const match = /^v1=([0-9a-f]{64})$/.exec(candidate.trim());
    return match?.[1] !== undefined && timingSafeEqual(Buffer.from(match[1], 'hex'), expected);
  });
}
