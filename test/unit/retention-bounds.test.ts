// Retention policies are bounded, and planning never throws: an expiry beyond any date is null.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  maxTierCount,
  planRetention,
  retentionOverridesSchema,
  retentionPolicySchema,
  type RetentionCandidate,
} from '../../domain/retention.ts';

const now = new Date('2026-12-01T00:00:00Z');
const candidates: RetentionCandidate[] = ['2026-11-29T03:00:00Z', '2026-11-30T03:00:00Z'].map((time, i) => ({
  id: `b${i}`,
  time: new Date(time),
  status: 'completed',
  protected: false,
  sizeBytes: 100,
  trigger: 'scheduled',
}));

describe('retention policy bounds', () => {
  it('refuses a tier count beyond the bound, as the fuzzed keepMonthly 657005558 was', () => {
    expect(retentionOverridesSchema.safeParse({ keepMonthly: 657_005_558 }).success).toBe(false);
    expect(retentionPolicySchema.safeParse({ keepDaily: maxTierCount + 1 }).success).toBe(false);
    expect(retentionOverridesSchema.safeParse({ failedRetentionDays: 10_000_000 }).success).toBe(false);
    expect(retentionOverridesSchema.safeParse({ keepMonthly: maxTierCount }).success).toBe(true);
  });

  it('projects an expiry beyond any date as null instead of throwing', () => {
    // The planner is also called with policies that never went through the schema (stored before the bound).
    const policy = { ...retentionPolicySchema.parse({}), keepMonthly: 657_005_558, keepYearly: 10_000_000 };
    const plan = planRetention(candidates, policy, now);
    expect(plan.remove).toEqual([]);
    expect(plan.keep.map((k) => k.expiresAt)).toEqual([null, null]);
  });

  it('keeps everything for a keepWithin that reaches past the earliest date', () => {
    const policy = retentionPolicySchema.parse({ keepWithin: '999999y', keepDaily: 0, keepHourly: 0 });
    const plan = planRetention(candidates, { ...policy, keepWeekly: 0, keepMonthly: 0 }, now);
    expect(plan.keep.map((k) => k.reasons)).toEqual([['within', 'newest'], ['within']]);
  });

  it('gives no expiry, rather than an invalid date, for a keepWithin whose window ends past the last date', () => {
    const early = [{ ...candidates[0]!, id: 'leap', time: new Date('1972-02-29T00:00:00Z') }];
    for (const keepWithin of ['100000y', '200000y', '3000000m', '99999999d']) {
      const policy = retentionPolicySchema.parse({ keepWithin, keepDaily: 0, keepHourly: 0, keepWeekly: 0 });
      const plan = planRetention(early, { ...policy, keepMonthly: 0 }, now);
      expect(plan.keep.map((k) => [k.reasons, k.expiresAt])).toEqual([[['within', 'newest'], null]]);
    }
  });

  it('plans any policy the schema accepts without throwing', () => {
    const tier = fc.integer({ min: -1, max: maxTierCount });
    fc.assert(
      fc.property(tier, tier, tier, tier, tier, tier, (last, hourly, daily, weekly, monthly, yearly) => {
        const policy = retentionPolicySchema.parse({
          keepLast: last,
          keepHourly: hourly,
          keepDaily: daily,
          keepWeekly: weekly,
          keepMonthly: monthly,
          keepYearly: yearly,
        });
        const plan = planRetention(candidates, policy, now);
        expect(plan.keep.length + plan.remove.length).toBe(candidates.length);
      }),
      { numRuns: 300 },
    );
  });
});
