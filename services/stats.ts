// Run statistics of one window: counts and success rate, step durations, daily sizes, each target's last
// success and failure, and the schedules with their next run and failures in a row.
import {
  dailyRuns,
  runCounts,
  stepDurations,
  targetSummaries,
  type DailyRuns,
  type DurationStats,
  type DurationStep,
  type RunCounts,
  type TargetSummary,
} from '../catalog/stats.ts';
import { getTarget } from '../catalog/targets.ts';
import { LifeboatError } from '../domain/errors.ts';
import { dayBuckets, resolveStatsWindow } from '../domain/stats.ts';
import type { ServiceDeps } from './deps.ts';
import { listSchedulesWithin, type ScheduleView } from './schedules.ts';

export interface StatsRequest {
  target?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  timeZone: string;
}

export interface ScheduleStats {
  name: string;
  target: string;
  enabled: boolean;
  cron: string;
  timeZone: string;
  /** The next time Temporal will start it; null while paused or when it has none left. */
  nextRunAt: string | null;
  consecutiveFailures: number;
  lastSuccessAt: string | null;
}

export interface RunStats {
  /** `dailyFrom`: where `daily` starts, the last 366 days of a longer window. */
  window: { from: string; to: string; dailyFrom: string; timeZone: string };
  target: string | null;
  totals: RunCounts & { successRate: number | null };
  durationsMs: Record<DurationStep, DurationStats>;
  daily: DailyRuns[];
  targets: Pick<TargetSummary, 'name' | 'lastSuccess' | 'lastFailure' | 'consecutiveFailures'>[];
  /** Null when Temporal could not be asked; the rest of the statistics come from the catalog alone. */
  schedules: ScheduleStats[] | null;
}

function scheduleStats(view: ScheduleView): ScheduleStats {
  return {
    name: view.name,
    target: view.target.name,
    enabled: view.enabled,
    cron: view.cron,
    timeZone: view.timeZone,
    nextRunAt: view.enabled ? (view.nextRunTimes[0] ?? null) : null,
    consecutiveFailures: view.consecutiveFailures,
    lastSuccessAt: view.lastSuccessAt,
  };
}

/** The schedules (of one target, by id), or null when Temporal does not answer. */
async function schedulesOf(deps: ServiceDeps, targetId: string | null): Promise<ScheduleStats[] | null> {
  try {
    const views = await listSchedulesWithin(deps);
    if (!views) {
      console.error('lifeboat stats: schedules left out, Temporal did not list them within 5 s');
      return null;
    }
    return views.filter((view) => targetId === null || view.target.id === targetId).map(scheduleStats);
  } catch (error) {
    if (error instanceof LifeboatError) throw error;
    console.error(`lifeboat stats: schedules left out, Temporal did not answer: ${(error as Error).message}`);
    return null;
  }
}

export async function runStats(
  deps: ServiceDeps,
  request: StatsRequest,
  now = new Date(),
): Promise<RunStats> {
  const window = resolveStatsWindow(request, now.getTime());
  const target = request.target === undefined ? null : await getTarget(deps.db, request.target);
  const targetId = target?.id ?? null;
  const [totals, durationsMs, daily, summaries, schedules] = await Promise.all([
    runCounts(deps.db, window, targetId),
    stepDurations(deps.db, window, targetId),
    dailyRuns(
      deps.db,
      dayBuckets({ fromMs: window.dailyFromMs, toMs: window.toMs }, request.timeZone),
      targetId,
    ),
    targetSummaries(deps.db, targetId),
    schedulesOf(deps, targetId),
  ]);
  const decided = totals.succeeded + totals.failed;
  return {
    window: {
      from: new Date(window.fromMs).toISOString(),
      to: new Date(window.toMs).toISOString(),
      dailyFrom: new Date(window.dailyFromMs).toISOString(),
      timeZone: request.timeZone,
    },
    target: target?.name ?? null,
    totals: { ...totals, successRate: decided === 0 ? null : totals.succeeded / decided },
    durationsMs,
    daily,
    targets: summaries.map(({ name, lastSuccess, lastFailure, consecutiveFailures }) => ({
      name,
      lastSuccess,
      lastFailure,
      consecutiveFailures,
    })),
    schedules,
  };
}
