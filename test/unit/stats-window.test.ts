// The statistics window and its daily buckets: defaults, limits, time zones with odd offsets and DST days.
import { describe, expect, it } from 'vitest';
import { dayBuckets, defaultStatsSpanMs, resolveStatsWindow } from '../../domain/stats.ts';

const hourMs = 3_600_000;
const at = (iso: string) => Date.parse(iso);

describe('resolveStatsWindow', () => {
  const now = at('2026-06-10T12:00:00Z');
  const dayMs = 24 * hourMs;

  it('defaults to the 30 days before now, or before the given end', () => {
    expect(resolveStatsWindow({}, now)).toEqual({
      fromMs: now - defaultStatsSpanMs,
      toMs: now,
      dailyFromMs: now - defaultStatsSpanMs,
    });
    const to = at('2026-01-01T00:00:00Z');
    expect(resolveStatsWindow({ to: '2026-01-01T00:00:00Z' }, now)).toMatchObject({
      fromMs: to - defaultStatsSpanMs,
      toMs: to,
    });
  });

  it('counts times before 1970 and after 9999 from and to those years', () => {
    expect(
      resolveStatsWindow({ from: '0001-01-01T00:00:00Z', to: '9999-12-31T23:59:59-23:59' }, now),
    ).toMatchObject({
      fromMs: at('1970-01-01T00:00:00Z'),
      toMs: Date.UTC(10000, 0, 1),
    });
  });

  it('keeps a reversed window as it is: empty, with no days', () => {
    const window = resolveStatsWindow({ from: '2026-02-01T00:00:00Z', to: '2026-01-01T00:00:00Z' }, now);
    expect(window).toMatchObject({ fromMs: at('2026-02-01T00:00:00Z'), toMs: at('2026-01-01T00:00:00Z') });
    expect(dayBuckets({ fromMs: window.dailyFromMs, toMs: window.toMs }, 'UTC')).toEqual([]);
  });

  it('starts the daily buckets of a window longer than 366 days 366 days before its end', () => {
    const window = resolveStatsWindow({ from: '2000-01-01T00:00:00Z', to: '2026-01-01T00:00:00Z' }, now);
    expect(window.fromMs).toBe(at('2000-01-01T00:00:00Z'));
    expect(window.dailyFromMs).toBe(at('2026-01-01T00:00:00Z') - 366 * dayMs);
    expect(dayBuckets({ fromMs: window.dailyFromMs, toMs: window.toMs }, 'UTC')).toHaveLength(366);
  });
});

describe('dayBuckets', () => {
  it('cuts a window into UTC days, the first and last cut to the window', () => {
    const buckets = dayBuckets(
      { fromMs: at('2026-06-01T18:00:00Z'), toMs: at('2026-06-03T06:00:00Z') },
      'UTC',
    );
    expect(
      buckets.map((bucket) => [
        bucket.date,
        new Date(bucket.startMs).toISOString(),
        new Date(bucket.endMs).toISOString(),
      ]),
    ).toEqual([
      ['2026-06-01', '2026-06-01T18:00:00.000Z', '2026-06-02T00:00:00.000Z'],
      ['2026-06-02', '2026-06-02T00:00:00.000Z', '2026-06-03T00:00:00.000Z'],
      ['2026-06-03', '2026-06-03T00:00:00.000Z', '2026-06-03T06:00:00.000Z'],
    ]);
  });

  it('follows a zone 5:45 ahead of UTC', () => {
    const buckets = dayBuckets(
      { fromMs: at('2026-06-01T18:15:00Z'), toMs: at('2026-06-02T18:15:00Z') },
      'Asia/Kathmandu',
    );
    expect(buckets.map((bucket) => [bucket.date, new Date(bucket.startMs).toISOString()])).toEqual([
      ['2026-06-02', '2026-06-01T18:15:00.000Z'],
    ]);
  });

  it('has a 23-hour and a 25-hour day where the zone changes its clocks', () => {
    const spring = dayBuckets(
      { fromMs: at('2026-03-28T23:00:00Z'), toMs: at('2026-03-30T22:00:00Z') },
      'Europe/Berlin',
    );
    expect(spring.map((bucket) => [bucket.date, (bucket.endMs - bucket.startMs) / hourMs])).toEqual([
      ['2026-03-29', 23],
      ['2026-03-30', 24],
    ]);
    const autumn = dayBuckets(
      { fromMs: at('2026-10-24T22:00:00Z'), toMs: at('2026-10-25T23:00:00Z') },
      'Europe/Berlin',
    );
    expect(autumn.map((bucket) => [bucket.date, (bucket.endMs - bucket.startMs) / hourMs])).toEqual([
      ['2026-10-25', 25],
    ]);
  });

  it('covers the window exactly, bucket after bucket, for a year in any zone', () => {
    for (const zone of ['UTC', 'America/St_Johns', 'Pacific/Chatham', 'Australia/Lord_Howe']) {
      const window = { fromMs: at('2025-06-10T07:13:00Z'), toMs: at('2026-06-10T07:13:00Z') };
      const buckets = dayBuckets(window, zone);
      expect(buckets.length, zone).toBeGreaterThanOrEqual(365);
      expect(buckets.length, zone).toBeLessThanOrEqual(367);
      expect(buckets[0]!.startMs).toBe(window.fromMs);
      expect(buckets.at(-1)!.endMs).toBe(window.toMs);
      for (let i = 1; i < buckets.length; i++) {
        expect(buckets[i]!.startMs).toBe(buckets[i - 1]!.endMs);
        expect(buckets[i]!.date > buckets[i - 1]!.date, zone).toBe(true);
      }
    }
  });
});
