// `lifeboat stats` as tables: counts, step percentiles, targets, schedules and busy days, read at a glance.
import { describe, expect, it } from 'vitest';
import { bytes, duration, renderStats, type RunStatsView } from '../../cli/stats.ts';

const noRuns = { count: 0, p50: null, p90: null, p99: null, max: null };

const stats: RunStatsView = {
  window: {
    from: '2026-05-11T12:00:00.000Z',
    to: '2026-06-10T12:00:00.000Z',
    dailyFrom: '2026-05-11T12:00:00.000Z',
    timeZone: 'Europe/Berlin',
  },
  target: null,
  totals: {
    total: 12,
    running: 0,
    succeeded: 10,
    failed: 1,
    cancelled: 1,
    degraded: 0,
    successRate: 10 / 11,
  },
  durationsMs: {
    dump: { count: 10, p50: 1_200, p90: 3_400, p99: 3_980, max: 4_000 },
    archive: { count: 10, p50: 450, p90: 900, p99: 990, max: 1_000 },
    upload: noRuns,
    total: { count: 10, p50: 185_000, p90: 200_000, p99: 7_900_000, max: 8_000_000 },
  },
  daily: [
    { date: '2026-06-09', succeeded: 0, failed: 0, cancelled: 0, totalBytes: 0 },
    { date: '2026-06-10', succeeded: 2, failed: 1, cancelled: 0, totalBytes: 14_680_064 },
  ],
  targets: [
    {
      name: 'shop',
      lastSuccess: {
        finishedAt: '2026-06-10T03:02:30.000Z',
        durationMs: 150_000,
        sizeBytes: 7_340_032,
        degraded: true,
      },
      lastFailure: {
        finishedAt: '2026-06-09T03:00:04.000Z',
        startedAt: '2026-06-09T03:00:00.000Z',
        errorCode: 'AUTH_FAILED',
      },
      consecutiveFailures: 0,
    },
    { name: 'crm', lastSuccess: null, lastFailure: null, consecutiveFailures: 0 },
  ],
  schedules: [
    {
      name: 'nightly',
      target: 'shop',
      enabled: true,
      nextRunAt: '2026-06-11T01:00:00.000Z',
      consecutiveFailures: 0,
      lastSuccessAt: '2026-06-10T03:02:30.000Z',
    },
  ],
};

describe('lifeboat stats', () => {
  it('prints the statistics as aligned tables', () => {
    expect(renderStats(stats)).toBe(
      [
        'Backups 2026-05-11 12:00 UTC to 2026-06-10 12:00 UTC, all targets',
        'runs  succeeded  failed  cancelled  running  degraded  success rate',
        '  12         10       1          1        0         0         90.9%',
        '',
        'step     runs     p50     p90     p99     max',
        'dump       10   1.2 s   3.4 s   4.0 s   4.0 s',
        'archive    10  450 ms  900 ms  990 ms   1.0 s',
        'upload      0       -       -       -       -',
        'total      10  3m 05s  3m 20s  2h 12m  2h 13m',
        '',
        'target  last success                        size    took  last failure          error        failed in a row',
        'shop    2026-06-10 03:02 UTC (degraded)  7.0 MiB  2m 30s  2026-06-09 03:00 UTC  AUTH_FAILED                0',
        'crm     -                                      -       -  -                     -                          0',
        '',
        'schedule  target  enabled  next run              failed in a row  last success',
        'nightly   shop    yes      2026-06-11 01:00 UTC                0  2026-06-10 03:02 UTC',
        '',
        'day (Europe/Berlin)  succeeded  failed  cancelled    stored',
        '2026-06-10                   2       1          0  14.0 MiB',
        '(days without runs left out)',
        '',
      ].join('\n'),
    );
  });

  it('says when Temporal did not answer and when no day had runs', () => {
    const text = renderStats({ ...stats, schedules: null, daily: [] });
    expect(text).toContain('Schedules: Temporal did not answer.');
    expect(text).toContain('Days (Europe/Berlin): no runs.');
  });

  it('reads durations and sizes in the units a person expects', () => {
    expect([duration(850), duration(12_400), duration(185_000), duration(7_860_000), duration(null)]).toEqual(
      ['850 ms', '12.4 s', '3m 05s', '2h 11m', '-'],
    );
    expect([bytes(512), bytes(7_340_032), bytes(1.5 * 1024 ** 3)]).toEqual(['512 B', '7.0 MiB', '1.5 GiB']);
  });
});
