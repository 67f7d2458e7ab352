// The webhook channel against a real HTTP receiver that checks every signature as the README tells receivers
// to: the notifier contract, then signing, replays refused, headers, redirects and what each status means.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebhookChannelConfig } from '../../notify/channel-config.ts';
import { verifyWebhookSignature } from '../../notify/channels/webhook-signature.ts';
import { DeliveryError } from '../../notify/notifier.ts';
import { createNotifier } from '../../notify/registry.ts';
import {
  startHttpReceiver,
  type HttpReceiver,
  type ReceivedRequest,
  type Responder,
} from '../harness/http-receiver.ts';
import { notifierContract, sampleNotification } from '../notify/contract.ts';

const secretEnv = 'LIFEBOAT_NOTIFY_TEST_WEBHOOK_SECRET';
const tokenEnv = 'LIFEBOAT_NOTIFY_TEST_WEBHOOK_TOKEN';
const secrets: Record<string, string> = {
  [secretEnv]: randomBytes(24).toString('hex'),
  [tokenEnv]: `Bearer ${randomBytes(16).toString('hex')}`,
};
const readSecret = (name: string) => secrets[name];

function header(request: ReceivedRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/**
 * A receiver as the README recipe has it: a signature that does not verify within the tolerance of its clock
 * is refused (401); an event id it has already acted on is acknowledged and not acted on again. The clock's
 * `offsetSeconds` moves it, to replay a request "later".
 */
function verifyingReceiver(secret: string, clock: { offsetSeconds: number }) {
  const actedOn: ReceivedRequest[] = [];
  const respond: Responder = (request) => {
    const valid = verifyWebhookSignature({
      secret,
      timestamp: header(request, 'lifeboat-timestamp'),
      signature: header(request, 'lifeboat-signature'),
      body: request.raw,
      nowSeconds: Math.floor(Date.now() / 1000) + clock.offsetSeconds,
    });
    if (!valid) return { status: 401, body: 'signature refused' };
    const eventId = (JSON.parse(request.body) as { eventId: string }).eventId;
    if (actedOn.some((earlier) => header(earlier, 'lifeboat-event-id') === eventId)) {
      return { status: 200, body: 'duplicate' };
    }
    actedOn.push(request);
    return { status: 204 };
  };
  return { respond, actedOn };
}

const webhookSecret = secrets[secretEnv] ?? '';
const clock = { offsetSeconds: 0 };
let verifying = verifyingReceiver(webhookSecret, clock);
let receiver: HttpReceiver;

/** The shared receiver as new: nothing received, nothing acted on, its clock right. */
function resetReceiver(): void {
  verifying = verifyingReceiver(webhookSecret, clock);
  clock.offsetSeconds = 0;
  receiver.reset();
}
const others: HttpReceiver[] = [];

function webhookChannel(url: string, overrides: Partial<WebhookChannelConfig> = {}): WebhookChannelConfig {
  return {
    kind: 'webhook',
    url: `${url}/hooks/lifeboat?team=dba`,
    secretEnv,
    headers: { 'X-Team': 'dba' },
    headerEnvs: { Authorization: tokenEnv },
    ...overrides,
  };
}

async function otherReceiver(responder?: Responder): Promise<HttpReceiver> {
  const started = await startHttpReceiver(responder);
  others.push(started);
  return started;
}

async function failureOf(sending: Promise<unknown>): Promise<DeliveryError> {
  const error = await sending.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(DeliveryError);
  for (const value of Object.values(secrets)) expect((error as Error).message).not.toContain(value);
  return error as DeliveryError;
}

beforeAll(async () => {
  receiver = await startHttpReceiver((request) => verifying.respond(request));
});

afterAll(async () => {
  for (const started of [receiver, ...others]) await started?.close();
});

notifierContract('webhook', () => {
  resetReceiver();
  const config = webhookChannel(receiver.url);
  return Promise.resolve({
    config,
    secrets,
    pointedAt: (port) => ({ config: { ...config, url: `http://127.0.0.1:${port}/hooks` }, secrets }),
    deliveries: () =>
      Promise.resolve(
        verifying.actedOn.map((request) => {
          const body = JSON.parse(request.body) as {
            title: string;
            facts: { label: string; value: string }[];
          };
          return { title: body.title, facts: body.facts };
        }),
      ),
    answer: (mode) => {
      if (mode === 'accept') receiver.respondWith((request) => verifying.respond(request));
      else receiver.answer(mode === 'transient' ? 503 : 400);
      return Promise.resolve();
    },
  });
});

describe('webhook notifier', () => {
  it('posts the notification as JSON, signed over the timestamp and the exact body', async () => {
    resetReceiver();
    const receipt = await createNotifier(webhookChannel(receiver.url), readSecret).send(sampleNotification);

    expect(receipt).toEqual({ detail: 'HTTP 204 No Content' });
    const [request] = receiver.accepted();
    expect(request).toMatchObject({ method: 'POST', path: '/hooks/lifeboat?team=dba' });
    expect(request?.headers).toMatchObject({
      'content-type': 'application/json',
      'lifeboat-event-id': sampleNotification.eventId,
      'lifeboat-timestamp': expect.stringMatching(/^\d+$/) as unknown,
      'lifeboat-signature': expect.stringMatching(/^v1=[0-9a-f]{64}$/) as unknown,
    });
    expect(Math.abs(Number(request?.headers['lifeboat-timestamp']) - Date.now() / 1000)).toBeLessThan(300);
    expect(JSON.parse(request?.body ?? '')).toEqual({
      eventId: sampleNotification.eventId,
      kind: sampleNotification.kind,
      severity: sampleNotification.severity,
      occurredAt: sampleNotification.occurredAt,
      title: sampleNotification.title,
      text: sampleNotification.text,
      facts: sampleNotification.facts,
      target: sampleNotification.target,
    });
  });

  it('lets the receiver refuse a replay once its tolerance has passed, and act only once on one within it', async () => {
    resetReceiver();
    await createNotifier(webhookChannel(receiver.url), readSecret).send(sampleNotification);
    const [original] = verifying.actedOn;
    const replay = async () => {
      const response = await fetch(`${receiver.url}${original?.path}`, {
        method: 'POST',
        headers: Object.fromEntries(
          ['content-type', 'lifeboat-event-id', 'lifeboat-timestamp', 'lifeboat-signature'].map((name) => [
            name,
            header(original as ReceivedRequest, name) ?? '',
          ]),
        ),
        body: original?.raw,
      });
      return `${response.status} ${await response.text()}`;
    };

    expect(await replay()).toBe('200 duplicate');
    clock.offsetSeconds = 301;
    expect(await replay()).toBe('401 signature refused');
    clock.offsetSeconds = -301;
    expect(await replay()).toBe('401 signature refused');
    expect(verifying.actedOn).toHaveLength(1);
  });

  it('fails for good when the receiver refuses the signature (another secret)', async () => {
    const strict = await otherReceiver(
      verifyingReceiver('another-secret-entirely', { offsetSeconds: 0 }).respond,
    );
    const error = await failureOf(
      createNotifier(webhookChannel(strict.url), readSecret).send(sampleNotification),
    );
    expect(error.permanent).toBe(true);
    expect(error.message).toBe(`webhook ${strict.url} answered HTTP 401 Unauthorized: signature refused`);
  });

  it('sends the plain headers as they are and the secret ones from their variables', async () => {
    const open = await otherReceiver();
    await createNotifier(webhookChannel(open.url), readSecret).send(sampleNotification);
    expect(open.requests[0]?.headers).toMatchObject({ 'x-team': 'dba', authorization: secrets[tokenEnv] });
  });

  it('sends no signature without a secret', async () => {
    const open = await otherReceiver();
    await createNotifier(webhookChannel(open.url, { secretEnv: undefined }), readSecret).send(
      sampleNotification,
    );
    expect(open.requests[0]?.headers['lifeboat-signature']).toBeUndefined();
    expect(open.requests[0]?.headers['lifeboat-event-id']).toBe(sampleNotification.eventId);
  });

  it('does not follow a redirect, and says so for good', async () => {
    const elsewhere = await otherReceiver();
    const redirecting = await otherReceiver(() => ({
      status: 307,
      headers: { location: `${elsewhere.url}/hooks` },
    }));
    const error = await failureOf(
      createNotifier(webhookChannel(redirecting.url), readSecret).send(sampleNotification),
    );
    expect(error.permanent).toBe(true);
    expect(error.message).toContain('a redirect, which Lifeboat does not follow');
    expect(elsewhere.requests).toEqual([]);
  });

  it('retries after 408, 429 and 5xx, and not after any other 4xx', async () => {
    const answering = await otherReceiver();
    const notifier = createNotifier(webhookChannel(answering.url), readSecret);
    const permanence: Record<number, boolean> = {};
    for (const status of [408, 429, 500, 502, 503, 504, 400, 401, 403, 404, 410, 413, 422]) {
      answering.answer(status, 'no', status === 429 ? { 'retry-after': '30' } : undefined);
      permanence[status] = (await failureOf(notifier.send(sampleNotification))).permanent;
    }
    expect(permanence).toEqual({
      408: false,
      429: false,
      500: false,
      502: false,
      503: false,
      504: false,
      400: true,
      401: true,
      403: true,
      404: true,
      410: true,
      413: true,
      422: true,
    });
    answering.answer(429, 'slow down', { 'retry-after': '30' });
    expect((await failureOf(notifier.send(sampleNotification))).message).toContain(
      'answered HTTP 429 Too Many Requests: slow down (Retry-After: 30)',
    );
  });

  it("quotes the start of a refusal's body with any secret it echoes removed", async () => {
    const echoing = await otherReceiver((request) => ({
      status: 400,
      body: `bad token ${header(request, 'authorization')} for ${request.path}`,
    }));
    const error = await failureOf(
      createNotifier(webhookChannel(echoing.url), readSecret).send(sampleNotification),
    );
    expect(error.message).toContain(
      'answered HTTP 400 Bad Request: bad token [redacted] for /hooks/lifeboat',
    );
  });

  it('refuses, for good and before connecting, a secret header value that is not a header value', async () => {
    const open = await otherReceiver();
    const broken: Record<string, string> = { ...secrets, [tokenEnv]: 'Bearer abc\r\nX-Injected: yes' };
    const error = await failureOf(
      createNotifier(webhookChannel(open.url), (name) => broken[name]).send(sampleNotification),
    );
    expect(error.permanent).toBe(true);
    expect(error.message).toContain('header Authorization');
    expect(error.message).not.toContain('X-Injected');
    expect(open.requests).toEqual([]);
  });
});
