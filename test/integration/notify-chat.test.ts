// The Slack-compatible, Teams and ntfy channels against real HTTP receivers: the notifier contract for each,
// then the shapes of their payloads and headers as the services read them.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChannelConfig } from '../../notify/channel-config.ts';
import { DeliveryError, type Notification, type Severity } from '../../notify/notifier.ts';
import { createNotifier } from '../../notify/registry.ts';
import { startHttpReceiver, type HttpReceiver, type ReceivedRequest } from '../harness/http-receiver.ts';
import {
  notifierContract,
  sampleNotification,
  type ChannelUnderTest,
  type Fact,
} from '../notify/contract.ts';

const slackUrlEnv = 'LIFEBOAT_NOTIFY_TEST_SLACK_URL';
const teamsUrlEnv = 'LIFEBOAT_NOTIFY_TEST_TEAMS_URL';
const ntfyTokenEnv = 'LIFEBOAT_NOTIFY_TEST_NTFY_TOKEN';
/** Like the real ones, the webhook URLs carry their secret in the path or the query. */
const slackPath = `/services/T0LIFEBOAT/B0NOTIFY/${randomBytes(12).toString('hex')}`;
const teamsQuery = `?api-version=1&sig=${randomBytes(16).toString('base64url')}`;
const ntfyToken = `tk_${randomBytes(15).toString('hex')}`;

let receiver: HttpReceiver;

interface SlackPayload {
  text: string;
  blocks: {
    type: string;
    text?: { type: string; text: string };
    fields?: { type: string; text: string }[];
  }[];
}

interface TeamsPayload {
  type: string;
  attachments: {
    contentType: string;
    content: {
      type: string;
      version: string;
      body: { type: string; text?: string; color?: string; facts?: { title: string; value: string }[] }[];
    };
  }[];
}

const unescapeMrkdwn = (text: string) =>
  text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

function slackFacts(payload: SlackPayload): Fact[] {
  return payload.blocks
    .flatMap((block) => block.fields ?? [])
    .map((field) => {
      const [, label = '', value = ''] = /^\*(.*?)\*\n([\s\S]*)$/.exec(field.text) ?? [];
      return { label: unescapeMrkdwn(label), value: unescapeMrkdwn(value) };
    });
}

/** An RFC 2047 encoded word (as the channel writes non-ASCII headers) decoded, anything else as it is. */
function decodeHeader(value: string | string[] | undefined): string {
  const text = Array.isArray(value) ? value.join(',') : (value ?? '');
  const word = /^=\?UTF-8\?B\?([A-Za-z0-9+/=]*)\?=$/.exec(text);
  return word ? Buffer.from(word[1] ?? '', 'base64').toString('utf8') : text;
}

function ntfyFacts(body: string): Fact[] {
  const lines = body.split('\n\n').at(-1)?.split('\n') ?? [];
  return lines.map((line) => {
    const at = line.indexOf(': ');
    return { label: line.slice(0, at), value: line.slice(at + 2) };
  });
}

/** What the three channels have in common in the contract: one receiver, 503 for now, 404 for good. */
function onReceiver(
  config: ChannelConfig,
  secrets: Record<string, string>,
  pointedAt: ChannelUnderTest['pointedAt'],
  read: (request: ReceivedRequest) => { title: string; facts: Fact[] },
): ChannelUnderTest {
  receiver.reset();
  return {
    config,
    secrets,
    pointedAt,
    deliveries: () => Promise.resolve(receiver.accepted().map(read)),
    answer: (mode) => {
      if (mode === 'accept') receiver.reset();
      else receiver.answer(mode === 'transient' ? 503 : 404, mode === 'transient' ? 'busy' : 'no_service');
      return Promise.resolve();
    },
  };
}

const slackSecrets = (origin: string): Record<string, string> => ({ [slackUrlEnv]: `${origin}${slackPath}` });
const teamsSecrets = (origin: string): Record<string, string> => ({
  [teamsUrlEnv]: `${origin}/workflows/lifeboat/triggers/manual${teamsQuery}`,
});
const ntfySecrets: Record<string, string> = { [ntfyTokenEnv]: ntfyToken };

beforeAll(async () => {
  receiver = await startHttpReceiver();
});

afterAll(async () => {
  await receiver?.close();
});

notifierContract('slack', () =>
  Promise.resolve(
    onReceiver(
      { kind: 'slack', urlEnv: slackUrlEnv },
      slackSecrets(receiver.url),
      (port) => ({
        config: { kind: 'slack', urlEnv: slackUrlEnv },
        secrets: slackSecrets(`http://127.0.0.1:${port}`),
      }),
      (request) => {
        const payload = JSON.parse(request.body) as SlackPayload;
        return { title: payload.blocks[0]?.text?.text ?? '', facts: slackFacts(payload) };
      },
    ),
  ),
);

notifierContract('teams', () =>
  Promise.resolve(
    onReceiver(
      { kind: 'teams', urlEnv: teamsUrlEnv },
      teamsSecrets(receiver.url),
      (port) => ({
        config: { kind: 'teams', urlEnv: teamsUrlEnv },
        secrets: teamsSecrets(`http://127.0.0.1:${port}`),
      }),
      (request) => {
        const body = (JSON.parse(request.body) as TeamsPayload).attachments[0]?.content.body ?? [];
        return {
          title: body[0]?.text ?? '',
          facts: (body.find((element) => element.type === 'FactSet')?.facts ?? []).map(
            ({ title, value }) => ({
              label: title,
              value,
            }),
          ),
        };
      },
    ),
  ),
);

notifierContract('ntfy', () =>
  Promise.resolve(
    onReceiver(
      { kind: 'ntfy', url: `${receiver.url}/lifeboat-alerts`, tokenEnv: ntfyTokenEnv },
      ntfySecrets,
      (port) => ({
        config: { kind: 'ntfy', url: `http://127.0.0.1:${port}/lifeboat-alerts`, tokenEnv: ntfyTokenEnv },
        secrets: ntfySecrets,
      }),
      (request) => ({ title: decodeHeader(request.headers.title), facts: ntfyFacts(request.body) }),
    ),
  ),
);

async function failureOf(sending: Promise<unknown>): Promise<DeliveryError> {
  const error = await sending.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(DeliveryError);
  return error as DeliveryError;
}

describe('slack notifier', () => {
  const slack = () =>
    createNotifier({ kind: 'slack', urlEnv: slackUrlEnv }, (name) => slackSecrets(receiver.url)[name]);

  it('posts a text fallback with everything in it and blocks: a header, the text, fields and a context', async () => {
    receiver.reset();
    await slack().send(sampleNotification);

    const [request] = receiver.accepted();
    expect(request).toMatchObject({ method: 'POST', path: slackPath });
    expect(request?.headers['content-type']).toBe('application/json');
    const payload = JSON.parse(request?.body ?? '') as SlackPayload;
    expect(payload.blocks.map((block) => block.type)).toEqual(['header', 'section', 'section', 'context']);
    expect(payload.blocks[0]?.text).toEqual({
      type: 'plain_text',
      text: sampleNotification.title,
      emoji: true,
    });
    expect(payload.blocks[1]?.text).toEqual({ type: 'mrkdwn', text: sampleNotification.text });
    expect(payload.blocks[2]?.fields?.[2]).toEqual({
      type: 'mrkdwn',
      text: '*Error message*\nbucket "lb-prod" &lt;refused&gt; &amp; gone; 50% of *parts* sent',
    });
    expect(payload.text).toContain(`:rotating_light: *${sampleNotification.title}*`);
    expect(payload.text).toContain(sampleNotification.text);
    expect(payload.text).toContain('*Error message:* bucket "lb-prod" &lt;refused&gt; &amp; gone');
  });

  it('splits many facts into sections of ten fields and shortens a title longer than a header holds', async () => {
    receiver.reset();
    const facts = Array.from({ length: 23 }, (_, index) => ({
      label: `Fact ${index}`,
      value: `value ${index}`,
    }));
    await slack().send({ ...sampleNotification, title: 'x'.repeat(200), facts });

    const payload = JSON.parse(receiver.accepted()[0]?.body ?? '') as SlackPayload;
    expect(payload.blocks.map((block) => block.fields?.length ?? 0)).toEqual([0, 0, 10, 10, 3, 0]);
    expect(payload.blocks[0]?.text?.text).toBe(`${'x'.repeat(149)}…`);
    expect(slackFacts(payload)).toEqual(facts);
  });

  it('names the variable, never the URL, when the webhook refuses or the variable holds no URL', async () => {
    receiver.answer(404, 'no_service');
    const refused = await failureOf(slack().send(sampleNotification));
    expect(refused).toMatchObject({
      permanent: true,
      message: `Slack webhook (${slackUrlEnv}) answered HTTP 404 Not Found: no_service`,
    });

    const notUrl = await failureOf(
      createNotifier(
        { kind: 'slack', urlEnv: slackUrlEnv },
        () => 'hooks.slack.com/services/T/B/secretpart',
      ).send(sampleNotification),
    );
    expect(notUrl.permanent).toBe(true);
    expect(notUrl.message).toContain(slackUrlEnv);
    expect(notUrl.message).not.toContain('secretpart');
  });
});

describe('teams notifier', () => {
  it('posts a message with one Adaptive Card: the title coloured by severity, the text, the facts', async () => {
    receiver.reset();
    const teams = createNotifier(
      { kind: 'teams', urlEnv: teamsUrlEnv },
      (name) => teamsSecrets(receiver.url)[name],
    );
    await teams.send(sampleNotification);

    const [request] = receiver.accepted();
    expect(request?.path).toBe(`/workflows/lifeboat/triggers/manual${teamsQuery}`);
    const payload = JSON.parse(request?.body ?? '') as TeamsPayload;
    expect(payload.type).toBe('message');
    expect(payload.attachments).toHaveLength(1);
    const card = payload.attachments[0];
    expect(card?.contentType).toBe('application/vnd.microsoft.card.adaptive');
    expect(card?.content).toMatchObject({ type: 'AdaptiveCard', version: '1.4' });
    expect(card?.content.body.map((element) => element.type)).toEqual([
      'TextBlock',
      'TextBlock',
      'FactSet',
      'TextBlock',
    ]);
    expect(card?.content.body[0]).toMatchObject({ text: sampleNotification.title, color: 'Attention' });
    expect(card?.content.body[1]).toMatchObject({ text: sampleNotification.text });
    expect(card?.content.body[3]?.text).toContain(sampleNotification.kind);
  });
});

describe('ntfy notifier', () => {
  const ntfy = (tokenEnv?: string) =>
    createNotifier(
      { kind: 'ntfy', url: `${receiver.url}/lifeboat-alerts`, ...(tokenEnv ? { tokenEnv } : {}) },
      (name) => ntfySecrets[name],
    );

  it('posts the text and the facts to the topic with Title, Tags and the token as a bearer', async () => {
    receiver.reset();
    await ntfy(ntfyTokenEnv).send(sampleNotification);

    const [request] = receiver.accepted();
    expect(request).toMatchObject({ method: 'POST', path: '/lifeboat-alerts' });
    expect(request?.headers).toMatchObject({
      'content-type': 'text/plain; charset=utf-8',
      title: sampleNotification.title,
      priority: '5',
      tags: 'rotating_light,backup.failed,orders',
      authorization: `Bearer ${ntfyToken}`,
      'lifeboat-event-id': sampleNotification.eventId,
    });
    expect(request?.body).toBe(
      `${sampleNotification.text}\n\n${sampleNotification.facts.map((fact) => `${fact.label}: ${fact.value}`).join('\n')}`,
    );
  });

  it('sets the priority by severity: 3 for information, 4 for a warning, 5 when critical', async () => {
    receiver.reset();
    const severities: Severity[] = ['info', 'warning', 'critical'];
    for (const severity of severities) await ntfy().send({ ...sampleNotification, severity });
    expect(receiver.accepted().map((request) => [request.headers.priority, request.headers.tags])).toEqual([
      ['3', 'information_source,backup.failed,orders'],
      ['4', 'warning,backup.failed,orders'],
      ['5', 'rotating_light,backup.failed,orders'],
    ]);
    expect(receiver.accepted()[0]?.headers.authorization).toBeUndefined();
  });

  it('encodes a title outside ASCII as an RFC 2047 word, which reads back as it was', async () => {
    receiver.reset();
    const title = 'Sicherung von »Bestellungen« fehlgeschlagen ⚠';
    const notification: Notification = { ...sampleNotification, title, target: 'bestellungen' };
    await ntfy().send(notification);
    const [request] = receiver.accepted();
    expect(request?.headers.title).toMatch(/^=\?UTF-8\?B\?/);
    expect(decodeHeader(request?.headers.title)).toBe(title);
  });
});
