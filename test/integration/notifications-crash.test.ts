// A worker process SIGKILLed in the middle of sending a mail: the SMTP server (Mailpit) has the whole
// message but never acknowledged it when the worker dies; restarted under the same id, the worker sends
// it again, and exactly one mail arrives.
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NotifyWorkflowResult } from '../../workflows/notify.ts';
import { startSmtpServer, type SmtpServer } from '../harness/smtp-server.ts';
import { createDatabase, endedBackup, scratchDir, useStack } from '../harness/stack.ts';
import { killWorkerProcess, killWorkerProcesses, startWorkerProcess } from '../harness/worker-process.ts';

// No worker in this process: the delivery runs in a worker process that the test kills.
const { db, client, worker, api, storageDir, createTarget } = useStack({ workers: 0 });
let smtp: SmtpServer;
let proxy: HoldingProxy;
const suffix = randomBytes(3).toString('hex');
const channel = `crash-mail-${suffix}`;
const rule = `crash-${suffix}`;

/**
 * A TCP relay in front of the SMTP server that, while `hold` is on, keeps back the end of a message that
 * carries `marker`: the server has the mail's text but not its final dot, so it has not taken it.
 * Everything else passes as it is.
 */
interface HoldingProxy {
  port: number;
  hold: boolean;
  /** Resolves when a message is held, and when the client of that connection has gone. */
  held: Promise<void>;
  clientGone: Promise<void>;
  close(): Promise<void>;
}

async function startHoldingProxy(upstreamPort: number, marker: string): Promise<HoldingProxy> {
  let heldNow!: () => void;
  let goneNow!: () => void;
  const state: HoldingProxy = {
    port: 0,
    hold: true,
    held: new Promise<void>((resolve) => (heldNow = resolve)),
    clientGone: new Promise<void>((resolve) => (goneNow = resolve)),
    close: () => Promise.resolve(),
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(upstreamPort, '127.0.0.1');
    upstream.pipe(client);
    let seen = '';
    let holding = false;
    client.on('data', (chunk: Buffer) => {
      if (holding) return;
      seen = (seen + chunk.toString('latin1')).slice(-1_000_000);
      const at = seen.indexOf(marker);
      if (state.hold && at >= 0 && seen.indexOf('\r\n.\r\n', at) >= 0) {
        holding = true;
        client.once('close', goneNow);
        heldNow();
        return;
      }
      upstream.write(chunk);
    });
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as net.AddressInfo).port;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
    });
  return state;
}

function messageIdOf(eventId: string): string {
  return `${createHash('sha256').update(eventId).digest('hex')}@lifeboat`;
}

afterAll(async () => {
  killWorkerProcesses();
  await api.call('DELETE', `/api/admin/notifications/rules/${rule}`);
  await api.call('DELETE', `/api/admin/notifications/channels/${channel}`);
  await proxy?.close();
  await smtp?.stop();
});

let target: { id: string; name: string };

beforeAll(async () => {
  smtp = await startSmtpServer();
  const database = await createDatabase('ncrash');
  target = await createTarget(`ncrash-${database.slice(-8)}`, database, { password: 'not-the-password' });
});

describe('a worker SIGKILLed while it sends a notification', () => {
  it('sends exactly one mail after it is restarted under the same id', async () => {
    const launch = {
      taskQueue: worker.taskQueue,
      workerId: `ncrash-${suffix}`,
      storageDir,
      workDir: scratchDir('ncrash-work'),
    };
    // The relay holds the mail that names this file's target; mails of other files' events pass.
    proxy = await startHoldingProxy(smtp.port, target.name);
    const created = await api.json('POST', '/api/admin/notifications/channels', {
      body: {
        name: channel,
        config: {
          kind: 'email',
          host: '127.0.0.1',
          port: proxy.port,
          security: 'none',
          from: 'lifeboat@example.test',
          to: ['ops@example.test'],
        },
      },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const routed = await api.json('POST', '/api/admin/notifications/rules', {
      body: {
        name: rule,
        scope: { kind: 'target', target: target.name },
        events: ['backup.failed'],
        channels: [channel],
      },
    });
    expect(routed.status, JSON.stringify(routed.body)).toBe(201);

    const first = await startWorkerProcess(launch);
    const started = await api.json<{ backupId: string }>('POST', '/api/admin/backups', {
      body: { target: target.name },
    });
    expect(started.status).toBe(202);
    const eventId = `backup.failed/${started.body.backupId}`;
    const backup = await endedBackup(db, started.body.backupId);
    expect(backup.errorCode).toBe('AUTH_FAILED');

    await proxy.held;
    const mails = async () =>
      (await smtp.messages()).filter((mail) => mail.messageId === messageIdOf(eventId));
    expect(await mails()).toEqual([]);
    await killWorkerProcess(first);
    await proxy.clientGone;
    proxy.hold = false;
    // Mailpit dropped the message it never finished receiving.
    expect(await mails()).toEqual([]);

    await startWorkerProcess(launch);
    const result = (await client.workflow.getHandle(`notify/${eventId}`).result()) as NotifyWorkflowResult;
    expect(result).toMatchObject({ eventId, deliveries: [{ status: 'sent' }] });
    expect(await mails()).toHaveLength(1);
    const { rows } = await db.query<{ status: string; attempts: number }>(
      `select d.status, d.attempts from notification_deliveries d join notification_channels c on c.id = d.channel_id
        where d.event_id = $1 and c.name = $2`,
      [eventId, channel],
    );
    // The killed attempt counts: the second one sent it, and the delivery's workflow has ended with it.
    expect(rows).toEqual([{ status: 'sent', attempts: 2 }]);

    // A worker process makes the dead-man check's schedule at start (which worker's queue it points at
    // last depends on the other test files' worker processes).
    const schedule = await client.schedule.getHandle('lifeboat-notify-stale-check').describe();
    expect(schedule.action).toMatchObject({
      type: 'startWorkflow',
      workflowType: 'notifyStaleCheckWorkflow',
    });
    expect(schedule.spec.intervals?.[0]?.every).toBe(15 * 60_000);
  }, 180_000);
});
