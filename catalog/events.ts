// Live events through the catalog database: NOTIFY on one channel to publish, a LISTEN connection to follow.
import type pg from 'pg';
import {
  decodeLiveEvent,
  encodeLiveEvent,
  type LiveEvent,
  type LiveEventInput,
} from '../domain/live-events.ts';

/** The one channel every worker publishes on and every API process listens to. */
export const liveEventsChannel = 'lifeboat_events';

function reportToConsole(error: unknown): void {
  console.warn(`lifeboat: a live event could not be published: ${(error as Error).message}`);
}

/**
 * Publishes one event to whoever listens now (nobody keeps it: a stream that was not open misses it).
 * Best effort: a failure goes to `onError` and is never thrown, so that no step fails for an event.
 * Returns whether the event was published.
 */
export async function publishLiveEvent(
  db: Pick<pg.Pool, 'query'>,
  event: LiveEventInput,
  onError: (error: unknown) => void = reportToConsole,
): Promise<boolean> {
  try {
    await db.query('select pg_notify($1, $2)', [liveEventsChannel, encodeLiveEvent(event, new Date())]);
    return true;
  } catch (error) {
    onError(error);
    return false;
  }
}

/** The target of a backup or restore operation, for events whose publisher does not know it. */
export async function liveEventTarget(
  db: Pick<pg.Pool, 'query'>,
  run: { backupId: string } | { restoreId: string },
): Promise<{ target: string; targetId: string | undefined } | undefined> {
  const { rows } = await db.query<{ target_name: string; target_id: string | null }>(
    'backupId' in run
      ? 'select target_name, target_id from backups where id = $1'
      : 'select target_name, target_id from restore_operations where id = $1',
    ['backupId' in run ? run.backupId : run.restoreId],
  );
  const row = rows[0];
  return row ? { target: row.target_name, targetId: row.target_id ?? undefined } : undefined;
}

export interface LiveEventListener {
  /** Settles with the first LISTEN: fulfilled once it holds, rejected when the first attempt fails. */
  ready: Promise<void>;
  close(): Promise<void>;
}

export interface ListenOptions {
  /** A new, unconnected client; called again for every reconnection. */
  connect: () => pg.Client;
  onEvent: (event: LiveEvent) => void;
  /** Listening again after the connection was lost: events published in between were missed. */
  onGap: () => void;
  onError?: (error: unknown) => void;
  /** Delay before the first reconnection, doubled up to `maxRetryDelayMs`. */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
}

/**
 * LISTENs on the channel over a dedicated connection (a pool would hand it back and lose the LISTEN) and
 * hands every well-formed event to `onEvent`. A lost connection is opened again, with backoff, until
 * `close`; anything else on the channel is ignored.
 */
export function listenLiveEvents(options: ListenOptions): LiveEventListener {
  const firstDelayMs = options.retryDelayMs ?? 250;
  const maxDelayMs = options.maxRetryDelayMs ?? 5_000;
  let closed = false;
  let listenedOnce = false;
  let current: pg.Client | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let delayMs = firstDelayMs;
  let settleReady: { resolve: () => void; reject: (error: unknown) => void } | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    settleReady = { resolve, reject };
  });
  // A caller that stops waiting on `ready` must not leave an unhandled rejection behind.
  ready.catch(() => undefined);

  const lost = (client: pg.Client, error?: unknown) => {
    if (client !== current) return;
    current = undefined;
    client.end().catch(() => undefined);
    if (closed) return;
    if (error !== undefined) options.onError?.(error);
    if (!listenedOnce) settleReady?.reject(error ?? new Error('The catalog connection ended.'));
    retryTimer = setTimeout(open, delayMs);
    delayMs = Math.min(maxDelayMs, delayMs * 2);
  };

  function open(): void {
    retryTimer = undefined;
    if (closed) return;
    const client = options.connect();
    current = client;
    client.on('notification', (message) => {
      if (message.channel !== liveEventsChannel || !message.payload) return;
      const event = decodeLiveEvent(message.payload);
      if (event) options.onEvent(event);
    });
    client.on('error', (error) => lost(client, error));
    client.on('end', () => lost(client));
    client
      .connect()
      .then(() => client.query(`listen ${liveEventsChannel}`))
      .then(() => {
        if (client !== current) return;
        delayMs = firstDelayMs;
        if (listenedOnce) options.onGap();
        listenedOnce = true;
        settleReady?.resolve();
      })
      .catch((error: unknown) => lost(client, error));
  }

  open();
  return {
    ready,
    async close() {
      closed = true;
      clearTimeout(retryTimer);
      const client = current;
      current = undefined;
      await client?.end().catch(() => undefined);
    },
  };
}
