// Episodes: a condition that lasts (a schedule failing, a target without a fresh backup, storage nearly
// full) is told once when it starts and once when it ends, not on every run or check. Pure.

/** The episode of a subject that is open now, by the key that names it (see each step function). */
export interface OpenEpisode {
  key: string;
}

/** What to do now: open an episode (tell it), resolve one (tell the recovery), both, or neither (quiet). */
export interface EpisodeStep {
  open?: { key: string } | undefined;
  resolve?: { key: string } | undefined;
}

/**
 * The core rule. `holds`: the condition is true now; `key`: the episode it belongs to. An open episode
 * whose condition no longer holds is resolved; one whose condition holds under another key (it ended and
 * started again between two looks) is resolved and a new one opened; otherwise nothing changes.
 */
function step(holds: boolean, key: string, open: OpenEpisode | null): EpisodeStep {
  if (open) {
    if (!holds) return { resolve: { key: open.key } };
    if (open.key !== key) return { resolve: { key: open.key }, open: { key } };
    return {};
  }
  return holds ? { open: { key } } : {};
}

export interface RunOutcome {
  backupId: string;
  status: 'running' | 'completed' | 'failed' | 'cancelled';
}

export interface ScheduleEpisodeStep extends EpisodeStep {
  /** Failed runs in a row: of the streak going on, or, on recovery, of the one the success ended. */
  failures: number;
}

/**
 * A schedule's consecutive-failure episode, from its runs newest first. Running and cancelled runs say
 * nothing either way. The episode is named by the first failed backup of the streak, and lasts until a run
 * succeeds; `threshold` failures in a row open it.
 */
export function scheduleEpisodeStep(
  runs: readonly RunOutcome[],
  threshold: number,
  open: OpenEpisode | null,
): ScheduleEpisodeStep {
  const finished = runs.filter((run) => run.status === 'completed' || run.status === 'failed');
  const streakEnd = finished.findIndex((run) => run.status !== 'failed');
  const streak = streakEnd < 0 ? finished : finished.slice(0, streakEnd);
  if (open) {
    // Still failing: the same episode, even if retention has since forgotten its first run.
    if (streak.length > 0 || finished.length === 0) return { failures: streak.length };
    const after = finished.slice(1);
    const ended = after.findIndex((run) => run.status !== 'failed');
    return { resolve: { key: open.key }, failures: ended < 0 ? after.length : ended };
  }
  const first = streak.at(-1);
  if (!first || streak.length < threshold) return { failures: streak.length };
  return { ...step(true, first.backupId, null), failures: streak.length };
}

export interface FreshnessInput {
  /** The target's newest completed backup; null when it never had one. */
  lastSuccess: { backupId: string; finishedAt: string } | null;
  /** When the target was added: a target that never had a backup counts from then. */
  createdAt: string;
  now: string;
  staleHours: number;
}

export interface StaleEpisodeStep extends EpisodeStep {
  /** Milliseconds since the last success (or since the target was added). */
  sinceMs: number;
}

/** Names the episode of a target that never had a successful backup. */
export const neverBackedUp = 'never';

/**
 * The dead-man's check of one target: stale when no backup succeeded for longer than `staleHours`. The
 * episode is named by the last success it follows, so a later success closes it and the next gap is new.
 */
export function staleEpisodeStep(input: FreshnessInput, open: OpenEpisode | null): StaleEpisodeStep {
  const since = Date.parse(input.lastSuccess?.finishedAt ?? input.createdAt);
  const sinceMs = Math.max(0, Date.parse(input.now) - since);
  const stale = sinceMs > input.staleHours * 3_600_000;
  return { ...step(stale, input.lastSuccess?.backupId ?? neverBackedUp, open), sinceMs };
}

/**
 * Storage against a quota: nearly full at `percent` of `quotaBytes`. `key` names a new episode (the check
 * that found it); an open one lasts while the use stays at or above the mark.
 */
export function storageEpisodeStep(
  usage: { usedBytes: number; quotaBytes: number; percent: number },
  key: string,
  open: OpenEpisode | null,
): EpisodeStep {
  const full = usage.usedBytes >= (usage.quotaBytes * usage.percent) / 100;
  return step(full, open && full ? open.key : key, open);
}
