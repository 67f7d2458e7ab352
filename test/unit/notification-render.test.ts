// The words of events: titles, facts, human-readable sizes and durations, and one message per event kind.
import { describe, expect, it } from 'vitest';
import { eventKinds, severityOf, type LifeboatEvent } from '../../domain/notifications/events.ts';
import { formatBytes, formatDuration, toNotification } from '../../domain/notifications/render.ts';

const base = { occurredAt: '2026-03-01T03:04:05.000Z', target: { id: 't1', name: 'orders' } };

function fact(event: LifeboatEvent, label: string): string | undefined {
  return toNotification(event).facts.find((entry) => entry.label === label)?.value;
}

describe('sizes and durations', () => {
  it('read as people write them', () => {
    expect(formatBytes(512)).toBe('512 bytes');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(5 * 1024 ** 3)).toBe('5 GiB');
    expect(formatBytes(123.456 * 1024 ** 2)).toBe('123 MiB');
    expect(formatDuration(850)).toBe('850 ms');
    expect(formatDuration(61_000)).toBe('1 min 1 s');
    expect(formatDuration(3_600_000)).toBe('1 h');
    expect(formatDuration(27 * 3_600_000 + 5 * 60_000)).toBe('1 d 3 h');
  });
});

describe('toNotification', () => {
  it('words a failed backup with its target, error code and message', () => {
    const event: LifeboatEvent = {
      ...base,
      id: 'backup.failed/b1',
      kind: 'backup.failed',
      backupId: 'b1',
      trigger: 'scheduled',
      scheduleId: 'nightly',
      error: { code: 'CONNECTION_FAILED', message: 'could not connect to 127.0.0.1:1\n(refused)' },
      durationMs: 2_500,
    };
    const notification = toNotification(event);
    expect(notification).toMatchObject({
      eventId: 'backup.failed/b1',
      kind: 'backup.failed',
      severity: 'critical',
      title: 'Backup of orders failed: CONNECTION_FAILED',
      target: 'orders',
      occurredAt: base.occurredAt,
    });
    expect(fact(event, 'Error message')).toBe('could not connect to 127.0.0.1:1 (refused)');
    expect(fact(event, 'Schedule')).toBe('nightly');
    expect(fact(event, 'Duration')).toBe('3 s');
    expect(notification.text).toContain('Error code: CONNECTION_FAILED');
  });

  it('words a completed backup with its size and duration', () => {
    const event: LifeboatEvent = {
      ...base,
      id: 'backup.succeeded/b2',
      kind: 'backup.succeeded',
      sizeBytes: 3 * 1024 ** 2,
      durationMs: 65_000,
    };
    expect(toNotification(event).title).toBe('Backup of orders completed: 3 MiB in 1 min 5 s');
  });

  it('words a schedule failing and recovering with the number of failures', () => {
    const failing: LifeboatEvent = {
      ...base,
      id: 'schedule.failing/nightly/b1',
      kind: 'schedule.failing',
      scheduleId: 'nightly',
      counts: { consecutiveFailures: 3 },
    };
    expect(toNotification(failing).title).toBe('Schedule nightly of orders failed 3 times in a row');
    const recovered = {
      ...failing,
      id: 'schedule.recovered/nightly/b1',
      kind: 'schedule.recovered' as const,
    };
    expect(toNotification(recovered).title).toBe('Schedule nightly of orders recovered');
    expect(toNotification(recovered).text).toContain('after 3 failures in a row');
  });

  it('words a stale target with how long it has been and the last success', () => {
    const event: LifeboatEvent = {
      ...base,
      id: 'target.stale/t1/never',
      kind: 'target.stale',
      durationMs: 30 * 3_600_000,
      lastSuccessAt: null,
      staleHours: 26,
    };
    const notification = toNotification(event);
    expect(notification.title).toBe('No successful backup of orders for 1 d 6 h');
    expect(fact(event, 'Last success')).toBe('never');
  });

  it('falls back to the target id when the name is unknown, and words storage without a target', () => {
    const event: LifeboatEvent = {
      id: 'storage.nearly_full/all/c',
      kind: 'storage.nearly_full',
      occurredAt: base.occurredAt,
      target: null,
      usedBytes: 950,
      thresholdBytes: 1000,
    };
    expect(toNotification(event).title).toBe('Storage is 95% full: 950 bytes of 1000 bytes');
    expect(toNotification(event).target).toBeNull();
    const unnamed = {
      ...base,
      target: { id: 't9' },
      id: 'retention.removed/t9/b',
      kind: 'retention.removed' as const,
    };
    expect(toNotification({ ...unnamed, counts: { removed: 2 } }).title).toBe(
      'Retention moved 2 backups of t9 to the trash',
    );
  });

  it('words every kind with a title and a severity, and the same event always the same', () => {
    for (const kind of eventKinds) {
      const event: LifeboatEvent = { ...base, id: `${kind}/x`, kind };
      const notification = toNotification(event);
      expect(notification.title.length, kind).toBeGreaterThan(10);
      expect(notification.severity).toBe(severityOf[kind]);
      expect(toNotification(event)).toEqual(notification);
    }
  });

  it('shortens a very long error message to one line', () => {
    const event: LifeboatEvent = {
      ...base,
      id: 'restore.failed/o1',
      kind: 'restore.failed',
      error: { code: 'PG_RESTORE_FAILED', message: 'x'.repeat(5000) },
    };
    expect(fact(event, 'Error message')!.length).toBe(1000);
  });
});
