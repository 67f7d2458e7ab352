// The per-target health verdict: golden cases of age, failures in a row, missing copies, quota and schedules.
import { describe, expect, it } from 'vitest';
import {
  describeDuration,
  scheduleIntervalMs,
  targetVerdict,
  worstVerdict,
  type TargetHealthFacts,
} from '../../domain/health.ts';

const hourMs = 3_600_000;
const now = Date.parse('2026-06-10T12:00:00Z');
const ago = (hours: number) => new Date(now - hours * hourMs).toISOString();
const daily = [{ name: 'nightly', intervalMs: 24 * hourMs }];

const healthy: TargetHealthFacts = {
  name: 'shop',
  lastSuccessAt: ago(3),
  newestDegraded: false,
  consecutiveFailures: 0,
  lastFailure: null,
  enabledSchedules: daily,
};

function verdictOf(facts: Partial<TargetHealthFacts>, quota: { usedFraction: number } | null = null) {
  const { verdict, reasons } = targetVerdict({ ...healthy, ...facts }, quota, now);
  return { verdict, reasons: reasons.map((reason) => `${reason.severity} ${reason.code}`) };
}

describe('targetVerdict', () => {
  it('is ok for a target backed up three hours ago on a daily schedule', () => {
    expect(verdictOf({})).toEqual({ verdict: 'ok', reasons: [] });
  });

  it('is critical for a target that never had a successful backup', () => {
    const { verdict, reasons } = targetVerdict({ ...healthy, lastSuccessAt: null }, null, now);
    expect(verdict).toBe('critical');
    expect(reasons).toEqual([
      { code: 'NO_SUCCESSFUL_BACKUP', severity: 'critical', message: 'shop has no successful backup.' },
    ]);
  });

  it('is critical once the last success is more than 26 hours old, and says how old', () => {
    expect(verdictOf({ lastSuccessAt: ago(25.9) })).toEqual({ verdict: 'ok', reasons: [] });
    const { verdict, reasons } = targetVerdict({ ...healthy, lastSuccessAt: ago(30) }, null, now);
    expect(verdict).toBe('critical');
    expect(reasons.map((reason) => reason.code)).toEqual(['LAST_SUCCESS_TOO_OLD']);
    expect(reasons[0]!.message).toBe(
      'The last successful backup of shop finished 30 h ago (more than 26 h).',
    );
  });

  it('warns when the last success is older than one and a half intervals of the most frequent schedule', () => {
    const schedules = [
      { name: 'hourly', intervalMs: hourMs },
      { name: 'nightly', intervalMs: 24 * hourMs },
    ];
    expect(verdictOf({ lastSuccessAt: ago(1.4), enabledSchedules: schedules }).verdict).toBe('ok');
    expect(verdictOf({ lastSuccessAt: ago(2), enabledSchedules: schedules })).toEqual({
      verdict: 'warning',
      reasons: ['warning LAST_SUCCESS_LATE'],
    });
  });

  it('judges a weekly schedule by two of its intervals, not by 26 hours', () => {
    const weekly = [{ name: 'weekly', intervalMs: 7 * 24 * hourMs }];
    expect(verdictOf({ lastSuccessAt: ago(6 * 24), enabledSchedules: weekly }).verdict).toBe('ok');
    expect(verdictOf({ lastSuccessAt: ago(11 * 24), enabledSchedules: weekly }).reasons).toEqual([
      'warning LAST_SUCCESS_LATE',
    ]);
    expect(verdictOf({ lastSuccessAt: ago(15 * 24), enabledSchedules: weekly }).reasons).toEqual([
      'critical LAST_SUCCESS_TOO_OLD',
    ]);
  });

  it('warns on one or two failures in a row and is critical from three, naming the last error', () => {
    const lastFailure = { at: ago(1), errorCode: 'AUTH_FAILED' };
    const one = targetVerdict({ ...healthy, consecutiveFailures: 1, lastFailure }, null, now);
    expect(one.verdict).toBe('warning');
    expect(one.reasons).toEqual([
      {
        code: 'LAST_BACKUP_FAILED',
        severity: 'warning',
        message: 'The last backup of shop failed (last error AUTH_FAILED).',
      },
    ]);
    expect(verdictOf({ consecutiveFailures: 2, lastFailure }).reasons).toEqual([
      'warning LAST_BACKUP_FAILED',
    ]);
    const three = targetVerdict({ ...healthy, consecutiveFailures: 3, lastFailure }, null, now);
    expect(three.verdict).toBe('critical');
    expect(three.reasons[0]!.message).toBe(
      'The last 3 backups of shop failed in a row (last error AUTH_FAILED).',
    );
  });

  it('warns when the newest backup is missing a copy', () => {
    expect(verdictOf({ newestDegraded: true })).toEqual({
      verdict: 'warning',
      reasons: ['warning COPY_MISSING'],
    });
  });

  it('warns from 80% of the storage budget, and when it is exceeded', () => {
    expect(verdictOf({}, { usedFraction: 0.79 }).verdict).toBe('ok');
    expect(verdictOf({}, { usedFraction: 0.85 }).reasons).toEqual(['warning STORAGE_NEARLY_FULL']);
    expect(verdictOf({}, { usedFraction: 1.2 }).reasons).toEqual(['warning STORAGE_QUOTA_EXCEEDED']);
  });

  it('warns about a target without an enabled schedule, but not when the schedules are unknown', () => {
    expect(verdictOf({ enabledSchedules: [] }).reasons).toEqual(['warning NO_SCHEDULE']);
    expect(verdictOf({ enabledSchedules: undefined })).toEqual({ verdict: 'ok', reasons: [] });
    expect(verdictOf({ enabledSchedules: [{ name: 'odd', intervalMs: null }] })).toEqual({
      verdict: 'ok',
      reasons: [],
    });
  });

  it('gives every reason, the critical ones first', () => {
    expect(
      verdictOf(
        {
          lastSuccessAt: ago(40),
          newestDegraded: true,
          consecutiveFailures: 4,
          lastFailure: { at: ago(1), errorCode: 'CONNECTION_FAILED' },
          enabledSchedules: [],
        },
        { usedFraction: 0.9 },
      ),
    ).toEqual({
      verdict: 'critical',
      reasons: [
        'critical LAST_SUCCESS_TOO_OLD',
        'critical BACKUPS_FAILING',
        'warning COPY_MISSING',
        'warning STORAGE_NEARLY_FULL',
        'warning NO_SCHEDULE',
      ],
    });
  });
});

describe('scheduleIntervalMs', () => {
  it('is the longest gap between next run times, so a weekday schedule is judged by its weekend', () => {
    // 03:00 on Thursday, Friday, Monday, Tuesday.
    const times = [
      '2026-06-11T03:00:00Z',
      '2026-06-12T03:00:00Z',
      '2026-06-15T03:00:00Z',
      '2026-06-16T03:00:00Z',
    ];
    expect(scheduleIntervalMs(times)).toBe(72 * hourMs);
    expect(scheduleIntervalMs([...times].reverse())).toBe(72 * hourMs);
  });

  it('cannot tell an interval from fewer than two times', () => {
    expect(scheduleIntervalMs([])).toBeNull();
    expect(scheduleIntervalMs(['2026-06-11T03:00:00Z'])).toBeNull();
  });
});

describe('worstVerdict and describeDuration', () => {
  it('picks the most severe verdict, ok for none', () => {
    expect(worstVerdict([])).toBe('ok');
    expect(worstVerdict(['ok', 'warning', 'ok'])).toBe('warning');
    expect(worstVerdict(['warning', 'critical', 'ok'])).toBe('critical');
  });

  it('reads durations in minutes, hours or days', () => {
    expect(describeDuration(45 * 60_000)).toBe('45 min');
    expect(describeDuration(30 * hourMs)).toBe('30 h');
    expect(describeDuration(52 * hourMs)).toBe('2 d 4 h');
    expect(describeDuration(72 * hourMs)).toBe('3 d');
  });
});
