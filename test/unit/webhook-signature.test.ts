// Webhook signatures: what a receiver accepts (the exact body, signed with its secret, recently) and what it
// refuses (a changed body, another secret, a timestamp too old or too far ahead, a malformed header).
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  defaultToleranceSeconds,
  signWebhookBody,
  verifyWebhookSignature,
} from '../../notify/channels/webhook-signature.ts';

const secret = 'whsec-7b1f0c9e4d2a';
const body = '{"eventId":"backup.failed/1","title":"Backup of orders failed"}';
const sentAt = 1_796_000_000;

function check(overrides: Partial<Parameters<typeof verifyWebhookSignature>[0]> = {}): boolean {
  return verifyWebhookSignature({
    secret,
    timestamp: String(sentAt),
    signature: signWebhookBody({ secret, timestamp: sentAt, body }),
    body,
    nowSeconds: sentAt + 2,
    ...overrides,
  });
}

describe('webhook signature', () => {
  it('is v1= and the hex HMAC-SHA256 of "<timestamp>.<body>" under the secret', () => {
    const expected = createHmac('sha256', secret).update(`${sentAt}.${body}`).digest('hex');
    expect(signWebhookBody({ secret, timestamp: sentAt, body })).toBe(`v1=${expected}`);
  });

  it('verifies the exact body signed with the secret, as text or as the bytes received', () => {
    expect(check()).toBe(true);
    expect(check({ body: Buffer.from(body, 'utf8') })).toBe(true);
  });

  it('refuses a body changed by a single character', () => {
    expect(check({ body: body.replace('orders', 'Orders') })).toBe(false);
    expect(check({ body: `${body} ` })).toBe(false);
  });

  it('refuses a signature made with another secret, and an empty secret', () => {
    expect(check({ signature: signWebhookBody({ secret: 'another-secret', timestamp: sentAt, body }) })).toBe(
      false,
    );
    expect(check({ secret: '' })).toBe(false);
  });

  it('refuses a signature moved to another timestamp', () => {
    expect(check({ timestamp: String(sentAt + 1) })).toBe(false);
  });

  it('accepts a timestamp up to the tolerance old or ahead, and refuses one beyond it either way', () => {
    expect(defaultToleranceSeconds).toBe(300);
    expect(check({ nowSeconds: sentAt + 300 })).toBe(true);
    expect(check({ nowSeconds: sentAt - 300 })).toBe(true);
    expect(check({ nowSeconds: sentAt + 301 })).toBe(false);
    expect(check({ nowSeconds: sentAt - 301 })).toBe(false);
  });

  it('refuses a request replayed after the replay window, however valid its signature', () => {
    const replayedAt = sentAt + 3600;
    expect(check({ nowSeconds: replayedAt })).toBe(false);
    expect(check({ nowSeconds: replayedAt, toleranceSeconds: 7200 })).toBe(true);
    expect(check({ nowSeconds: sentAt + 61, toleranceSeconds: 60 })).toBe(false);
  });

  it('accepts the header listing several signatures when one of them matches', () => {
    const valid = signWebhookBody({ secret, timestamp: sentAt, body });
    const old = signWebhookBody({ secret: 'rotated-out', timestamp: sentAt, body });
    expect(check({ signature: `${old}, ${valid}` })).toBe(true);
    expect(check({ signature: `${old}` })).toBe(false);
  });

  it('refuses missing or malformed headers', () => {
    const hex = signWebhookBody({ secret, timestamp: sentAt, body }).slice(3);
    for (const signature of [
      undefined,
      null,
      '',
      hex,
      `v0=${hex}`,
      `v1=${hex.slice(2)}`,
      `v1=${hex.toUpperCase()}`,
    ]) {
      expect(check({ signature })).toBe(false);
    }
    for (const timestamp of [undefined, null, '', 'soon', `${sentAt}.5`, `-${sentAt}`, ` ${sentAt}`]) {
      expect(check({ timestamp })).toBe(false);
    }
  });
});
