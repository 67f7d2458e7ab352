// Live events: the payload stays under NOTIFY's limit, filters match as documented, a slow stream's queue
// stays bounded and says what it dropped, and a returning client is replayed only what is still complete.
import { describe, expect, it } from 'vitest';
import {
  decodeLiveEvent,
  encodeLiveEvent,
  liveEventTypes,
  liveEventTypesPattern,
  matchesLiveEvent,
  maxLivePayloadBytes,
  parseLiveEventTypes,
  utf8Length,
  type LiveEvent,
  type LiveEventType,
} from '../../domain/live-events.ts';
import { LiveEventQueue, resumeDecision, type NumberedEvent } from '../../services/live-events.ts';

const now = new Date('2026-03-01T12:00:00Z');

function numbered(id: number, type: LiveEventType): NumberedEvent {
  const event: LiveEvent = { type, at: now.toISOString(), backupId: `b-${id}` };
  return { id, type, event, data: JSON.stringify(event) };
}

describe('the live event payload', () => {
  it('round-trips through its JSON form', () => {
    const payload = encodeLiveEvent(
      { type: 'backup.progress', backupId: 'b1', target: 'shop', step: 'dump', percent: 41.6, bytes: 1234.4 },
      now,
    );
    expect(decodeLiveEvent(payload)).toEqual({
      type: 'backup.progress',
      at: now.toISOString(),
      backupId: 'b1',
      target: 'shop',
      step: 'dump',
      percent: 42,
      bytes: 1234,
    });
  });

  it('stays under the NOTIFY limit whatever its texts hold', () => {
    const worst = '\u0001"\\€😀'.repeat(400);
    const payload = encodeLiveEvent(
      {
        type: 'notification.failed',
        backupId: worst,
        restoreId: worst,
        target: worst,
        targetId: worst,
        trigger: worst,
        step: worst,
        status: worst,
        table: worst,
        errorCode: worst,
        channel: worst,
      },
      now,
    );
    expect(utf8Length(payload)).toBeLessThanOrEqual(maxLivePayloadBytes);
    const decoded = decodeLiveEvent(payload);
    expect(decoded?.type).toBe('notification.failed');
    expect(decoded?.target?.length).toBeGreaterThan(0);
  });

  it('counts UTF-8 bytes as PostgreSQL will', () => {
    expect(utf8Length('a€😀')).toBe(1 + 3 + 4);
  });

  it('ignores what is not one of its events', () => {
    expect(decodeLiveEvent('not json')).toBeUndefined();
    expect(
      decodeLiveEvent(JSON.stringify({ type: 'backup.exploded', at: now.toISOString() })),
    ).toBeUndefined();
    expect(decodeLiveEvent(JSON.stringify({ type: 'backup.started' }))).toBeUndefined();
  });
});

describe('live event filters', () => {
  const event: LiveEvent = {
    type: 'backup.finished',
    at: now.toISOString(),
    backupId: 'b1',
    target: 'shop',
    targetId: 't-1',
  };

  it('match a target by name or id, a run, and a list of types', () => {
    expect(matchesLiveEvent({}, event)).toBe(true);
    expect(matchesLiveEvent({ target: 'shop' }, event)).toBe(true);
    expect(matchesLiveEvent({ target: 't-1' }, event)).toBe(true);
    expect(matchesLiveEvent({ target: 'blog' }, event)).toBe(false);
    expect(matchesLiveEvent({ backupId: 'b1' }, event)).toBe(true);
    expect(matchesLiveEvent({ backupId: 'b2' }, event)).toBe(false);
    expect(matchesLiveEvent({ restoreId: 'r1' }, event)).toBe(false);
    expect(matchesLiveEvent({ types: new Set(['backup.finished']) }, event)).toBe(true);
    expect(matchesLiveEvent({ types: new Set(['backup.started']) }, event)).toBe(false);
  });

  it('take only known types, as the documented pattern says', () => {
    const pattern = new RegExp(liveEventTypesPattern);
    expect(parseLiveEventTypes('backup.started,restore.finished')).toEqual(
      new Set(['backup.started', 'restore.finished']),
    );
    expect(pattern.test(liveEventTypes.join(','))).toBe(true);
    for (const bad of ['backup', 'backup.started,', 'backupXstarted', 'backup.started,nope']) {
      expect(parseLiveEventTypes(bad)).toBeUndefined();
      expect(pattern.test(bad)).toBe(false);
    }
  });
});

describe('a stream queue', () => {
  it('drops the oldest progress first and then reports how many', () => {
    const queue = new LiveEventQueue(3);
    queue.push(numbered(1, 'backup.started'));
    queue.push(numbered(2, 'backup.progress'));
    queue.push(numbered(3, 'backup.progress'));
    queue.push(numbered(4, 'backup.progress'));
    queue.push(numbered(5, 'backup.finished'));
    expect(queue.length).toBe(3);
    expect(queue.dropped).toBe(2);
    expect(queue.take()).toEqual({ kind: 'dropped', count: 2 });
    const ids = [queue.take(), queue.take(), queue.take()].map((d) => (d?.kind === 'event' ? d.item.id : d));
    expect(ids).toEqual([1, 4, 5]);
    expect(queue.take()).toBeUndefined();
  });

  it('asks for a re-sync once it had to drop anything but progress', () => {
    const queue = new LiveEventQueue(2);
    for (let id = 1; id <= 5; id++) queue.push(numbered(id, 'backup.started'));
    expect(queue.length).toBe(2);
    expect(queue.take()).toEqual({ kind: 'resync', reason: 'overflow', dropped: 3 });
  });

  it('never holds more than its limit, whatever is pushed', () => {
    const queue = new LiveEventQueue(256);
    for (let id = 1; id <= 10_000; id++)
      queue.push(numbered(id, id % 10 ? 'backup.progress' : 'backup.step'));
    expect(queue.length).toBe(256);
    expect(queue.dropped).toBe(10_000 - 256);
  });

  it('reports a gap before the events that follow it', () => {
    const queue = new LiveEventQueue(4);
    queue.push(numbered(1, 'backup.started'));
    queue.markGap();
    expect(queue.take()).toEqual({ kind: 'resync', reason: 'gap' });
    expect(queue.take()).toMatchObject({ kind: 'event', item: { id: 1 } });
  });
});

describe('resuming from Last-Event-ID', () => {
  const state = { sessionStartId: 100, lastId: 120, oldestKeptId: 105 };

  it('replays what the buffer still holds, and nothing when the client is current', () => {
    expect(resumeDecision(110, state)).toBe('replay');
    expect(resumeDecision(104, state)).toBe('replay');
    expect(resumeDecision(120, state)).toBe('current');
  });

  it('asks for a re-sync when events may be missing', () => {
    expect(resumeDecision(103, state)).toBe('resync');
    expect(resumeDecision(99, state)).toBe('resync');
    expect(resumeDecision(121, state)).toBe('resync');
    expect(resumeDecision(100, { sessionStartId: 100, lastId: 100, oldestKeptId: undefined })).toBe(
      'current',
    );
  });
});
