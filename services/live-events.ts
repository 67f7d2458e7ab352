// The API process's live-event hub: one LISTEN connection to the catalog, fanned out to bounded stream queues.
import pg from 'pg';
import { listenLiveEvents, type LiveEventListener } from '../catalog/events.ts';
import { LifeboatError } from '../domain/errors.ts';
import {
  isFinishedEvent,
  isProgressEvent,
  liveRunKey,
  matchesLiveEvent,
  type LiveEvent,
  type LiveEventFilter,
  type LiveEventType,
} from '../domain/live-events.ts';

/** One event as streams send it: its id in this process, its type and its JSON, shared by every stream. */
export interface NumberedEvent {
  id: number;
  type: LiveEventType;
  event: LiveEvent;
  data: string;
}

/** What a stream writes next. */
export type LiveDelivery =
  | { kind: 'event'; item: NumberedEvent }
  /** Progress events this stream's reader was too slow for; later progress supersedes them. */
  | { kind: 'dropped'; count: number }
  /**
   * Events may be missing: `overflow` (the reader was too slow even for started/step/finished events; the
   * stream ends after this), `gap` (the API lost its catalog connection for a while, or the client's
   * Last-Event-ID is older than what this process can replay).
   */
  | { kind: 'resync'; reason: 'overflow' | 'gap'; dropped?: number }
  /** The API is shutting down; the stream ends after this. */
  | { kind: 'end'; reason: 'shutdown' };

/**
 * A stream's queue, bounded: when full, the oldest progress event makes room (counted, then reported as
 * one `dropped`), and only when it holds no progress at all the oldest event of any kind (then the stream
 * is told to re-sync and ends). Its memory is `limit` events whatever the reader does.
 */
export class LiveEventQueue {
  readonly limit: number;
  private items: NumberedEvent[] = [];
  private droppedProgress = 0;
  private droppedOther = 0;
  private gap = false;
  /** Every event this queue ever dropped. */
  dropped = 0;

  constructor(limit: number) {
    this.limit = limit;
  }

  get length(): number {
    return this.items.length;
  }

  push(item: NumberedEvent): void {
    if (this.items.length >= this.limit) {
      const oldestProgress = this.items.findIndex((queued) => isProgressEvent(queued.type));
      if (oldestProgress >= 0) {
        this.items.splice(oldestProgress, 1);
        this.droppedProgress++;
      } else {
        this.items.shift();
        this.droppedOther++;
      }
      this.dropped++;
    }
    this.items.push(item);
  }

  /** Events before this point may be missing (not counted: they never reached this process). */
  markGap(): void {
    this.gap = true;
  }

  /** The next delivery: what was lost comes first, then the oldest event. */
  take(): LiveDelivery | undefined {
    if (this.droppedOther > 0) {
      const dropped = this.droppedOther + this.droppedProgress;
      this.droppedOther = 0;
      this.droppedProgress = 0;
      return { kind: 'resync', reason: 'overflow', dropped };
    }
    if (this.gap) {
      this.gap = false;
      return { kind: 'resync', reason: 'gap' };
    }
    if (this.droppedProgress > 0) {
      const count = this.droppedProgress;
      this.droppedProgress = 0;
      return { kind: 'dropped', count };
    }
    const item = this.items.shift();
    return item && { kind: 'event', item };
  }
}

/** How a stream that sends `Last-Event-ID` picks up: nothing missed, replayed from memory, or re-sync. */
export type ResumeDecision = 'current' | 'replay' | 'resync';

/**
 * `lastEventId` against what this process holds: the events since `sessionStartId` (ids after it arrived
 * while listening without a break), of which the replay buffer keeps those from `oldestKeptId` on.
 */
export function resumeDecision(
  lastEventId: number,
  state: { sessionStartId: number; lastId: number; oldestKeptId: number | undefined },
): ResumeDecision {
  if (lastEventId < state.sessionStartId || lastEventId > state.lastId) return 'resync';
  if (lastEventId === state.lastId) return 'current';
  const oldest = state.oldestKeptId ?? state.lastId + 1;
  return lastEventId >= oldest - 1 ? 'replay' : 'resync';
}

export interface LiveStream {
  /** The id the stream starts after: its first `ready` event carries it. */
  readonly position: number;
  /**
   * The next delivery, waiting at most `waitMs`: `idle` when nothing came (time for a heartbeat), undefined
   * once the stream is closed.
   */
  next(waitMs: number): Promise<LiveDelivery | 'idle' | undefined>;
  close(): void;
}

export interface LiveStreamStats {
  queued: number;
  dropped: number;
  delivered: number;
}

export interface LiveEventHub {
  /**
   * Opens a stream of the events that match `filter`; SERVICE_UNAVAILABLE when this process serves its
   * maximum of streams already, or cannot listen to the catalog.
   */
  subscribe(options: { filter: LiveEventFilter; lastEventId?: number | undefined }): Promise<LiveStream>;
  /** For tests and diagnostics: whether it listens, the last id, and each open stream's queue. */
  stats(): { listening: boolean; lastId: number; streams: LiveStreamStats[] };
  /** Ends every stream (each is told `end`) and stops listening; later subscriptions are refused. */
  close(): Promise<void>;
}

export interface LiveEventHubOptions {
  /** A new catalog client for the LISTEN connection (one at a time, again after a lost connection). */
  connect: () => pg.Client;
  /** Streams this process serves at once; the next one answers 503. Default 100. */
  maxStreams?: number;
  /** Events queued per stream for a slow reader. Default 256. */
  queueLimit?: number;
  /** Recent events kept for clients that come back with Last-Event-ID. Default 256. */
  replayLimit?: number;
  /** Finished runs remembered, to drop their late progress. Default 1000. */
  finishedLimit?: number;
  onError?: (error: unknown) => void;
}

export const defaultLiveEventLimits = {
  maxStreams: 100,
  queueLimit: 256,
  replayLimit: 256,
  finishedLimit: 1_000,
};

/**
 * A hub over the catalog pool's own connection settings; its LISTEN connection shows in pg_stat_activity
 * as `applicationName` (default lifeboat-live-events).
 */
export function createCatalogLiveEventHub(
  db: pg.Pool,
  options: Omit<LiveEventHubOptions, 'connect'> & { applicationName?: string } = {},
): LiveEventHub {
  const { applicationName = 'lifeboat-live-events', ...hubOptions } = options;
  return createLiveEventHub({
    ...hubOptions,
    connect: () => new pg.Client({ ...db.options, application_name: applicationName }),
  });
}

/**
 * The hub listens only while a stream is open: the first stream opens the LISTEN connection (and waits
 * for it, so that it misses nothing published after its answer began), the last one to close ends it.
 * Ids increase by one per event, from the process's start time in milliseconds, so that an id from an
 * earlier process is (in practice) older than every id of this one.
 */
export function createLiveEventHub(options: LiveEventHubOptions): LiveEventHub {
  const limits = { ...defaultLiveEventLimits, ...options };
  const onError =
    options.onError ??
    ((error: unknown) =>
      console.error(`lifeboat api: live events: ${error instanceof Error ? error.message : String(error)}`));
  const streams = new Set<Stream>();
  let reserved = 0;
  let hubClosed = false;
  let listener: LiveEventListener | undefined;
  let lastId = Date.now();
  let sessionStartId = lastId;
  let replay: NumberedEvent[] = [];
  const finishedRuns = new Set<string>();

  class Stream implements LiveStream {
    readonly queue = new LiveEventQueue(limits.queueLimit);
    readonly filter: LiveEventFilter;
    readonly position: number;
    delivered = 0;
    private closed = false;
    private wake: (() => void) | undefined;

    constructor(filter: LiveEventFilter, position: number) {
      this.filter = filter;
      this.position = position;
    }

    offer(item: NumberedEvent): void {
      if (this.closed || !matchesLiveEvent(this.filter, item.event)) return;
      this.queue.push(item);
      this.wake?.();
    }

    markGap(): void {
      this.queue.markGap();
      this.wake?.();
    }

    /** Lets a waiting `next` look again: the hub is closing. */
    nudge(): void {
      this.wake?.();
    }

    async next(waitMs: number): Promise<LiveDelivery | 'idle' | undefined> {
      if (this.closed) return undefined;
      const ready = this.queue.take();
      if (ready) return this.counted(ready);
      if (hubClosed) return { kind: 'end', reason: 'shutdown' };
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, waitMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
      if (this.closed) return undefined;
      const delivery = this.queue.take();
      if (delivery) return this.counted(delivery);
      return hubClosed ? { kind: 'end', reason: 'shutdown' } : 'idle';
    }

    private counted(delivery: LiveDelivery): LiveDelivery {
      if (delivery.kind === 'event') this.delivered++;
      return delivery;
    }

    close(): void {
      if (this.closed) return;
      this.closed = true;
      this.wake?.();
      streams.delete(this);
      stopWhenIdle();
    }

    stats(): LiveStreamStats {
      return { queued: this.queue.length, dropped: this.queue.dropped, delivered: this.delivered };
    }
  }

  function receive(event: LiveEvent): void {
    // A run's late progress (a heartbeat that was on its way) must not follow its end.
    const run = liveRunKey(event);
    if (run && finishedRuns.has(run)) return;
    if (run && isFinishedEvent(event.type)) {
      finishedRuns.add(run);
      if (finishedRuns.size > limits.finishedLimit) finishedRuns.delete(finishedRuns.values().next().value!);
    }
    const item: NumberedEvent = { id: ++lastId, type: event.type, event, data: JSON.stringify(event) };
    replay.push(item);
    if (replay.length > limits.replayLimit) replay.shift();
    for (const stream of streams) stream.offer(item);
  }

  function startSession(): void {
    // An id of its own marks the session's start: no id shown before it can pass for continuous.
    sessionStartId = ++lastId;
    replay = [];
  }

  async function ensureListening(): Promise<void> {
    if (!listener) {
      startSession();
      const started = listenLiveEvents({
        connect: options.connect,
        onEvent: receive,
        onGap: () => {
          startSession();
          for (const stream of streams) stream.markGap();
        },
        onError,
      });
      listener = started;
      try {
        await started.ready;
      } catch (error) {
        if (listener === started) listener = undefined;
        await started.close();
        throw error;
      }
    } else {
      await listener.ready;
    }
  }

  function stopWhenIdle(): void {
    if (streams.size > 0 || reserved > 0 || !listener) return;
    const stopping = listener;
    listener = undefined;
    replay = [];
    void stopping.close();
  }

  return {
    async subscribe({ filter, lastEventId }) {
      if (hubClosed) throw new LifeboatError('SERVICE_UNAVAILABLE', 'The API is shutting down.');
      if (streams.size + reserved >= limits.maxStreams) {
        throw new LifeboatError(
          'SERVICE_UNAVAILABLE',
          `This API process already serves ${limits.maxStreams} live-event streams; try again later.`,
        );
      }
      reserved++;
      try {
        await ensureListening();
      } catch (error) {
        onError(error);
        throw new LifeboatError(
          'SERVICE_UNAVAILABLE',
          'Live events are unavailable: the catalog database cannot be listened to right now.',
        );
      } finally {
        reserved--;
      }
      if (hubClosed) {
        stopWhenIdle();
        throw new LifeboatError('SERVICE_UNAVAILABLE', 'The API is shutting down.');
      }
      // From here to the end, nothing else runs: no event can slip between the replay and the live ones.
      const decision =
        lastEventId === undefined
          ? undefined
          : resumeDecision(lastEventId, { sessionStartId, lastId, oldestKeptId: replay[0]?.id });
      const stream = new Stream(
        filter,
        decision === 'replay' || decision === 'current' ? lastEventId! : lastId,
      );
      if (decision === 'replay') {
        for (const item of replay) if (item.id > lastEventId!) stream.offer(item);
      } else if (decision === 'resync') {
        stream.markGap();
      }
      streams.add(stream);
      return stream;
    },

    stats() {
      return {
        listening: listener !== undefined,
        lastId,
        streams: [...streams].map((stream) => stream.stats()),
      };
    },

    async close() {
      hubClosed = true;
      for (const stream of streams) stream.nudge();
      const stopping = listener;
      listener = undefined;
      await stopping?.close();
    },
  };
}
