// GET /api/admin/events served over HTTP on a loopback port, read by a real SSE client: a backup's and a
// restore's events in order, filters, authentication, the cap on streams, Last-Event-ID, and a client that
// stops reading while thousands of events go by without the API's memory growing with them.
import { serve, type ServerType } from '@hono/node-server';
import { randomBytes } from 'node:crypto';
import net, { type AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.ts';
import { publishLiveEvent } from '../../catalog/events.ts';
import type { LiveEventInput } from '../../domain/live-events.ts';
import { createCatalogLiveEventHub, defaultLiveEventLimits } from '../../services/live-events.ts';
import { apiDeps, eventually } from '../harness/api.ts';
import { startRestore, waitForRestore } from '../harness/restore.ts';
import { createDatabase, sql, useStack } from '../harness/stack.ts';

const { db, client, worker, api, createTarget } = useStack();

/** The name of this file's LISTEN connection in pg_stat_activity. */
const listenerName = `lifeboat-live-events-${randomBytes(4).toString('hex')}`;
const hub = createCatalogLiveEventHub(db, { applicationName: listenerName });
let server: ServerType;
let baseUrl: string;

beforeAll(async () => {
  const app = createApp({ ...apiDeps(db, client, worker), events: hub });
  server = await new Promise<ServerType>((resolve) => {
    const started = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(started));
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await hub.close();
  await new Promise((resolve) => server?.close(resolve));
});

interface SseEvent {
  event: string;
  id: string | undefined;
  data: string;
}

/** The events in `text` up to its last blank line, and what is left of it (SSE as EventSource reads it). */
function parseSse(text: string): { events: SseEvent[]; rest: string } {
  const events: SseEvent[] = [];
  const blocks = text.replace(/\r\n?/g, '\n').split('\n\n');
  const rest = blocks.pop() ?? '';
  for (const block of blocks) {
    let event = 'message';
    let id: string | undefined;
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'id') id = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length > 0) events.push({ event, id, data: data.join('\n') });
  }
  return { events, rest };
}

interface EventStream {
  status: number;
  /** Every event so far. */
  events: SseEvent[];
  /** Reads until an event satisfies `done` (or the stream ends); returns the events so far. */
  until(done: (event: SseEvent) => boolean, what: string, timeoutMs?: number): Promise<SseEvent[]>;
  close(): void;
}

/** An SSE client over fetch; with a non-200 answer, `events` stays empty and `body` holds the error. */
async function openStream(
  query: string,
  options: { token?: string | null; lastEventId?: string } = {},
): Promise<EventStream & { body: string }> {
  const abort = new AbortController();
  const token = options.token === undefined ? api.tokens.viewer : options.token;
  const response = await fetch(`${baseUrl}/api/admin/events${query}`, {
    headers: {
      accept: 'text/event-stream',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(options.lastEventId ? { 'last-event-id': options.lastEventId } : {}),
    },
    signal: abort.signal,
  });
  const events: SseEvent[] = [];
  if (response.status !== 200 || !response.body) {
    return {
      status: response.status,
      body: await response.text(),
      events,
      until: () => Promise.resolve(events),
      close() {},
    };
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = '';
  let ended = false;
  return {
    status: response.status,
    body: '',
    events,
    async until(done, what, timeoutMs = 120_000) {
      const timer = setTimeout(() => abort.abort(new Error(`timed out waiting for ${what}`)), timeoutMs);
      try {
        let seen = 0;
        for (;;) {
          for (; seen < events.length; seen++) if (done(events[seen]!)) return events;
          if (ended) throw new Error(`the stream ended before ${what}`);
          const { value, done: finished } = await reader.read();
          if (finished) ended = true;
          const parsed = parseSse(buffered + (value ?? ''));
          buffered = parsed.rest;
          events.push(...parsed.events);
        }
      } finally {
        clearTimeout(timer);
      }
    },
    close() {
      abort.abort();
    },
  };
}

/** Waits until `condition` holds, polling. */
const waitFor = (condition: () => boolean, timeoutMs: number, what: string) =>
  eventually(() => Promise.resolve(condition() ? true : undefined), timeoutMs, what);

const payloadOf = (event: SseEvent) => JSON.parse(event.data) as Record<string, unknown>;

/** A database of some 150 MB of text that does not compress away: its backup takes several seconds. */
async function fillLargeDatabase(database: string): Promise<void> {
  await sql(
    database,
    `create table readings (id bigint primary key, sensor text, payload text);
     insert into readings
       select g, 'sensor-' || (g % 97), md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) || md5((g * 31)::text)
       from generate_series(1, 1000000) g;`,
  );
}

describe('live events', () => {
  let target: { id: string; name: string };
  let backupId: string;

  it('show a backup started, stepping, progressing and completed, in that order', async () => {
    const database = await createDatabase('live');
    await fillLargeDatabase(database);
    target = await createTarget(`live-${database.slice(-8)}`, database);

    const stream = await openStream(`?target=${encodeURIComponent(target.name)}`);
    expect(stream.status).toBe(200);
    await stream.until((event) => event.event === 'ready', 'the ready event');

    const started = await api.json<{ backupId: string }>('POST', '/api/admin/backups', {
      body: { target: target.name },
    });
    expect(started.status).toBe(202);
    backupId = started.body.backupId;
    await stream.until(
      (event) => event.event === 'backup.finished' && payloadOf(event).backupId === backupId,
      'the backup to finish',
    );
    stream.close();

    const ofBackup = stream.events.filter((event) => event.event.startsWith('backup.'));
    expect(ofBackup.every((event) => payloadOf(event).backupId === backupId)).toBe(true);
    const types = ofBackup.map((event) => event.event);
    expect(types[0]).toBe('backup.started');
    expect(types.at(-1)).toBe('backup.finished');
    expect(types.indexOf('backup.step')).toBeGreaterThan(0);
    expect(types.indexOf('backup.progress')).toBeGreaterThan(types.indexOf('backup.step'));
    expect(types.filter((type) => type === 'backup.finished')).toHaveLength(1);
    expect(ofBackup.filter((e) => e.event === 'backup.step').map((e) => payloadOf(e).step)).toEqual(
      expect.arrayContaining(['dump', 'archive', 'upload']),
    );
    expect(payloadOf(ofBackup[0]!)).toMatchObject({
      target: target.name,
      targetId: target.id,
      trigger: 'manual',
    });
    expect(payloadOf(ofBackup.at(-1)!)).toMatchObject({ status: 'completed', target: target.name });
    const progress = ofBackup.filter((event) => event.event === 'backup.progress').map(payloadOf);
    expect(progress.every((p) => typeof p.percent === 'number' && typeof p.bytes === 'number')).toBe(true);
    expect(progress.every((p) => p.target === target.name)).toBe(true);

    const ids = stream.events.map((event) => Number(event.id));
    expect(ids.every((id, i) => i === 0 || id > ids[i - 1]!)).toBe(true);
  });

  it('show a restore started and finished, with its steps in between', async () => {
    const stream = await openStream('?types=restore.started,restore.step,restore.finished');
    await stream.until((event) => event.event === 'ready', 'the ready event');
    const into = `live_copy_${backupId.slice(0, 8)}`;
    const { operationId } = await startRestore(api, backupId, { destination: { database: into } });
    await stream.until(
      (event) => event.event === 'restore.finished' && payloadOf(event).restoreId === operationId,
      'the restore to finish',
    );
    stream.close();
    expect((await waitForRestore(api, operationId)).status).toBe('completed');

    const ofRestore = stream.events.filter((event) => payloadOf(event).restoreId === operationId);
    const types = ofRestore.map((event) => event.event);
    expect(types[0]).toBe('restore.started');
    expect(types.at(-1)).toBe('restore.finished');
    expect(new Set(types)).toEqual(new Set(['restore.started', 'restore.step', 'restore.finished']));
    expect(payloadOf(ofRestore.at(-1)!)).toMatchObject({ status: 'completed', target: target.name });
    const steps = ofRestore
      .filter((e) => e.event === 'restore.step')
      .map((e) => `${String(payloadOf(e).step)}:${String(payloadOf(e).status)}`);
    expect(steps).toEqual(
      expect.arrayContaining(['validate:started', 'restore-database:completed', 'finish:completed']),
    );
  });

  it('pass only what the filters ask for, and end after maxEvents', async () => {
    const mine = `filters-${backupId.slice(0, 8)}`;
    const [one, two, three] = ['1', '2', '3'].map((n) => `00000000-0000-4000-8000-00000000000${n}`);
    const wanted = await openStream(`?target=${mine}&types=backup.finished,restore.finished&maxEvents=2`);
    await wanted.until((event) => event.event === 'ready', 'the ready event');
    const byBackup = await openStream(`?backup=${one}`);
    await byBackup.until((event) => event.event === 'ready', 'the ready event');
    const published: LiveEventInput[] = [
      { type: 'backup.started', backupId: one, target: mine },
      { type: 'backup.finished', backupId: two, target: 'someone-else' },
      { type: 'backup.progress', backupId: one, target: mine, step: 'dump', percent: 10 },
      {
        type: 'backup.finished',
        backupId: one,
        target: mine,
        status: 'failed',
        errorCode: 'CONNECTION_FAILED',
      },
      { type: 'restore.finished', restoreId: two, target: mine, status: 'completed' },
      { type: 'restore.finished', restoreId: three, target: mine, status: 'failed' },
    ];
    for (const event of published) expect(await publishLiveEvent(db, event)).toBe(true);

    const seen = await wanted.until((event) => event.event === 'end', 'the end of the stream');
    expect(seen.map((event) => event.event)).toEqual(['ready', 'backup.finished', 'restore.finished', 'end']);
    expect(payloadOf(seen[1]!)).toMatchObject({
      backupId: one,
      status: 'failed',
      errorCode: 'CONNECTION_FAILED',
    });
    expect(payloadOf(seen[2]!)).toMatchObject({ restoreId: two, status: 'completed' });
    expect(payloadOf(seen[3]!)).toEqual({ reason: 'maxEvents' });

    const ofOne = await byBackup.until((event) => event.event === 'backup.finished', 'the backup to finish');
    expect(ofOne.map((event) => event.event)).toEqual([
      'ready',
      'backup.started',
      'backup.progress',
      'backup.finished',
    ]);
    byBackup.close();
  });

  it('drop what a run announces after it finished', async () => {
    const late = `late-${backupId.slice(0, 8)}`;
    const stream = await openStream(`?target=${late}`);
    await stream.until((event) => event.event === 'ready', 'the ready event');
    // The backup of the first test finished: a heartbeat of it that comes late is not passed on.
    await publishLiveEvent(db, {
      type: 'backup.progress',
      backupId,
      target: late,
      step: 'upload',
      percent: 90,
    });
    await publishLiveEvent(db, { type: 'backup.finished', backupId, target: late, status: 'completed' });
    const fresh = '00000000-0000-4000-8000-000000000004';
    await publishLiveEvent(db, { type: 'backup.started', backupId: fresh, target: late });
    const seen = await stream.until((event) => event.event === 'backup.started', 'the fresh backup');
    expect(seen.map((event) => event.event)).toEqual(['ready', 'backup.started']);
    expect(payloadOf(seen[1]!).backupId).toBe(fresh);
    stream.close();
  });

  it('replay what a returning client missed while the process kept listening, and else ask it to re-sync', async () => {
    const returning = `returning-${backupId.slice(0, 8)}`;
    const keeper = await openStream('?target=nobody-at-all');
    await keeper.until((event) => event.event === 'ready', 'the ready event');
    const first = await openStream(`?target=${returning}`);
    await first.until((event) => event.event === 'ready', 'the ready event');
    await publishLiveEvent(db, {
      type: 'backup.started',
      backupId: '00000000-0000-4000-8000-000000000005',
      target: returning,
    });
    const [, seenFirst] = await first.until((event) => event.event === 'backup.started', 'the first event');
    first.close();
    for (const n of ['6', '7']) {
      await publishLiveEvent(db, {
        type: 'backup.started',
        backupId: `00000000-0000-4000-8000-00000000000${n}`,
        target: returning,
      });
    }

    const back = await openStream(`?target=${returning}`, { lastEventId: seenFirst!.id! });
    const replayed = await back.until(
      (event) => payloadOf(event).backupId === '00000000-0000-4000-8000-000000000007',
      'the replayed events',
    );
    expect(replayed.map((event) => event.event)).toEqual(['ready', 'backup.started', 'backup.started']);
    expect(replayed[0]!.id).toBe(seenFirst!.id);
    expect(Number(replayed[1]!.id)).toBeGreaterThan(Number(seenFirst!.id));

    // Once no stream is open the process stops listening: an id from before cannot be caught up.
    keeper.close();
    back.close();
    await waitFor(() => !hub.stats().listening, 30_000, 'the hub to stop listening');
    const stale = await openStream(`?target=${returning}`, { lastEventId: seenFirst!.id! });
    const told = await stale.until((event) => event.event === 'resync', 'the re-sync');
    expect(told.map((event) => event.event)).toEqual(['ready', 'resync']);
    expect(payloadOf(told[1]!)).toEqual({ reason: 'gap' });
    stale.close();
  });

  it('tell open streams to re-sync when the catalog connection drops, and go on once it is back', async () => {
    const stream = await openStream('?target=reconnecting');
    await stream.until((event) => event.event === 'ready', 'the ready event');
    const listenerPids = async () =>
      (
        await sql<{ pid: number }>(
          'lifeboat_catalog',
          'select pid from pg_stat_activity where application_name = $1',
          [listenerName],
        )
      ).map((row) => row.pid);
    const [first] = await listenerPids();
    expect(first).toBeDefined();
    await sql('lifeboat_catalog', 'select pg_terminate_backend($1)', [first]);

    const told = await stream.until((event) => event.event === 'resync', 'the re-sync');
    expect(payloadOf(told.at(-1)!)).toEqual({ reason: 'gap' });
    // Listening again, on a connection of its own: the terminated one is gone from the server.
    await eventually(
      async () => {
        const pids = await listenerPids();
        return pids.length === 1 && pids[0] !== first ? pids : undefined;
      },
      30_000,
      'the new LISTEN connection',
    );
    await publishLiveEvent(db, {
      type: 'backup.started',
      backupId: '00000000-0000-4000-8000-000000000008',
      target: 'reconnecting',
    });
    const after = await stream.until(
      (event) => event.event === 'backup.started',
      'an event after the re-sync',
    );
    expect(after.map((event) => event.event)).toEqual(['ready', 'resync', 'backup.started']);
    stream.close();
  });

  it('answer 503 past the cap on open streams', async () => {
    const capped = createCatalogLiveEventHub(db, { maxStreams: 2 });
    const app = createApp({ ...apiDeps(db, client, worker), events: capped });
    const open = () =>
      app.request('/api/admin/events', { headers: { authorization: `Bearer ${api.tokens.viewer}` } });
    const a = await open();
    const b = await open();
    expect([a.status, b.status]).toEqual([200, 200]);
    const refused = await open();
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ error: { code: 'SERVICE_UNAVAILABLE' } });
    await a.body!.cancel();
    const c = await open();
    expect(c.status).toBe(200);
    await b.body!.cancel();
    await c.body!.cancel();
    await capped.close();
  });

  it('keep a client that stops reading at its bounded queue while thousands of events go by', async () => {
    const slowTarget = `slow-${'x'.repeat(190)}`;
    await waitFor(() => hub.stats().streams.length === 0, 30_000, 'the other streams to close');
    const socket = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      received += chunk;
    });
    socket.write(
      `GET /api/admin/events?target=${slowTarget} HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
        `Authorization: Bearer ${api.tokens.viewer}\r\nAccept: text/event-stream\r\n\r\n`,
    );
    await waitFor(() => received.includes('event: ready'), 30_000, 'the ready event');
    expect(received).toMatch(/^HTTP\/1\.1 200/);
    socket.pause();

    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc();
    const heapBefore = process.memoryUsage().heapUsed;

    const slowStream = () => {
      const [stats] = hub.stats().streams;
      return stats!;
    };
    /** Every event the hub gave the stream: written out, still queued, or dropped. */
    const offered = () => {
      const stats = slowStream();
      return stats.delivered + stats.queued + stats.dropped;
    };
    const restoreId = '00000000-0000-4000-8000-0000000000aa';
    const table = `public.${'t'.repeat(120)}`;
    let published = 0;
    /** Publishes `count` progress events of the slow stream's target and waits until the hub has them all. */
    const publishProgress = async (count: number) => {
      for (let batch = 0; batch < count; batch += 50) {
        await Promise.all(
          Array.from({ length: 50 }, (_, k) =>
            publishLiveEvent(db, {
              type: 'restore.progress',
              restoreId,
              target: slowTarget,
              step: 'restore-database',
              percent: (published + batch + k) % 100,
              bytes: published + batch + k,
              table,
            }),
          ),
        );
      }
      published += count;
      await waitFor(() => offered() >= published, 60_000, 'the hub to receive every event');
    };
    const heapGrowthBytes = () => {
      gc();
      return process.memoryUsage().heapUsed - heapBefore;
    };

    // 10,000 events first; more only while the loopback socket's buffers (megabytes) still took them all.
    for (let round = 0; round < 6 && slowStream().dropped === 0; round++) await publishProgress(10_000);
    const stats = slowStream();
    expect(stats.queued).toBe(defaultLiveEventLimits.queueLimit);
    expect(stats.dropped).toBeGreaterThan(0);
    expect(offered()).toBe(published);
    const saturatedGrowth = heapGrowthBytes();
    // Once the queue is full, more events cost no memory: without the bound these 20,000 half-kilobyte
    // events would all be held for the reader (some 20 MB of strings alone).
    await publishProgress(20_000);
    expect(slowStream().queued).toBe(defaultLiveEventLimits.queueLimit);
    const finalGrowth = heapGrowthBytes();
    expect(finalGrowth - saturatedGrowth).toBeLessThan(8 * 1024 * 1024);
    expect(finalGrowth).toBeLessThan(64 * 1024 * 1024);
    const droppedBeforeReading = slowStream().dropped;

    await publishLiveEvent(db, {
      type: 'restore.finished',
      restoreId,
      target: slowTarget,
      status: 'completed',
    });
    await waitFor(() => offered() > published, 30_000, 'the hub to receive the last event');
    socket.resume();
    await waitFor(() => received.includes('event: restore.finished'), 60_000, 'the last event');
    socket.destroy();
    const notice = /event: dropped\ndata: (\{[^\n]*\})/.exec(received);
    expect(notice, 'a dropped notice').not.toBeNull();
    expect((JSON.parse(notice![1]!) as { dropped: number }).dropped).toBeGreaterThanOrEqual(
      droppedBeforeReading,
    );
    expect(notice!.index).toBeLessThan(received.indexOf('event: restore.finished'));
  });

  it('refuse a request without a token, and bad filters', async () => {
    const anonymous = await openStream('', { token: null });
    expect(anonymous.status).toBe(401);
    expect(JSON.parse(anonymous.body)).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    for (const query of [
      '?types=backup.exploded',
      '?backup=not-a-uuid',
      '?maxEvents=0',
      '?timeoutSeconds=abc',
    ]) {
      const refused = await openStream(query);
      expect(refused.status, query).toBe(400);
      expect(JSON.parse(refused.body)).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });
    }
  });

  it('end a stream after timeoutSeconds', async () => {
    const stream = await openStream('?timeoutSeconds=1&target=nobody-at-all');
    const seen = await stream.until((event) => event.event === 'end', 'the end of the stream', 30_000);
    expect(seen.map((event) => event.event)).toEqual(['ready', 'end']);
    expect(payloadOf(seen[1]!)).toEqual({ reason: 'timeout' });
  });
});
