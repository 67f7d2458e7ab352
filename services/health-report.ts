// The operators' health report: the service checks of /health, and every target's verdict with its reasons.
import { getSettings } from '../catalog/settings.ts';
import { targetSummaries, type TargetSummary } from '../catalog/stats.ts';
import { storageStats } from '../catalog/storage-stats.ts';
import {
  scheduleIntervalMs,
  targetVerdict,
  worstVerdict,
  type HealthReason,
  type QuotaUse,
  type Verdict,
} from '../domain/health.ts';
import { LifeboatError } from '../domain/errors.ts';
import type { ServiceDeps } from './deps.ts';
import { checkHealth, type Health } from './health.ts';
import { listSchedulesWithin, type ScheduleView } from './schedules.ts';

export interface TargetHealth {
  id: string;
  name: string;
  verdict: Verdict;
  reasons: HealthReason[];
  lastSuccessAt: string | null;
  lastFailureAt: string | null;
  consecutiveFailures: number;
  /** Its enabled schedules and their intervals; null when Temporal could not be asked. */
  schedules: { name: string; intervalSeconds: number | null }[] | null;
}

export interface HealthReport {
  /** The worst target verdict; critical too when a service check fails. */
  status: Verdict;
  evaluatedAt: string;
  checks: Health['checks'];
  quota: (QuotaUse & { maxStorageBytes: number; usedBytes: number }) | null;
  targets: TargetHealth[];
}

async function enabledSchedules(deps: ServiceDeps): Promise<ScheduleView[] | undefined> {
  try {
    return (await listSchedulesWithin(deps))?.filter((view) => view.enabled);
  } catch (error) {
    if (error instanceof LifeboatError) throw error;
    return undefined;
  }
}

function targetHealth(
  summary: TargetSummary,
  schedules: ScheduleView[] | undefined,
  quota: QuotaUse | null,
  nowMs: number,
): TargetHealth {
  const own = schedules
    ?.filter((view) => view.target.id === summary.id)
    .map((view) => ({ name: view.name, intervalMs: scheduleIntervalMs(view.nextRunTimes) }));
  const { verdict, reasons } = targetVerdict(
    {
      name: summary.name,
      lastSuccessAt: summary.lastSuccess?.finishedAt ?? null,
      newestDegraded: summary.lastSuccess?.degraded ?? false,
      consecutiveFailures: summary.consecutiveFailures,
      lastFailure: summary.lastFailure && {
        at: summary.lastFailure.finishedAt ?? summary.lastFailure.startedAt,
        errorCode: summary.lastFailure.errorCode,
      },
      enabledSchedules: own,
    },
    quota,
    nowMs,
  );
  return {
    id: summary.id,
    name: summary.name,
    verdict,
    reasons,
    lastSuccessAt: summary.lastSuccess?.finishedAt ?? null,
    lastFailureAt: summary.lastFailure
      ? (summary.lastFailure.finishedAt ?? summary.lastFailure.startedAt)
      : null,
    consecutiveFailures: summary.consecutiveFailures,
    schedules:
      own?.map((schedule) => ({
        name: schedule.name,
        intervalSeconds: schedule.intervalMs === null ? null : schedule.intervalMs / 1000,
      })) ?? null,
  };
}

export async function healthReport(deps: ServiceDeps, now = new Date()): Promise<HealthReport> {
  const [health, summaries, schedules, settings] = await Promise.all([
    checkHealth(deps),
    targetSummaries(deps.db, null),
    enabledSchedules(deps),
    getSettings(deps.db),
  ]);
  const quota = (await storageStats(deps.db, settings.maxStorageBytes)).quota;
  const targets = summaries.map((summary) => targetHealth(summary, schedules, quota, now.getTime()));
  const checksFail = !health.ok;
  return {
    status: worstVerdict([...targets.map((target) => target.verdict), checksFail ? 'critical' : 'ok']),
    evaluatedAt: now.toISOString(),
    checks: health.checks,
    quota,
    targets,
  };
}
