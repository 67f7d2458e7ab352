// The email channel against a real SMTP server (Mailpit): the notifier contract, then STARTTLS with a login,
// implicit TLS, several recipients, the HTML part and its escaping, certificates verified, a server that is down.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmailChannelConfig } from '../../notify/channel-config.ts';
import { DeliveryError, type Notification } from '../../notify/notifier.ts';
import { createNotifier } from '../../notify/registry.ts';
import { pointFailuresAtLogs } from '../harness/logs.ts';
import { startSmtpServer, type SmtpServer } from '../harness/smtp-server.ts';
import { notifierContract, sampleNotification, type Fact } from '../notify/contract.ts';

pointFailuresAtLogs();

const user = 'lifeboat-mailer';
const password = randomBytes(12).toString('base64url');
const userEnv = 'LIFEBOAT_NOTIFY_TEST_SMTP_USER';
const passwordEnv = 'LIFEBOAT_NOTIFY_TEST_SMTP_PASSWORD';
const secrets: Record<string, string> = { [userEnv]: user, [passwordEnv]: password };
const readSecret = (name: string) => secrets[name];

const started: SmtpServer[] = [];
let plain: SmtpServer;

async function smtpServer(options: Parameters<typeof startSmtpServer>[0]): Promise<SmtpServer> {
  const server = await startSmtpServer(options);
  started.push(server);
  return server;
}

function emailChannel(server: SmtpServer, overrides: Partial<EmailChannelConfig> = {}): EmailChannelConfig {
  return {
    kind: 'email',
    host: server.host,
    port: server.port,
    security: 'none',
    from: 'lifeboat@example.com',
    to: ['ops@example.com'],
    userEnv,
    passwordEnv,
    ...overrides,
  };
}

const entities: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" };

function unescapeHtml(html: string): string {
  return html
    .replace(/<br>\n?/g, '\n')
    .replace(/&(amp|lt|gt|quot|#39);/g, (_, name: string) => entities[name] ?? '');
}

/** The facts as the HTML part's table shows them. */
function factsOfHtml(html: string): Fact[] {
  return [...html.matchAll(/<tr><th[^>]*>(.*?)<\/th><td[^>]*>(.*?)<\/td><\/tr>/gs)].map(
    ([, label, value]) => ({
      label: unescapeHtml(label ?? ''),
      value: unescapeHtml(value ?? ''),
    }),
  );
}

async function failureOf(sending: Promise<unknown>): Promise<DeliveryError> {
  const error = await sending.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(DeliveryError);
  const failure = error as DeliveryError;
  expect(failure.message).not.toContain(password);
  return failure;
}

beforeAll(async () => {
  plain = await smtpServer({ auth: { user, password } });
});

afterAll(async () => {
  for (const server of started) await server.stop();
});

notifierContract('email', async () => {
  await plain.clear();
  await plain.refuseRecipients();
  const config = emailChannel(plain);
  return {
    config,
    secrets,
    pointedAt: (port) => ({ config: { ...config, port }, secrets }),
    deliveries: async () =>
      (await plain.messages()).map((mail) => ({
        title: mail.text.split('\n')[0] ?? '',
        facts: factsOfHtml(mail.html),
      })),
    answer: (mode) => plain.refuseRecipients({ accept: undefined, transient: 451, permanent: 550 }[mode]),
  };
});

describe('email notifier', () => {
  it('sends over STARTTLS with a login one message to several recipients, with a text and an HTML part', async () => {
    const server = await smtpServer({ tls: 'starttls', auth: { user, password } });
    const to = ['ops@example.com', 'dba@example.com', 'oncall@example.org'];
    const notifier = createNotifier(emailChannel(server, { security: 'starttls', to }), readSecret, {
      trustedCa: server.certificate,
    });

    const receipt = await notifier.send(sampleNotification);

    expect(receipt.detail).toMatch(/^SMTP server 127\.0\.0\.1:\d+: 250 /);
    const [mail, ...others] = await server.messages();
    expect(others).toEqual([]);
    expect(mail).toMatchObject({
      from: 'lifeboat@example.com',
      to,
      username: user,
      subject: `[CRITICAL] ${sampleNotification.title}`,
      messageId: `${createHash('sha256').update(sampleNotification.eventId).digest('hex')}@lifeboat`,
    });
    expect(mail?.headers['Auto-Submitted']).toEqual(['auto-generated']);
    expect(mail?.headers['X-Lifeboat-Event-Id']).toEqual([sampleNotification.eventId]);
    for (const { label, value } of sampleNotification.facts)
      expect(mail?.text).toContain(`${label}: ${value}`);
    expect(mail?.text).toContain(sampleNotification.text);
    expect(factsOfHtml(mail?.html ?? '')).toEqual(sampleNotification.facts);
  });

  it('escapes every value in the HTML part, so that no value becomes markup', async () => {
    await plain.clear();
    const notifier = createNotifier(emailChannel(plain), readSecret);
    const hostile: Notification = {
      ...sampleNotification,
      eventId: 'backup.failed/escaping',
      title: 'Backup of <script>alert(1)</script> failed',
      text: 'line one <b>bold?</b>\nline "two" & \'three\'',
      facts: [{ label: '<img src=x onerror=alert(1)>', value: '<a href="javascript:alert(1)">click</a>' }],
    };
    await notifier.send(hostile);

    const [mail] = await plain.messages();
    const html = mail?.html ?? '';
    expect(html).not.toMatch(/<script|<img|<a |<b>/);
    expect(html).toContain('Backup of &lt;script&gt;alert(1)&lt;/script&gt; failed');
    expect(html).toContain(
      'line one &lt;b&gt;bold?&lt;/b&gt;<br>\nline &quot;two&quot; &amp; &#39;three&#39;',
    );
    expect(factsOfHtml(html)).toEqual(hostile.facts);
  });

  it('sends over implicit TLS', async () => {
    const server = await smtpServer({ tls: 'tls' });
    const notifier = createNotifier(
      emailChannel(server, { security: 'tls', userEnv: undefined, passwordEnv: undefined }),
      readSecret,
      { trustedCa: server.certificate },
    );
    await notifier.send({ ...sampleNotification, severity: 'warning' });
    const mails = await server.messages();
    expect(mails.map((mail) => mail.subject)).toEqual([`[WARNING] ${sampleNotification.title}`]);
  });

  it('refuses, for good, a server whose certificate it cannot verify', async () => {
    const server = await smtpServer({ tls: 'tls' });
    const notifier = createNotifier(
      emailChannel(server, { security: 'tls', userEnv: undefined, passwordEnv: undefined }),
      readSecret,
    );
    const error = await failureOf(notifier.send(sampleNotification));
    expect(error.permanent).toBe(true);
    expect(error.message).toContain('TLS certificate was refused');
    expect(await server.messages()).toEqual([]);
  });

  it('never upgrades a "none" connection, so a server that requires STARTTLS refuses the login for good', async () => {
    const server = await smtpServer({ tls: 'starttls', auth: { user, password } });
    const notifier = createNotifier(emailChannel(server, { security: 'none' }), readSecret, {
      trustedCa: server.certificate,
    });
    const error = await failureOf(notifier.send(sampleNotification));
    expect(error.permanent).toBe(true);
    expect(error.message).toMatch(/answered to AUTH \w+: 530 /);
  });

  it('says, for good, that a port without implicit TLS needs "starttls" when "tls" is set', async () => {
    const notifier = createNotifier(emailChannel(plain, { security: 'tls' }), readSecret);
    const error = await failureOf(notifier.send(sampleNotification));
    expect(error.permanent).toBe(true);
    expect(error.message).toContain('use "starttls"');
  });

  it('refuses a wrong password for good without showing it', async () => {
    const wrong: Record<string, string> = { ...secrets, [passwordEnv]: 'not-the-password-1234' };
    const notifier = createNotifier(emailChannel(plain), (name) => wrong[name]);
    const error = await failureOf(notifier.send(sampleNotification));
    expect(error.permanent).toBe(true);
    expect(error.message).toContain('535');
    expect(error.message).not.toContain('not-the-password-1234');
  });

  it('is retryable while the server is down, and the mail goes through once it is back', async () => {
    const server = await smtpServer({ auth: { user, password } });
    const notifier = createNotifier(emailChannel(server), readSecret);
    await server.stop();
    try {
      const error = await failureOf(notifier.send(sampleNotification));
      expect(error.permanent).toBe(false);
      expect(error.message).toContain(`SMTP server 127.0.0.1:${server.port} could not be reached`);
    } finally {
      await server.start();
    }
    await notifier.send(sampleNotification);
    expect((await server.messages()).map((mail) => mail.subject)).toEqual([
      `[CRITICAL] ${sampleNotification.title}`,
    ]);
  });

  it('leaves the subject as the title for information', async () => {
    await plain.clear();
    const notifier = createNotifier(emailChannel(plain), readSecret);
    await notifier.send({
      ...sampleNotification,
      eventId: 'test/1',
      kind: 'test',
      severity: 'info',
      title: 'Test',
    });
    expect((await plain.messages()).map((mail) => mail.subject)).toEqual(['Test']);
  });
});
