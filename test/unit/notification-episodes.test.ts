// Episodes of lasting conditions against golden sequences: told once when they start, once when they end.
import { describe, expect, it } from 'vitest';
import {
  scheduleEpisodeStep,
  staleEpisodeStep,
  storageEpisodeStep,
  type OpenEpisode,
  type RunOutcome,
} from '../../domain/notifications/episodes.ts';

type Told = { open?: string; resolve?: string; failures?: number };

/**
 * Plays a schedule's runs oldest first, evaluating after each one as the run's own notification does,
 * and keeps the episode as the catalog would: what was told after each run.
 */
function playSchedule(statuses: RunOutcome['status'][], threshold = 3): Told[] {
  const runs: RunOutcome[] = [];
  let open: OpenEpisode | null = null;
  return statuses.map((status, index) => {
    runs.unshift({ backupId: `b${index + 1}`, status });
    const step = scheduleEpisodeStep(runs, threshold, open);
    if (step.resolve) open = null;
    if (step.open) open = { key: step.open.key };
    const told: Told = {};
    if (step.open) told.open = step.open.key;
    if (step.resolve) told.resolve = step.resolve.key;
    if (step.open || step.resolve) told.failures = step.failures;
    return told;
  });
}

describe('consecutive failures of a schedule', () => {
  it('open once, on the third failure in a row, named by the first failed run', () => {
    expect(playSchedule(['failed', 'failed', 'failed', 'failed', 'failed'])).toEqual([
      {},
      {},
      { open: 'b1', failures: 3 },
      {},
      {},
    ]);
  });

  it('resolve on the next success with the number of failures it ended, and stay quiet afterwards', () => {
    expect(
      playSchedule(['completed', 'failed', 'failed', 'failed', 'failed', 'completed', 'completed']),
    ).toEqual([{}, {}, {}, { open: 'b2', failures: 3 }, {}, { resolve: 'b2', failures: 4 }, {}]);
  });

  it('never open for failures interrupted by successes', () => {
    expect(playSchedule(['failed', 'failed', 'completed', 'failed', 'failed', 'completed'])).toEqual([
      {},
      {},
      {},
      {},
      {},
      {},
    ]);
  });

  it('open a new episode for a new streak after a recovery', () => {
    const told = playSchedule(['failed', 'failed', 'completed', 'failed', 'failed'], 2);
    expect(told).toEqual([
      {},
      { open: 'b1', failures: 2 },
      { resolve: 'b1', failures: 2 },
      {},
      { open: 'b4', failures: 2 },
    ]);
  });

  it('ignore running and cancelled runs, which say nothing either way', () => {
    expect(playSchedule(['failed', 'cancelled', 'failed', 'running', 'failed'])).toEqual([
      {},
      {},
      {},
      {},
      { open: 'b1', failures: 3 },
    ]);
  });

  it('keep an open episode quiet while the streak goes on, even when its first run is forgotten', () => {
    const runs: RunOutcome[] = [
      { backupId: 'b9', status: 'failed' },
      { backupId: 'b8', status: 'failed' },
    ];
    expect(scheduleEpisodeStep(runs, 3, { key: 'b1' })).toEqual({ failures: 2 });
  });

  it('give the same answer when a step is evaluated twice (a retried activity)', () => {
    const runs: RunOutcome[] = [
      { backupId: 'b3', status: 'failed' },
      { backupId: 'b2', status: 'failed' },
      { backupId: 'b1', status: 'failed' },
    ];
    expect(scheduleEpisodeStep(runs, 3, null)).toEqual(scheduleEpisodeStep(runs, 3, null));
  });

  it('open at once with a threshold of one', () => {
    expect(playSchedule(['failed', 'failed', 'completed'], 1)).toEqual([
      { open: 'b1', failures: 1 },
      {},
      { resolve: 'b1', failures: 2 },
    ]);
  });
});

const hour = 3_600_000;
const t0 = Date.parse('2026-03-01T00:00:00Z');
const at = (hours: number) => new Date(t0 + hours * hour).toISOString();

describe('the dead-man check of a target', () => {
  /** Checks at the given hours; `successes` are the hours at which a backup finished. */
  function playChecks(checks: number[], successes: number[], staleHours = 26): Told[] {
    let open: OpenEpisode | null = null;
    return checks.map((now) => {
      const last = successes.filter((hours) => hours <= now).at(-1);
      const step = staleEpisodeStep(
        {
          lastSuccess: last === undefined ? null : { backupId: `s${last}`, finishedAt: at(last) },
          createdAt: at(0),
          now: at(now),
          staleHours,
        },
        open,
      );
      if (step.resolve) open = null;
      if (step.open) open = { key: step.open.key };
      const told: Told = {};
      if (step.resolve) told.resolve = step.resolve.key;
      if (step.open) told.open = step.open.key;
      return told;
    });
  }

  it('fire once when no backup succeeded for longer than the limit, and resolve at the next success', () => {
    expect(playChecks([10, 25, 27, 28, 40, 41, 60], [0, 41])).toEqual([
      {},
      {},
      { open: 's0' },
      {},
      {},
      { resolve: 's0' },
      {},
    ]);
  });

  it('count from the target’s creation when it never had a backup', () => {
    expect(playChecks([20, 26.5, 30], [])).toEqual([{}, { open: 'never' }, {}]);
  });

  it('resolve and reopen when a success came and went stale again between two checks', () => {
    expect(playChecks([30, 100], [1, 50])).toEqual([{ open: 's1' }, { resolve: 's1', open: 's50' }]);
  });

  it('hold the limit exactly: stale only past it', () => {
    expect(playChecks([26, 26.01], [0], 26)).toEqual([{}, { open: 's0' }]);
  });

  it('report how long the target has been without a success', () => {
    const step = staleEpisodeStep(
      { lastSuccess: { backupId: 's', finishedAt: at(0) }, createdAt: at(-5), now: at(30), staleHours: 26 },
      null,
    );
    expect(step.sinceMs).toBe(30 * hour);
  });
});

describe('storage nearly full', () => {
  it('opens once at the mark, stays quiet above it, and resolves below it', () => {
    const quota = { quotaBytes: 1000, percent: 90 };
    expect(storageEpisodeStep({ ...quota, usedBytes: 899 }, 'c1', null)).toEqual({});
    expect(storageEpisodeStep({ ...quota, usedBytes: 900 }, 'c2', null)).toEqual({ open: { key: 'c2' } });
    expect(storageEpisodeStep({ ...quota, usedBytes: 990 }, 'c3', { key: 'c2' })).toEqual({});
    expect(storageEpisodeStep({ ...quota, usedBytes: 500 }, 'c4', { key: 'c2' })).toEqual({
      resolve: { key: 'c2' },
    });
  });
});
