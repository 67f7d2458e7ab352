// The notifier contract as tests: every channel runs this one suite against a real receiver (an SMTP server,
// an HTTP server) that its test file starts.
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../stack/ports.ts';
import { channelEnvNames, type ChannelConfig } from '../../notify/channel-config.ts';
import { DeliveryError, type Notification } from '../../notify/notifier.ts';
import { createNotifier } from '../../notify/registry.ts';

export interface Fact {
  label: string;
  value: string;
}

/** A channel's settings and the values of the variables they name (what the suite's readSecret answers). */
export interface ChannelTarget {
  config: ChannelConfig;
  secrets: Record<string, string>;
}

export interface ChannelUnderTest extends ChannelTarget {
  /** The same channel pointed at another loopback port: one nothing listens on, or a server that never answers. */
  pointedAt(port: number): ChannelTarget;
  /** What the receiver got since this setup, oldest first: the title and the facts as the receiver reads them. */
  deliveries(): Promise<{ title: string; facts: Fact[] }[]>;
  /** Makes the receiver refuse for now (HTTP 503, SMTP 451), for good (HTTP 400, SMTP 550), or accept again. */
  answer(mode: 'accept' | 'transient' | 'permanent'): Promise<void>;
  /** A certificate the channel must trust to reach this receiver (an SMTP server with a self-signed one). */
  trustedCa?: string;
}

/** Facts with what formats get wrong: markup, quotes, ampersands, asterisks, non-ASCII, an emoji. */
export const sampleNotification: Notification = {
  eventId: 'backup.failed/5f0c2a8e-1d4b-4c1e-9a57-3b2f6c1d9e10',
  kind: 'backup.failed',
  severity: 'critical',
  occurredAt: '2026-11-30T03:00:12.000Z',
  title: 'Backup of orders failed: STORAGE_UNAVAILABLE',
  text: 'The backup of orders stopped at the upload step.\nThe next scheduled run is at 04:00 UTC.',
  facts: [
    { label: 'Target', value: 'orders' },
    { label: 'Error code', value: 'STORAGE_UNAVAILABLE' },
    { label: 'Error message', value: 'bucket "lb-prod" <refused> & gone; 50% of *parts* sent' },
    { label: 'Größe', value: '1.5 GiB ≈ 1 610 612 736 bytes 🚢' },
  ],
  target: 'orders',
};

/** A TCP server that accepts connections and never says a word: neither an SMTP greeting nor an HTTP answer. */
async function startSilentServer() {
  const sockets: Socket[] = [];
  const closed: Promise<void>[] = [];
  let connected!: () => void;
  const firstConnection = new Promise<void>((resolve) => (connected = resolve));
  const server = createServer((socket) => {
    sockets.push(socket);
    closed.push(new Promise((resolve) => socket.once('close', () => resolve())));
    socket.on('error', () => undefined);
    // Reading (and dropping) what arrives lets the client's close reach this end: a paused socket with
    // unread data never sees the end of the stream.
    socket.resume();
    connected();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    firstConnection,
    /** Resolves once every connection made so far was closed by the client. */
    allClosed: () => Promise.all(closed),
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A readSecret that knows only `secrets`, except the names in `missing`. */
function secretsReader(secrets: Record<string, string>, missing: string[] = []) {
  return (name: string) => (missing.includes(name) ? undefined : secrets[name]);
}

/** The error `sending` rejected with: a DeliveryError, as permanent as expected, without any secret in it. */
async function deliveryErrorOf(
  sending: Promise<unknown>,
  permanent: boolean,
  secrets: Record<string, string>,
): Promise<DeliveryError> {
  const error = await sending.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(DeliveryError);
  const failure = error as DeliveryError;
  expect({ permanent: failure.permanent, message: failure.message }).toMatchObject({ permanent });
  for (const value of Object.values(secrets)) expect(failure.message).not.toContain(value);
  return failure;
}

export function notifierContract(name: string, setup: () => Promise<ChannelUnderTest>): void {
  describe(`${name} notifier`, () => {
    const open = async () => {
      const channel = await setup();
      const notifier = createNotifier(channel.config, secretsReader(channel.secrets), {
        ...(channel.trustedCa ? { trustedCa: channel.trustedCa } : {}),
      });
      return { channel, notifier };
    };

    it('delivers a notification whose title and facts arrive intact', async () => {
      const { channel, notifier } = await open();
      const receipt = await notifier.send(sampleNotification);
      expect(receipt.detail).toEqual(expect.any(String));
      for (const value of Object.values(channel.secrets)) expect(receipt.detail).not.toContain(value);
      expect(await channel.deliveries()).toEqual([
        { title: sampleNotification.title, facts: sampleNotification.facts },
      ]);
    });

    it('reports a refusal for now as a retryable DeliveryError, and delivers once the receiver accepts again', async () => {
      const { channel, notifier } = await open();
      await channel.answer('transient');
      await deliveryErrorOf(notifier.send(sampleNotification), false, channel.secrets);
      await channel.answer('accept');
      await notifier.send(sampleNotification);
      expect(await channel.deliveries()).toHaveLength(1);
    });

    it('reports a refusal for good as a permanent DeliveryError', async () => {
      const { channel, notifier } = await open();
      await channel.answer('permanent');
      await deliveryErrorOf(notifier.send(sampleNotification), true, channel.secrets);
      expect(await channel.deliveries()).toEqual([]);
    });

    it('reports a receiver that cannot be reached as a retryable DeliveryError', async () => {
      const { channel } = await open();
      const closed = channel.pointedAt(await freePort());
      const notifier = createNotifier(closed.config, secretsReader(closed.secrets));
      await deliveryErrorOf(notifier.send(sampleNotification), false, closed.secrets);
    });

    it('fails permanently, naming the variable and never a value, when a secret variable is missing', async () => {
      const { channel } = await open();
      const names = channelEnvNames(channel.config);
      expect(names.length).toBeGreaterThan(0);
      for (const missing of names) {
        const notifier = createNotifier(channel.config, secretsReader(channel.secrets, [missing]));
        const error = await deliveryErrorOf(notifier.send(sampleNotification), true, channel.secrets);
        expect(error.message).toContain(missing);
      }
      expect(await channel.deliveries()).toEqual([]);
    });

    it('stops waiting for a receiver that never answers when the signal aborts, and closes the connection', async () => {
      const { channel } = await open();
      const silent = await startSilentServer();
      try {
        const hung = channel.pointedAt(silent.port);
        const notifier = createNotifier(hung.config, secretsReader(hung.secrets));
        const controller = new AbortController();
        const sending = notifier.send(sampleNotification, controller.signal);
        await silent.firstConnection;
        controller.abort();
        const error = await deliveryErrorOf(sending, false, hung.secrets);
        expect(error.message).toContain('aborted');
        await silent.allClosed();
      } finally {
        await silent.close();
      }
    });

    it('gives up on a receiver that never answers after the timeout, as a retryable DeliveryError', async () => {
      const { channel } = await open();
      const silent = await startSilentServer();
      try {
        const hung = channel.pointedAt(silent.port);
        const notifier = createNotifier(hung.config, secretsReader(hung.secrets), { timeoutMs: 300 });
        const error = await deliveryErrorOf(notifier.send(sampleNotification), false, hung.secrets);
        expect(error.message).toContain('300 ms');
        await silent.allClosed();
      } finally {
        await silent.close();
      }
    });
  });
}
