// The health verdict of one target (ok / warning / critical, with every reason) from what the catalog and
// its schedules say. Pure: the caller gathers the facts and the time.

export type Verdict = 'ok' | 'warning' | 'critical';

export const healthReasonCodes = [
  'NO_SUCCESSFUL_BACKUP',
  'LAST_SUCCESS_TOO_OLD',
  'LAST_SUCCESS_LATE',
  'BACKUPS_FAILING',
  'LAST_BACKUP_FAILED',
  'COPY_MISSING',
  'STORAGE_QUOTA_EXCEEDED',
  'STORAGE_NEARLY_FULL',
  'NO_SCHEDULE',
] as const;

export type HealthReasonCode = (typeof healthReasonCodes)[number];

export interface HealthReason {
  code: HealthReasonCode;
  severity: Exclude<Verdict, 'ok'>;
  message: string;
}

export interface TargetHealthFacts {
  name: string;
  /** When the newest completed backup that is not in the trash finished; null when there is none. */
  lastSuccessAt: string | null;
  /** That backup is missing a secondary copy. */
  newestDegraded: boolean;
  /** Failed runs since the last completed one (cancelled and running runs are passed over). */
  consecutiveFailures: number;
  lastFailure: { at: string; errorCode: string | null } | null;
  /**
   * The target's enabled schedules with their interval in ms (null when it cannot be told); undefined
   * when the schedules could not be read, and then no reason depends on them.
   */
  enabledSchedules: readonly { name: string; intervalMs: number | null }[] | undefined;
}

/** Use of the storage budget (`maxStorageBytes`), or null when there is none. */
export interface QuotaUse {
  usedFraction: number;
}

export interface HealthThresholds {
  /** No completed backup for longer than this is critical (a daily schedule and two hours' slack). */
  maxSuccessAgeMs: number;
  /** A last success older than the most frequent schedule's interval times this is a warning. */
  lateFactor: number;
  /** A schedule that runs less often than daily stretches the critical age to this many of its intervals. */
  slowScheduleFactor: number;
  /** Failures in a row from which the target is critical; fewer (one or more) are a warning. */
  failuresCritical: number;
  /** From this share of the storage budget on, every target warns. */
  quotaWarningFraction: number;
}

const hourMs = 3_600_000;
const dayMs = 24 * hourMs;

export const defaultHealthThresholds: HealthThresholds = {
  maxSuccessAgeMs: 26 * hourMs,
  lateFactor: 1.5,
  slowScheduleFactor: 2,
  failuresCritical: 3,
  quotaWarningFraction: 0.8,
};

const severityRank: Record<Verdict, number> = { ok: 0, warning: 1, critical: 2 };

/** The most severe of the verdicts; ok for none. */
export function worstVerdict(verdicts: Iterable<Verdict>): Verdict {
  let worst: Verdict = 'ok';
  for (const verdict of verdicts) if (severityRank[verdict] > severityRank[worst]) worst = verdict;
  return worst;
}

/** "3 h", "2 d 4 h", "45 min": an age as a person reads it. */
export function describeDuration(ms: number): string {
  const minutes = Math.max(0, Math.round(ms / 60_000));
  if (minutes < 120) return `${minutes} min`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours} h`;
  const days = Math.floor(hours / 24);
  const rest = hours - days * 24;
  return rest ? `${days} d ${rest} h` : `${days} d`;
}

/**
 * A schedule's interval from its next run times: the longest gap between two of them, so that a schedule
 * that skips weekends is judged by its weekend; null with fewer than two times.
 */
export function scheduleIntervalMs(nextRunTimes: readonly string[]): number | null {
  const times = nextRunTimes.map((time) => Date.parse(time)).sort((a, b) => a - b);
  let longest: number | null = null;
  for (let i = 1; i < times.length; i++) {
    const gap = times[i]! - times[i - 1]!;
    if (gap > 0 && (longest === null || gap > longest)) longest = gap;
  }
  return longest;
}

function ageReasons(facts: TargetHealthFacts, nowMs: number, thresholds: HealthThresholds): HealthReason[] {
  if (facts.lastSuccessAt === null) {
    return [
      {
        code: 'NO_SUCCESSFUL_BACKUP',
        severity: 'critical',
        message: `${facts.name} has no successful backup.`,
      },
    ];
  }
  const ageMs = nowMs - Date.parse(facts.lastSuccessAt);
  const intervals = (facts.enabledSchedules ?? []).flatMap((schedule) =>
    schedule.intervalMs === null ? [] : [schedule.intervalMs],
  );
  const expectedMs = intervals.length ? Math.min(...intervals) : undefined;
  // 26 hours covers a daily schedule and every faster one; a slower one is given two of its intervals.
  const criticalMs =
    expectedMs !== undefined && expectedMs > dayMs
      ? Math.max(thresholds.maxSuccessAgeMs, expectedMs * thresholds.slowScheduleFactor)
      : thresholds.maxSuccessAgeMs;
  if (ageMs > criticalMs) {
    return [
      {
        code: 'LAST_SUCCESS_TOO_OLD',
        severity: 'critical',
        message: `The last successful backup of ${facts.name} finished ${describeDuration(ageMs)} ago (more than ${describeDuration(criticalMs)}).`,
      },
    ];
  }
  if (expectedMs !== undefined && ageMs > expectedMs * thresholds.lateFactor) {
    return [
      {
        code: 'LAST_SUCCESS_LATE',
        severity: 'warning',
        message: `The last successful backup of ${facts.name} finished ${describeDuration(ageMs)} ago; its schedule runs every ${describeDuration(expectedMs)}.`,
      },
    ];
  }
  return [];
}

function failureReasons(facts: TargetHealthFacts, thresholds: HealthThresholds): HealthReason[] {
  const failures = facts.consecutiveFailures;
  if (failures <= 0) return [];
  const code = facts.lastFailure?.errorCode ? ` (last error ${facts.lastFailure.errorCode})` : '';
  if (failures >= thresholds.failuresCritical) {
    return [
      {
        code: 'BACKUPS_FAILING',
        severity: 'critical',
        message: `The last ${failures} backups of ${facts.name} failed in a row${code}.`,
      },
    ];
  }
  return [
    {
      code: 'LAST_BACKUP_FAILED',
      severity: 'warning',
      message:
        failures === 1
          ? `The last backup of ${facts.name} failed${code}.`
          : `The last ${failures} backups of ${facts.name} failed in a row${code}.`,
    },
  ];
}

function quotaReasons(quota: QuotaUse | null, thresholds: HealthThresholds): HealthReason[] {
  if (!quota) return [];
  const percent = Math.round(quota.usedFraction * 100);
  if (quota.usedFraction >= 1) {
    return [
      {
        code: 'STORAGE_QUOTA_EXCEEDED',
        severity: 'warning',
        message: `Backups use ${percent}% of maxStorageBytes.`,
      },
    ];
  }
  if (quota.usedFraction >= thresholds.quotaWarningFraction) {
    return [
      {
        code: 'STORAGE_NEARLY_FULL',
        severity: 'warning',
        message: `Backups use ${percent}% of maxStorageBytes.`,
      },
    ];
  }
  return [];
}

/** The verdict on one target at `nowMs`, and why: every reason, most severe first. */
export function targetVerdict(
  facts: TargetHealthFacts,
  quota: QuotaUse | null,
  nowMs: number,
  thresholds: HealthThresholds = defaultHealthThresholds,
): { verdict: Verdict; reasons: HealthReason[] } {
  const reasons: HealthReason[] = [
    ...ageReasons(facts, nowMs, thresholds),
    ...failureReasons(facts, thresholds),
  ];
  if (facts.lastSuccessAt !== null && facts.newestDegraded) {
    reasons.push({
      code: 'COPY_MISSING',
      severity: 'warning',
      message: `The newest backup of ${facts.name} is missing a copy in one of its destinations.`,
    });
  }
  reasons.push(...quotaReasons(quota, thresholds));
  if (facts.enabledSchedules !== undefined && facts.enabledSchedules.length === 0) {
    reasons.push({
      code: 'NO_SCHEDULE',
      severity: 'warning',
      message: `${facts.name} has no enabled schedule: it is backed up only when someone asks.`,
    });
  }
  reasons.sort((a, b) => severityRank[b.severity] - severityRank[a.severity]);
  return { verdict: worstVerdict(reasons.map((reason) => reason.severity)), reasons };
}
