// Notifications end to end, against a real SMTP server (Mailpit, with a login) and a real HTTP receiver: a
// failed backup is mailed and posted signed; a channel that is down delays nothing and is sent once when it
// is back; a schedule's failures and a target without a fresh backup are told once per episode and resolve;
// and no secret shows in the catalog, the API's answers, the workflow histories or the logs.
import { serve, type ServerType } from '@hono/node-server';
import { execa } from 'execa';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getBackup, type Backup } from '../../catalog/backups.ts';
import { verifyWebhookSignature } from '../../notify/channels/webhook-signature.ts';
import { freePort } from '../../stack/ports.ts';
import type { backupWorkflow } from '../../workflows/backup.ts';
import type { NotifyWorkflowResult, StaleCheckResult } from '../../workflows/notify.ts';
import { eventually } from '../harness/api.ts';
import { startHttpReceiver, type HttpReceiver, type ReceivedRequest } from '../harness/http-receiver.ts';
import { testLogsDir } from '../harness/logs.ts';
import { backUp, startRestore, waitForRestore } from '../harness/restore.ts';
import { startSmtpServer, type ReceivedMail, type SmtpServer } from '../harness/smtp-server.ts';
import { createDatabase, endedBackup, sql, stack, useStack } from '../harness/stack.ts';

const { db, client, worker, api, createTarget } = useStack();

// The channels' secrets, in this process's environment where the in-process worker reads them.
const secret = {
  user: `mailer-${randomBytes(3).toString('hex')}`,
  password: `smtp-${randomBytes(12).toString('hex')}`,
  hook: `hook-${randomBytes(16).toString('hex')}`,
};
const envName = {
  user: 'LIFEBOAT_NOTIFY_H1B_SMTP_USER',
  password: 'LIFEBOAT_NOTIFY_H1B_SMTP_PASSWORD',
  hook: 'LIFEBOAT_NOTIFY_H1B_HOOK_SECRET',
};
process.env[envName.user] = secret.user;
process.env[envName.password] = secret.password;
process.env[envName.hook] = secret.hook;

let smtp: SmtpServer;
let hook: HttpReceiver;
const suffix = randomBytes(3).toString('hex');
const mailChannel = `mail-${suffix}`;
const hookChannel = `hook-${suffix}`;
/** Every answer of the API in this file, searched for secrets at the end. */
const answers: string[] = [];
/** Events whose notify workflow histories are searched for secrets at the end. */
const toldEvents: string[] = [];
const createdRules: string[] = [];
const createdChannels: string[] = [];

async function call<T = Record<string, unknown>>(
  method: string,
  path: string,
  options: { body?: unknown; token?: string } = {},
): Promise<{ status: number; body: T }> {
  const response = await api.json<T>(method, path, options);
  answers.push(JSON.stringify(response.body));
  return response;
}

async function addChannel(name: string, config: Record<string, unknown>): Promise<{ id: string }> {
  const created = await call<{ id: string }>('POST', '/api/admin/notifications/channels', {
    body: { name, config },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  createdChannels.push(name);
  return created.body;
}

async function addRule(body: Record<string, unknown>): Promise<void> {
  const created = await call('POST', '/api/admin/notifications/rules', { body });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  createdRules.push(String(body.name));
}

beforeAll(async () => {
  smtp = await startSmtpServer({ auth: { user: secret.user, password: secret.password } });
  hook = await startHttpReceiver();
  await addChannel(mailChannel, {
    kind: 'email',
    host: smtp.host,
    port: smtp.port,
    security: 'none',
    from: 'lifeboat@example.test',
    to: ['ops@example.test', 'dba@example.test'],
    userEnv: envName.user,
    passwordEnv: envName.password,
  });
  await addChannel(hookChannel, {
    kind: 'webhook',
    url: `${hook.url}/lifeboat?team=db`,
    secretEnv: envName.hook,
    headers: { 'X-Team': 'databases' },
  });
});

afterAll(async () => {
  // Other test files' events would otherwise keep going to these receivers after they are gone.
  for (const name of createdRules) await api.call('DELETE', `/api/admin/notifications/rules/${name}`);
  for (const name of createdChannels) await api.call('DELETE', `/api/admin/notifications/channels/${name}`);
  await smtp?.stop();
  await hook?.close();
});

function catalogDatabase(): string {
  return new URL(stack().catalogUrl).pathname.slice(1);
}

/** `<sha256(eventId)@lifeboat>` without its brackets, as Mailpit reports a Message-ID. */
function messageIdOf(eventId: string): string {
  return `${createHash('sha256').update(eventId).digest('hex')}@lifeboat`;
}

async function mailsOf(server: SmtpServer, eventId: string): Promise<ReceivedMail[]> {
  return (await server.messages()).filter((mail) => mail.messageId === messageIdOf(eventId));
}

function postsOf(eventId: string): ReceivedRequest[] {
  return hook.requests.filter((request) => request.headers['lifeboat-event-id'] === eventId);
}

interface DeliveryView {
  eventId: string;
  channel: { name: string };
  status: string;
  attempts: number;
  lastError: string | null;
  lastAttemptAt: string | null;
  sentAt: string | null;
}

async function deliveriesOf(eventId: string): Promise<DeliveryView[]> {
  const page = await call<{ items: DeliveryView[] }>(
    'GET',
    `/api/admin/notifications/deliveries?event=${encodeURIComponent(eventId)}`,
  );
  expect(page.status).toBe(200);
  return page.body.items;
}

/**
 * Waits until the event was sent to each of `channels` (names) and returns those deliveries. A notify
 * workflow may go on for hours for a channel that is down, so the tests wait for deliveries, not for it.
 */
async function delivered(eventId: string, channels: string[]): Promise<DeliveryView[]> {
  toldEvents.push(eventId);
  return eventually(
    async () => {
      const found = (await deliveriesOf(eventId)).filter((delivery) =>
        channels.includes(delivery.channel.name),
      );
      return found.length === channels.length && found.every((delivery) => delivery.status === 'sent')
        ? found
        : undefined;
    },
    60_000,
    `${eventId} to be sent to ${channels.join(', ')}`,
  );
}

/** Waits until the event's notify workflow ended (for events no channel that is down receives); its result. */
async function told(eventId: string): Promise<NotifyWorkflowResult> {
  toldEvents.push(eventId);
  const handle = client.workflow.getHandle(`notify/${eventId}`);
  await eventually(
    () =>
      handle.describe().then(
        () => true,
        () => undefined,
      ),
    60_000,
    `notify/${eventId} to start`,
  );
  return (await handle.result()) as NotifyWorkflowResult;
}

/** A database and a target on it whose password is wrong: every backup fails at once with AUTH_FAILED. */
async function failingTarget(prefix: string): Promise<{ id: string; name: string; database: string }> {
  const database = await createDatabase(prefix);
  const target = await createTarget(`${prefix}-${database.slice(-8)}`, database, {
    password: 'not-the-password',
  });
  return { ...target, database };
}

async function failedBackup(target: string): Promise<Backup> {
  const started = await call<{ backupId: string }>('POST', '/api/admin/backups', { body: { target } });
  expect(started.status).toBe(202);
  const backup = await endedBackup(db, started.body.backupId);
  expect(backup).toMatchObject({ status: 'failed', errorCode: 'AUTH_FAILED' });
  return backup;
}

describe('notification channels', () => {
  it('refuse secrets named outside the notify prefix or by Lifeboat’s own settings, and admins only change them', async () => {
    const email = (passwordEnv: string) => ({
      name: `bad-${suffix}`,
      config: {
        kind: 'email',
        host: '127.0.0.1',
        port: 25,
        security: 'none',
        from: 'a@example.test',
        to: ['b@example.test'],
        userEnv: 'LIFEBOAT_NOTIFY_USER',
        passwordEnv,
      },
    });
    for (const name of [
      'PATH',
      'LIFEBOAT_SECRET_KEY',
      'LIFEBOAT_TARGET_DEMO_PGPASSWORD',
      'LIFEBOAT_DATABASE_URL',
    ]) {
      const refused = await call<{ error: { code: string; message: string } }>(
        'POST',
        '/api/admin/notifications/channels',
        { body: email(name) },
      );
      expect(refused.status, name).toBe(400);
      expect(refused.body.error.code).toBe('VALIDATION_FAILED');
      expect(refused.body.error.message).toContain(name);
    }
    const changed = await call<{ error: { code: string } }>(
      'PATCH',
      `/api/admin/notifications/channels/${hookChannel}`,
      { body: { config: { kind: 'slack', urlEnv: 'AWS_SECRET_ACCESS_KEY' } } },
    );
    expect(changed.status).toBe(400);

    const listed = await call<{ items: { name: string; secretVariables: string[] }[] }>(
      'GET',
      '/api/admin/notifications/channels',
      { token: api.tokens.viewer },
    );
    expect(listed.status).toBe(200);
    expect(listed.body.items.find((channel) => channel.name === mailChannel)?.secretVariables).toEqual([
      envName.user,
      envName.password,
    ]);
    const byViewer = await call('POST', '/api/admin/notifications/channels', {
      body: email('LIFEBOAT_NOTIFY_X'),
      token: api.tokens.viewer,
    });
    expect(byViewer.status).toBe(403);
    const testByOperator = await call('POST', `/api/admin/notifications/channels/${mailChannel}/test`, {
      token: api.tokens.operator,
    });
    expect(testByOperator.status).toBe(403);
  });

  it('test sends a test notification through the channel and records its delivery', async () => {
    const tested = await call<{ eventId: string; status: string; detail: string }>(
      'POST',
      `/api/admin/notifications/channels/${mailChannel}/test`,
    );
    expect(tested.status, JSON.stringify(tested.body)).toBe(200);
    expect(tested.body.status).toBe('sent');
    toldEvents.push(tested.body.eventId);
    const [mail] = await mailsOf(smtp, tested.body.eventId);
    expect(mail?.subject).toContain('Test notification');
    expect(mail?.username).toBe(secret.user);
    expect(await deliveriesOf(tested.body.eventId)).toMatchObject([
      { channel: { name: mailChannel }, status: 'sent', attempts: 1 },
    ]);

    // A receiver that is not there: the outcome says so, and the delivery is recorded as failed.
    const nowhere = `nowhere-${suffix}`;
    await addChannel(nowhere, { kind: 'webhook', url: `http://127.0.0.1:${await freePort()}/hook` });
    const failed = await call<{ eventId: string; status: string; detail: string }>(
      'POST',
      `/api/admin/notifications/channels/${nowhere}/test`,
    );
    expect(failed.body.status).toBe('failed');
    expect(failed.body.detail).toMatch(/\S/);
    expect(await deliveriesOf(failed.body.eventId)).toMatchObject([{ status: 'failed', attempts: 1 }]);
    expect((await call('DELETE', `/api/admin/notifications/channels/${nowhere}`)).status).toBe(204);
    createdChannels.splice(createdChannels.indexOf(nowhere), 1);
  });
});

describe('notification rules', () => {
  it('resolve targets and channels by name, refuse unknown ones, and keep their channels from deletion', async () => {
    const database = await createDatabase('nrule');
    const target = await createTarget(`nrule-${database.slice(-8)}`, database);
    const name = `rule-${suffix}`;
    const body = {
      name,
      scope: { kind: 'target', target: target.name },
      events: ['backup.succeeded', 'backup.large'],
      channels: [hookChannel],
      params: { largeBackupBytes: 1 },
    };
    for (const bad of [
      { ...body, channels: ['no-such-channel'] },
      { ...body, scope: { kind: 'target', target: 'no-such-target' } },
    ]) {
      const refused = await call<{ error: { code: string } }>('POST', '/api/admin/notifications/rules', {
        body: bad,
      });
      expect(refused.status).toBe(404);
      expect(refused.body.error.code).toBe('NOT_FOUND');
    }
    await addRule(body);
    const shown = await call('GET', `/api/admin/notifications/rules/${name}`, { token: api.tokens.viewer });
    expect(shown.body).toMatchObject({
      scope: { kind: 'target', target: { id: target.id, name: target.name } },
      channels: [{ name: hookChannel }],
      params: { largeBackupBytes: 1 },
      enabled: true,
    });
    const inUse = await call<{ error: { code: string } }>(
      'DELETE',
      `/api/admin/notifications/channels/${hookChannel}`,
    );
    expect(inUse.status).toBe(409);

    // A completed backup of it is told as succeeded and, above the rule's 1 byte, as large.
    const backupId = await backUp(api, target.name);
    await delivered(`backup.succeeded/${backupId}`, [hookChannel]);
    const [large] = await delivered(`backup.large/${backupId}`, [hookChannel]);
    expect(large?.attempts).toBe(1);
    const posted = JSON.parse(postsOf(`backup.large/${backupId}`)[0]!.body) as { title: string };
    expect(posted.title).toContain(`Backup of ${target.name} is large`);

    const replaced = await call('PUT', `/api/admin/notifications/rules/${name}`, {
      body: { ...body, enabled: false, channels: null },
    });
    expect(replaced.body).toMatchObject({ enabled: false, channels: null });
    expect((await call('DELETE', `/api/admin/notifications/rules/${name}`)).status).toBe(204);
    createdRules.splice(createdRules.indexOf(name), 1);
  });
});

describe('lifeboat channels', () => {
  it('adds, lists, tests and removes a channel through the served API', async () => {
    const server = await new Promise<ServerType>((resolve) => {
      const started = serve({ fetch: api.app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(started));
    });
    const cli = (...args: string[]) =>
      execa(process.execPath, [path.resolve(import.meta.dirname, '../../cli/main.ts'), 'channels', ...args], {
        env: {
          LIFEBOAT_API_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
          LIFEBOAT_TOKEN: api.tokens.admin,
        },
        extendEnv: false,
        reject: false,
      });
    const name = `cli-${suffix}`;
    try {
      const added = await cli(
        'add',
        '--name',
        name,
        '--kind',
        'webhook',
        '--url',
        `${hook.url}/from-cli`,
        '--secret-env',
        envName.hook,
        '--header',
        'X-Via=cli',
      );
      expect(added.exitCode, added.stderr).toBe(0);
      expect(JSON.parse(added.stdout)).toMatchObject({
        name,
        kind: 'webhook',
        secretVariables: [envName.hook],
      });
      const listed = await cli('list');
      expect((JSON.parse(listed.stdout) as { items: { name: string }[] }).items.map((c) => c.name)).toContain(
        name,
      );

      const tested = await cli('test', name);
      expect(tested.exitCode, tested.stderr).toBe(0);
      const outcome = JSON.parse(tested.stdout) as { status: string; eventId: string };
      expect(outcome.status).toBe('sent');
      toldEvents.push(outcome.eventId);
      const [post] = postsOf(outcome.eventId);
      expect(post?.path).toBe('/from-cli');
      expect(post?.headers['x-via']).toBe('cli');

      const refused = await cli('add', '--name', `${name}-2`, '--kind', 'slack', '--url-env', 'HOME');
      expect(refused.exitCode).toBe(1);
      expect(refused.stderr).toContain('VALIDATION_FAILED');
      expect((await cli('remove', name)).exitCode).toBe(0);
      expect((await call('GET', `/api/admin/notifications/channels/${name}`)).status).toBe(404);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('a failed backup', () => {
  it('is mailed with its target, error code and message and an HTML part, and posted to the webhook signed', async () => {
    const target = await failingTarget('nfail');
    const backup = await failedBackup(target.name);
    const eventId = `backup.failed/${backup.id}`;
    await delivered(eventId, [mailChannel, hookChannel]);

    const [mail, ...more] = await mailsOf(smtp, eventId);
    expect(more).toEqual([]);
    expect(mail!.subject).toContain(target.name);
    expect(mail!.subject).toContain('AUTH_FAILED');
    expect(mail!.to.sort()).toEqual(['dba@example.test', 'ops@example.test']);
    expect(mail!.username).toBe(secret.user);
    const firstWords = backup.errorMessage!.replace(/\s+/g, ' ').slice(0, 40);
    for (const body of [mail!.text, mail!.html]) {
      expect(body).toContain(target.name);
      expect(body).toContain('AUTH_FAILED');
      expect(body.replace(/\s+/g, ' ')).toContain(firstWords);
    }
    expect(mail!.html).toMatch(/<table|<td/i);

    const [post, ...again] = postsOf(eventId);
    expect(again).toEqual([]);
    expect(post!.path).toBe('/lifeboat?team=db');
    expect(post!.headers['x-team']).toBe('databases');
    const check = {
      timestamp: post!.headers['lifeboat-timestamp'] as string,
      signature: post!.headers['lifeboat-signature'] as string,
      body: post!.raw,
      nowSeconds: Math.floor(Date.now() / 1000),
    };
    expect(verifyWebhookSignature({ ...check, secret: secret.hook })).toBe(true);
    expect(verifyWebhookSignature({ ...check, secret: 'another-key' })).toBe(false);
    const body = JSON.parse(post!.body) as {
      kind: string;
      target: string;
      facts: { label: string; value: string }[];
    };
    expect(body).toMatchObject({ kind: 'backup.failed', target: target.name });
    expect(body.facts).toContainEqual({ label: 'Error code', value: 'AUTH_FAILED' });

    const deliveries = (await deliveriesOf(eventId)).filter((delivery) =>
      [mailChannel, hookChannel].includes(delivery.channel.name),
    );
    expect(
      deliveries.map((delivery) => [delivery.channel.name, delivery.status, delivery.attempts]).sort(),
    ).toEqual([
      [hookChannel, 'sent', 1],
      [mailChannel, 'sent', 1],
    ]);
  });
});

describe('a notification channel that is down', () => {
  it('neither fails nor delays the backup; its delivery retries and is sent once when the server is back', async () => {
    const late = await startSmtpServer();
    await late.stop();
    const channel = `late-${suffix}`;
    await addChannel(channel, {
      kind: 'email',
      host: late.host,
      port: late.port,
      security: 'none',
      from: 'lifeboat@example.test',
      to: ['ops@example.test'],
    });
    const target = await failingTarget('nlate');
    // This target's failures go to the channel that is down, and nowhere else.
    await addRule({
      name: `late-${suffix}`,
      scope: { kind: 'target', target: target.name },
      events: ['backup.failed'],
      channels: [channel],
    });

    const backup = await failedBackup(target.name);
    const eventId = `backup.failed/${backup.id}`;
    toldEvents.push(eventId);
    const run = client.workflow.getHandle(backup.workflowId);
    await run.result().catch(() => undefined);
    const closed = (await run.describe()).closeTime;
    expect(closed).toBeDefined();
    const retrying = await eventually(
      async () => {
        const [delivery] = await deliveriesOf(eventId);
        return delivery && delivery.attempts >= 2 ? delivery : undefined;
      },
      60_000,
      'the delivery to be retried',
    );
    expect(retrying).toMatchObject({ channel: { name: channel }, status: 'pending', sentAt: null });
    expect(retrying.lastError).toMatch(/\S/);
    // The backup ended while its notification was still being tried: it did not wait for it.
    expect(closed!.getTime()).toBeLessThan(Date.parse(retrying.lastAttemptAt!));
    expect(Date.parse(backup.finishedAt!)).toBeLessThan(Date.parse(retrying.lastAttemptAt!));

    await late.start();
    const sent = await eventually(
      async () => {
        const [delivery] = await deliveriesOf(eventId);
        return delivery?.status === 'sent' ? delivery : undefined;
      },
      90_000,
      'the delivery to go through',
    );
    expect(sent.attempts).toBeGreaterThan(retrying.attempts);
    expect(Date.parse(sent.sentAt!)).toBeGreaterThan(closed!.getTime());
    const result = await told(eventId);
    expect(result.deliveries.map((delivery) => delivery.status)).toEqual(['sent']);
    expect(await mailsOf(late, eventId)).toHaveLength(1);
    // The rule sent it to the late channel only.
    expect(postsOf(eventId)).toEqual([]);
    expect(await mailsOf(smtp, eventId)).toEqual([]);
    await late.stop();
    // Gone with its server: later events of this file are not held up retrying it.
    for (const [kind, name] of [
      ['rules', `late-${suffix}`],
      ['channels', channel],
    ] as const) {
      expect((await call('DELETE', `/api/admin/notifications/${kind}/${name}`)).status).toBe(204);
      const list = kind === 'rules' ? createdRules : createdChannels;
      list.splice(list.indexOf(name), 1);
    }
  }, 240_000);
});

describe('a schedule that keeps failing', () => {
  it('is told once when it reaches the threshold and once when it recovers, with a recovery message', async () => {
    const target = await failingTarget('nsched');
    const schedule = `nightly-${suffix}`;
    await addRule({
      name: `pager-${suffix}`,
      scope: { kind: 'schedule', schedule },
      events: ['schedule.failing'],
      channels: [hookChannel],
      params: { consecutiveFailures: 2 },
    });
    /**
     * A run as the schedule starts it, once its own notification is through: a failure sent to the
     * webhook (by default), a success's workflow ended (no channel takes successes) with its result.
     */
    const run = async (n: number): Promise<{ id: string; result: NotifyWorkflowResult | null }> => {
      const backupId = randomUUID();
      const handle = await client.workflow.start<typeof backupWorkflow>('backupWorkflow', {
        taskQueue: worker.taskQueue,
        workflowId: `backup/${target.name}/scheduled-${schedule}-${n}`,
        args: [
          {
            backupId,
            targetId: target.id,
            trigger: 'scheduled',
            requestedBy: `schedule:${schedule}`,
            displayName: schedule,
            description: null,
            tags: [],
            protected: false,
            schedule: {
              name: schedule,
              description: null,
              targetName: target.name,
              frequency: null,
              cron: '@hourly',
            },
          },
        ],
      });
      await handle.result().catch(() => undefined);
      if ((await getBackup(db, backupId)).status === 'completed') {
        return { id: backupId, result: await told(`backup.succeeded/${backupId}`) };
      }
      await delivered(`backup.failed/${backupId}`, [hookChannel]);
      return { id: backupId, result: null };
    };
    const failing = (post: ReceivedRequest) =>
      (JSON.parse(post.body) as { kind: string }).kind === 'schedule.failing';
    const ofSchedule = () =>
      hook.requests.filter((post) => post.headers['lifeboat-event-id']?.toString().includes(`/${schedule}/`));

    const first = await run(1);
    expect(ofSchedule()).toEqual([]);
    await run(2);
    const episode = `schedule.failing/${schedule}/${first.id}`;
    await delivered(episode, [hookChannel]);
    await run(3);
    expect(ofSchedule().filter(failing)).toHaveLength(1);
    const [alarm] = ofSchedule();
    expect(JSON.parse(alarm!.body)).toMatchObject({
      title: `Schedule ${schedule} of ${target.name} failed 2 times in a row`,
      severity: 'critical',
    });

    const s = stack();
    const fixed = await call('PUT', `/api/admin/targets/${target.name}`, {
      body: {
        name: target.name,
        host: '127.0.0.1',
        port: s.pgPort,
        database: target.database,
        username: s.pgSuperuser,
        password: s.pgPassword,
      },
    });
    expect(fixed.status).toBe(200);
    const fourth = await run(4);
    const recovery = `schedule.recovered/${schedule}/${first.id}`;
    expect(fourth.result?.followUps).toEqual([recovery]);
    await delivered(recovery, [hookChannel]);
    const fifth = await run(5);
    expect(fifth.result?.followUps).toEqual([]);

    const posts = ofSchedule();
    expect(posts.map((post) => post.headers['lifeboat-event-id'])).toEqual([episode, recovery]);
    const recovered = JSON.parse(posts[1]!.body) as { title: string; text: string; severity: string };
    expect(recovered).toMatchObject({
      title: `Schedule ${schedule} of ${target.name} recovered`,
      severity: 'info',
    });
    expect(recovered.text).toContain('after 3 failures in a row');
  }, 240_000);
});

describe('the dead-man check', () => {
  it('tells once that a target has had no successful backup for too long, and once that it has again', async () => {
    const database = await createDatabase('nstale');
    const target = await createTarget(`nstale-${database.slice(-8)}`, database);
    // Added 30 hours ago and never backed up: past the default 26 hours.
    await sql(
      catalogDatabase(),
      `update targets set created_at = now() - interval '30 hours' where id = $1`,
      [target.id],
    );
    const check = async () =>
      (
        (await client.workflow.execute('notifyStaleCheckWorkflow', {
          taskQueue: worker.taskQueue,
          workflowId: `notify/stale-check-test-${randomBytes(4).toString('hex')}`,
          args: [],
        })) as StaleCheckResult
      ).emitted.filter((id) => id.includes(target.id));

    const stale = `target.stale/${target.id}/never`;
    expect(await check()).toEqual([stale]);
    await delivered(stale, [mailChannel, hookChannel]);
    expect(await check()).toEqual([]);
    const [post] = postsOf(stale);
    expect(JSON.parse(post!.body)).toMatchObject({
      title: `No successful backup of ${target.name} for 1 d 6 h`,
      severity: 'critical',
    });
    expect((await mailsOf(smtp, stale))[0]?.subject).toContain(target.name);

    await backUp(api, target.name);
    const fresh = `target.fresh/${target.id}/never`;
    expect(await check()).toEqual([fresh]);
    await delivered(fresh, [mailChannel, hookChannel]);
    expect(await check()).toEqual([]);
    expect(postsOf(stale)).toHaveLength(1);
    expect(postsOf(fresh)).toHaveLength(1);
    expect(JSON.parse(postsOf(fresh)[0]!.body)).toMatchObject({
      title: `${target.name} has a successful backup again`,
    });
  }, 180_000);
});

describe('restores and retention', () => {
  it('tell a restore’s start and end, and the backups retention moved to the trash', async () => {
    const database = await createDatabase('nrest');
    await sql(database, 'create table t (id int primary key); insert into t select generate_series(1, 10)');
    const target = await createTarget(`nrest-${database.slice(-8)}`, database, {
      retention: { keepLast: 1, keepHourly: 0, keepDaily: 0, keepWeekly: 0, keepMonthly: 0, keepYearly: 0 },
    });
    // Not told by default: a rule sends this target's retention passes to the webhook.
    await addRule({
      name: `trash-${suffix}`,
      scope: { kind: 'target', target: target.name },
      events: ['retention.removed'],
      channels: [hookChannel],
    });
    const first = await backUp(api, target.name);
    const second = await backUp(api, target.name);
    // The pass after the second backup trashes the first: keepLast 1, and the first is not the newest.
    const [trashed] = await delivered(`retention.removed/${target.id}/${second}`, [hookChannel]);
    expect(trashed).toBeDefined();
    const removal = JSON.parse(postsOf(`retention.removed/${target.id}/${second}`)[0]!.body) as {
      title: string;
    };
    expect(removal.title).toBe(`Retention moved 1 backup of ${target.name} to the trash`);
    expect((await getBackup(db, first)).trashedBy).toBe('retention');

    const { operationId } = await startRestore(api, second, { mode: 'full' });
    expect((await waitForRestore(api, operationId)).status).toBe('completed');
    for (const kind of ['restore.started', 'restore.completed']) {
      await delivered(`${kind}/${operationId}`, [mailChannel, hookChannel]);
    }
    const done = JSON.parse(postsOf(`restore.completed/${operationId}`)[0]!.body) as {
      title: string;
      facts: { label: string; value: string }[];
    };
    expect(done.title).toContain(`Restore into ${target.name} completed`);
    expect(done.facts).toContainEqual({ label: 'From backup', value: second });
  }, 180_000);
});

/** Every string in a workflow history, payloads decoded: what a reader of the history could see. */
function historyText(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (value instanceof Uint8Array) out.push(Buffer.from(value).toString('utf8'));
  else if (Array.isArray(value)) for (const item of value) historyText(item, out);
  else if (value && typeof value === 'object')
    for (const item of Object.values(value)) historyText(item, out);
  return out;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name);
    return statSync(file).isDirectory() ? filesUnder(file) : [file];
  });
}

describe('the channels’ secrets', () => {
  it('appear in no catalog row, API answer, workflow history or log', async () => {
    const forms = [
      secret.password,
      secret.hook,
      Buffer.from(secret.password).toString('base64'),
      Buffer.from(`\u0000${secret.user}\u0000${secret.password}`).toString('base64'),
    ];
    const catalog = catalogDatabase();
    const tables = await sql<{ name: string }>(
      catalog,
      `select table_name as name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`,
    );
    const rows: string[] = [];
    for (const { name } of tables) {
      const [dump] = await sql<{ text: string | null }>(
        catalog,
        `select string_agg(t::text, E'\\n') as text from "${name}" t`,
      );
      rows.push(dump?.text ?? '');
    }
    expect(rows.join('\n')).toContain(envName.password);

    const histories: string[] = [];
    expect(toldEvents.length).toBeGreaterThan(4);
    for (const eventId of toldEvents) {
      histories.push(...historyText(await client.workflow.getHandle(`notify/${eventId}`).fetchHistory()));
    }
    expect(histories.join('\n')).toContain('AUTH_FAILED');

    const logs = filesUnder(testLogsDir()).map((file) => readFileSync(file, 'utf8'));
    expect(logs.join('').length).toBeGreaterThan(0);

    for (const [where, text] of [
      ['catalog', rows.join('\n')],
      ['API answers', answers.join('\n')],
      ['workflow histories', histories.join('\n')],
      ['logs', logs.join('\n')],
    ] as const) {
      for (const form of forms) expect(text.includes(form), `${where} hold a secret`).toBe(false);
    }
  });
});
