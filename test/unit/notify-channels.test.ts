// Channel settings (what the schemas refuse, which variables they name) and the pure parts of the channels:
// the email's subject, Message-ID and HTML, Slack's escaping, ntfy's headers and body.
import { describe, expect, it } from 'vitest';
import {
  channelConfigSchema,
  channelEnvNames,
  type ChannelConfig,
  type EmailChannelConfig,
} from '../../notify/channel-config.ts';
import {
  emailHtml,
  emailMessageId,
  emailSubject,
  emailText,
  escapeHtml,
} from '../../notify/channels/email-message.ts';
import { redact } from '../../notify/channels/failures.ts';
import { ntfyBody, ntfyHeaderValue, ntfyTags } from '../../notify/channels/ntfy.ts';
import { escapeMrkdwn } from '../../notify/channels/slack.ts';
import { webhookBody } from '../../notify/channels/webhook.ts';
import { DeliveryError, type Notification } from '../../notify/notifier.ts';
import { createNotifier } from '../../notify/registry.ts';

const email: EmailChannelConfig = {
  kind: 'email',
  host: 'smtp.example.com',
  port: 587,
  security: 'starttls',
  from: 'lifeboat@example.com',
  to: ['ops@example.com'],
  userEnv: 'LIFEBOAT_NOTIFY_SMTP_USER',
  passwordEnv: 'LIFEBOAT_NOTIFY_SMTP_PASSWORD',
};

const notification: Notification = {
  eventId: 'backup.failed/42',
  kind: 'backup.failed',
  severity: 'warning',
  occurredAt: '2026-11-30T03:00:00.000Z',
  title: 'Backup of orders failed',
  text: 'First line\nsecond line',
  facts: [
    { label: 'Target', value: 'orders' },
    { label: 'Error message', value: 'pg_dump: error: connection refused\nIs the server running?' },
  ],
  target: 'orders',
};

function problems(config: unknown): string[] {
  const parsed = channelConfigSchema.safeParse(config);
  return parsed.success
    ? []
    : parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
}

describe('channel settings', () => {
  it('accepts one channel of each kind', () => {
    const channels: unknown[] = [
      email,
      {
        kind: 'email',
        host: '127.0.0.1',
        port: 25,
        security: 'none',
        from: 'a@example.com',
        to: ['b@example.com'],
      },
      {
        kind: 'webhook',
        url: 'https://hooks.example.com/lifeboat?team=dba',
        secretEnv: 'LIFEBOAT_NOTIFY_HOOK_SECRET',
        headers: { 'X-Team': 'dba' },
        headerEnvs: { Authorization: 'LIFEBOAT_NOTIFY_HOOK_TOKEN' },
      },
      { kind: 'slack', urlEnv: 'LIFEBOAT_NOTIFY_SLACK_URL' },
      { kind: 'teams', urlEnv: 'LIFEBOAT_NOTIFY_TEAMS_URL' },
      { kind: 'ntfy', url: 'https://ntfy.sh/lifeboat-alerts', tokenEnv: 'LIFEBOAT_NOTIFY_NTFY_TOKEN' },
    ];
    for (const channel of channels) expect(problems(channel)).toEqual([]);
  });

  it('refuses a URL that holds a password, is not http(s), or names no ntfy topic', () => {
    expect(problems({ kind: 'webhook', url: 'https://user:secret@hooks.example.com/x' })).toEqual([
      'url: a URL must not hold a user or password; name an environment variable for the secret instead',
    ]);
    expect(problems({ kind: 'webhook', url: 'ftp://hooks.example.com/x' })).toEqual([
      'url: an http:// or https:// URL is needed',
    ]);
    expect(problems({ kind: 'ntfy', url: 'https://ntfy.sh/' })).toEqual([
      'url: the URL of a topic: https://host/topic',
    ]);
    expect(problems({ kind: 'ntfy', url: 'not a url' })).toEqual(['url: not a URL']);
  });

  it('refuses a secret in a plain header, a header Lifeboat sets, a line break, and the same header twice', () => {
    const hook = { kind: 'webhook', url: 'https://hooks.example.com/x' };
    expect(problems({ ...hook, headers: { Authorization: 'Bearer abc' } })).toEqual([
      'headers.Authorization: Authorization carries a secret: give it in headerEnvs, by environment-variable name',
    ]);
    expect(problems({ ...hook, headers: { 'Content-Type': 'text/plain' } })).toEqual([
      'headers.Content-Type: Content-Type is set by Lifeboat itself',
    ]);
    expect(problems({ ...hook, headerEnvs: { 'Lifeboat-Signature': 'LIFEBOAT_NOTIFY_X' } })).toEqual([
      'headerEnvs.Lifeboat-Signature: Lifeboat-Signature is set by Lifeboat itself',
    ]);
    expect(problems({ ...hook, headers: { 'X-Team': 'dba\r\nX-Evil: 1' } })).toHaveLength(1);
    expect(problems({ ...hook, headers: { 'Bad Name': 'x' } })).toEqual([
      'headers.Bad Name: "Bad Name" is not an HTTP header name',
    ]);
    expect(
      problems({ ...hook, headers: { 'x-token': 'a' }, headerEnvs: { 'X-Token': 'LIFEBOAT_NOTIFY_X' } }),
    ).toEqual(['headerEnvs.X-Token: X-Token is in headers too']);
  });

  it('refuses variable names that are not names, and unknown settings', () => {
    expect(problems({ kind: 'slack', urlEnv: 'https://hooks.slack.com/services/T/B/x' })).toHaveLength(1);
    expect(problems({ kind: 'slack', urlEnv: 'LIFEBOAT_NOTIFY_SLACK_URL', url: 'https://x' })).toHaveLength(
      1,
    );
  });

  it('takes a login only as a pair of variables, and over a plain connection only to this machine', () => {
    expect(problems({ ...email, passwordEnv: undefined })).toEqual([
      'passwordEnv: userEnv and passwordEnv go together: give both for SMTP authentication, or neither',
    ]);
    expect(problems({ ...email, security: 'none' })).toEqual([
      'security: SMTP authentication needs security "tls" or "starttls" unless the relay runs on this machine',
    ]);
    expect(problems({ ...email, security: 'none', host: '127.0.0.1' })).toEqual([]);
    expect(problems({ ...email, security: 'none', host: 'localhost' })).toEqual([]);
  });

  it('refuses addresses that are not addresses, no recipient, and more than 50', () => {
    expect(problems({ ...email, to: ['ops@example.com\r\nBcc: all@example.com'] })).toHaveLength(1);
    expect(problems({ ...email, to: [] })).toHaveLength(1);
    expect(
      problems({ ...email, to: Array.from({ length: 51 }, (_, n) => `ops${n}@example.com`) }),
    ).toHaveLength(1);
    expect(problems({ ...email, port: 0 })).toHaveLength(1);
  });

  it('lists every variable a channel names', () => {
    const configs: [ChannelConfig, string[]][] = [
      [email, ['LIFEBOAT_NOTIFY_SMTP_USER', 'LIFEBOAT_NOTIFY_SMTP_PASSWORD']],
      [
        {
          kind: 'webhook',
          url: 'https://h.example.com',
          secretEnv: 'LIFEBOAT_NOTIFY_A',
          headerEnvs: { Authorization: 'LIFEBOAT_NOTIFY_B', 'X-Key': 'LIFEBOAT_NOTIFY_C' },
        },
        ['LIFEBOAT_NOTIFY_A', 'LIFEBOAT_NOTIFY_B', 'LIFEBOAT_NOTIFY_C'],
      ],
      [{ kind: 'webhook', url: 'https://h.example.com' }, []],
      [{ kind: 'slack', urlEnv: 'LIFEBOAT_NOTIFY_S' }, ['LIFEBOAT_NOTIFY_S']],
      [{ kind: 'teams', urlEnv: 'LIFEBOAT_NOTIFY_T' }, ['LIFEBOAT_NOTIFY_T']],
      [{ kind: 'ntfy', url: 'https://ntfy.sh/t', tokenEnv: 'LIFEBOAT_NOTIFY_N' }, ['LIFEBOAT_NOTIFY_N']],
    ];
    for (const [config, names] of configs) expect(channelEnvNames(config)).toEqual(names);
  });

  it('makes a notifier whose every send fails for good when its settings do not parse', async () => {
    const notifier = createNotifier({ ...email, port: 70000 }, () => 'x');
    const error = await notifier.send(notification).catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(DeliveryError);
    expect(error).toMatchObject({
      permanent: true,
      message: expect.stringMatching(/^The email channel's settings are invalid: port: /) as unknown,
    });
  });

  it('fails for good, naming the variable and the reason, when the reader refuses a variable', async () => {
    const notifier = createNotifier({ kind: 'slack', urlEnv: 'OTHER_SLACK_URL' }, (name) => {
      throw new Error(`${name} does not start with LIFEBOAT_NOTIFY_`);
    });
    await expect(notifier.send(notification)).rejects.toMatchObject({
      permanent: true,
      message:
        'Slack webhook (OTHER_SLACK_URL): the environment variable OTHER_SLACK_URL may not be read (OTHER_SLACK_URL does not start with LIFEBOAT_NOTIFY_)',
    });
  });
});

describe('channel formats', () => {
  it("derives the email's Message-ID from the event id alone", () => {
    expect(emailMessageId('backup.failed/42')).toBe(emailMessageId('backup.failed/42'));
    expect(emailMessageId('backup.failed/42')).not.toBe(emailMessageId('backup.failed/43'));
    expect(emailMessageId('backup.failed/42')).toMatch(/^<[0-9a-f]{64}@lifeboat>$/);
  });

  it('prefixes the subject by severity for warnings and critical events, on one line', () => {
    expect(emailSubject({ ...notification, severity: 'info' })).toBe('Backup of orders failed');
    expect(emailSubject(notification)).toBe('[WARNING] Backup of orders failed');
    expect(emailSubject({ ...notification, severity: 'critical', title: 'a\r\nBcc: x@example.com' })).toBe(
      '[CRITICAL] a Bcc: x@example.com',
    );
  });

  it('indents the continuation lines of a multi-line value in the text body, and breaks them in the HTML', () => {
    expect(emailText(notification)).toContain(
      'Error message: pg_dump: error: connection refused\n  Is the server running?',
    );
    expect(emailHtml(notification)).toContain(
      'pg_dump: error: connection refused<br>\nIs the server running?',
    );
  });

  it('escapes the five characters HTML gives meaning to', () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe(
      '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;',
    );
  });

  it("escapes Slack's three control characters and nothing else", () => {
    expect(escapeMrkdwn('<!channel> & <https://x|y> *bold*')).toBe(
      '&lt;!channel&gt; &amp; &lt;https://x|y&gt; *bold*',
    );
  });

  it('writes ntfy header values in ASCII, encoding the rest, and tags without commas', () => {
    expect(ntfyHeaderValue('Backup failed')).toBe('Backup failed');
    expect(ntfyHeaderValue('Größe\nzwei')).toBe(
      `=?UTF-8?B?${Buffer.from('Größe zwei').toString('base64')}?=`,
    );
    expect(ntfyTags({ ...notification, target: 'a,b' })).toBe('warning,backup.failed,a b');
    expect(ntfyTags({ ...notification, target: null })).toBe('warning,backup.failed');
  });

  it('keeps an ntfy body within 4000 bytes, cut on a character', () => {
    const body = ntfyBody({ ...notification, text: 'ä'.repeat(5000), facts: [] });
    expect(Buffer.byteLength(body, 'utf8')).toBeLessThanOrEqual(4000);
    expect(body.endsWith('ä…')).toBe(true);
  });

  it('posts exactly the contract fields to a webhook, target null when there is none', () => {
    expect(JSON.parse(webhookBody({ ...notification, target: undefined }))).toEqual({
      eventId: 'backup.failed/42',
      kind: 'backup.failed',
      severity: 'warning',
      occurredAt: '2026-11-30T03:00:00.000Z',
      title: 'Backup of orders failed',
      text: 'First line\nsecond line',
      facts: notification.facts,
      target: null,
    });
  });

  it('removes every secret value from a message, ignoring values too short to be secrets', () => {
    expect(redact('token abc123secret and abc123secret again, id 7', ['abc123secret', '7'])).toBe(
      'token [redacted] and [redacted] again, id 7',
    );
  });
});
