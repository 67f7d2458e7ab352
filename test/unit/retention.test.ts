// planRetention against golden cases and properties.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  planRetention,
  retentionPolicySchema,
  type KeepReason,
  type RetentionCandidate,
  type RetentionPolicy,
} from '../../domain/retention.ts';

const none = { keepLast: 0, keepHourly: 0, keepDaily: 0, keepWeekly: 0, keepMonthly: 0, keepYearly: 0 };
const policy = (overrides: Partial<RetentionPolicy>): RetentionPolicy =>
  retentionPolicySchema.parse({ ...none, ...overrides });

let nextId = 0;
function backup(time: string, extra: Partial<RetentionCandidate> = {}): RetentionCandidate {
  nextId++;
  return {
    id: `b${nextId}-${time}`,
    time: new Date(time),
    status: 'completed',
    protected: false,
    sizeBytes: 100,
    trigger: 'scheduled',
    ...extra,
  };
}

const now = new Date('2030-01-01T00:00:00Z');

/** A backup of a golden case with what the plan should do to it: keep it (for `reasons`, if given) or not. */
interface Expected {
  backup: RetentionCandidate;
  kept: boolean;
  reasons?: KeepReason[];
}

const kept = (
  time: string,
  { reasons, ...extra }: Partial<RetentionCandidate> & { reasons?: KeepReason[] } = {},
): Expected => ({ backup: backup(time, extra), kept: true, reasons });
const removed = (time: string, extra: Partial<RetentionCandidate> = {}): Expected => ({
  backup: backup(time, extra),
  kept: false,
});

interface GoldenCase {
  name: string;
  policy: RetentionPolicy;
  /** In the order planRetention gets them, which need not be the order of time. */
  backups: Expected[];
}

const golden: GoldenCase[] = [
  {
    name: 'daily keeps the newest backup of each of the last N days',
    policy: policy({ keepDaily: 2 }),
    backups: [
      removed('2026-05-01T12:00:00Z'),
      removed('2026-05-02T12:00:00Z'),
      kept('2026-05-03T12:00:00Z'),
      kept('2026-05-04T12:00:00Z'),
    ],
  },
  {
    name: 'several backups in one bucket: the newest fills the slot',
    policy: policy({ keepDaily: 2 }),
    backups: [
      removed('2026-05-03T08:00:00Z'),
      kept('2026-05-03T20:00:00Z'),
      removed('2026-05-02T09:00:00Z'),
      kept('2026-05-02T21:00:00Z'),
      removed('2026-05-01T10:00:00Z'),
    ],
  },
  {
    name: 'gaps: days without backups are skipped, not counted',
    policy: policy({ keepDaily: 3 }),
    backups: [
      removed('2026-05-01T12:00:00Z'),
      kept('2026-05-02T12:00:00Z'),
      kept('2026-05-05T12:00:00Z'),
      kept('2026-05-09T12:00:00Z'),
    ],
  },
  {
    name: 'a tier with slots left also keeps the oldest backup, as restic does',
    policy: policy({ keepDaily: 10 }),
    backups: [
      kept('2026-05-03T12:00:00Z'),
      kept('2026-05-02T12:00:00Z'),
      kept('2026-05-01T18:00:00Z'),
      kept('2026-05-01T06:00:00Z', { reasons: ['oldest daily'] }),
    ],
  },
  {
    name: 'ISO weeks across a year boundary: 2020-12-28 and 2021-01-03 share week 2020-W53',
    policy: policy({ keepWeekly: 2 }),
    backups: [
      removed('2020-12-21T12:00:00Z'),
      removed('2020-12-28T12:00:00Z'),
      kept('2021-01-03T12:00:00Z'),
      kept('2021-01-04T12:00:00Z'),
    ],
  },
  {
    name: 'tiers are independent and a backup may fill slots in several',
    policy: policy({ keepDaily: 1, keepMonthly: 2, keepLast: 1 }),
    backups: [
      kept('2026-04-30T12:00:00Z', { reasons: ['monthly'] }),
      removed('2026-05-01T12:00:00Z'),
      kept('2026-05-02T12:00:00Z', { reasons: ['last', 'daily', 'monthly', 'newest'] }),
    ],
  },
  {
    name: 'DST fall-back in Europe/Berlin: 00:30Z and 01:30Z are both 02:30 local, one hourly bucket',
    policy: policy({ keepHourly: 10, timeZone: 'Europe/Berlin' }),
    backups: [kept('2026-10-24T23:30:00Z'), removed('2026-10-25T00:30:00Z'), kept('2026-10-25T01:30:00Z')],
  },
  {
    name: 'the same fall-back hour in UTC is three buckets',
    policy: policy({ keepHourly: 10 }),
    backups: [kept('2026-10-24T23:30:00Z'), kept('2026-10-25T00:30:00Z'), kept('2026-10-25T01:30:00Z')],
  },
  {
    name: 'DST spring-forward night in Europe/Berlin: days split at local midnight, not UTC',
    policy: policy({ keepDaily: 2, timeZone: 'Europe/Berlin' }),
    backups: [removed('2026-03-28T10:00:00Z'), kept('2026-03-28T22:30:00Z'), kept('2026-03-28T23:30:00Z')],
  },
  {
    name: 'protected backups stay whatever the tiers say',
    policy: policy({ keepLast: 1 }),
    backups: [
      kept('2026-05-03T12:00:00Z'),
      kept('2026-01-01T12:00:00Z', { protected: true, reasons: ['protected'] }),
      removed('2026-05-02T12:00:00Z'),
    ],
  },
  {
    name: 'failed backups use no slot; recent ones stay, old ones go',
    policy: policy({ keepLast: 2, failedRetentionDays: 7 }),
    backups: [
      kept('2029-12-31T12:00:00Z', { status: 'failed', reasons: ['recent failure'] }),
      kept('2029-12-30T12:00:00Z'),
      kept('2029-12-29T12:00:00Z', { status: 'failed' }),
      kept('2029-12-28T12:00:00Z', { reasons: ['last'] }),
      removed('2029-11-01T12:00:00Z', { status: 'cancelled' }),
      removed('2029-10-01T12:00:00Z'),
    ],
  },
  {
    name: 'running backups and the newest successful one are never removed, even by an empty policy',
    policy: policy({}),
    backups: [
      kept('2029-12-31T12:00:00Z', { status: 'running', reasons: ['running'] }),
      kept('2029-06-01T12:00:00Z', { reasons: ['newest'] }),
      removed('2029-05-01T12:00:00Z'),
    ],
  },
  {
    name: 'keepWithin keeps everything within the duration of the newest backup',
    policy: policy({ keepWithin: '2d' }),
    backups: [
      kept('2026-05-10T12:00:00Z'),
      kept('2026-05-09T01:00:00Z'),
      kept('2026-05-08T13:00:00Z'),
      removed('2026-05-08T11:00:00Z'),
    ],
  },
  {
    name: 'safety backups follow their own age limit and take no slot',
    policy: policy({ keepLast: 1, safetyRetentionDays: 7 }),
    backups: [
      kept('2029-12-30T12:00:00Z', { trigger: 'pre_restore', reasons: ['safety'] }),
      removed('2029-12-20T12:00:00Z', { trigger: 'pre_restore' }),
      kept('2029-12-19T12:00:00Z'),
    ],
  },
  {
    name: 'maxTotalBytes drops the oldest kept backups until the rest fit',
    policy: policy({ keepDaily: 10, maxTotalBytes: 250 }),
    backups: [
      kept('2026-05-04T12:00:00Z'),
      kept('2026-05-03T12:00:00Z'),
      removed('2026-05-02T12:00:00Z'),
      removed('2026-05-01T12:00:00Z'),
    ],
  },
];

const times = (backups: { time: Date }[]): string[] => backups.map((b) => b.time.toISOString());
/** The backups the plan should keep (or remove), newest first as the plan lists them. */
const expectedTimes = (backups: Expected[], keep: boolean): string[] =>
  times(
    backups
      .filter((b) => b.kept === keep)
      .map((b) => b.backup)
      .sort((a, b) => b.time.getTime() - a.time.getTime()),
  );

describe('planRetention golden cases', () => {
  for (const c of golden) {
    it(c.name, () => {
      const candidates = c.backups.map((b) => b.backup);
      const plan = planRetention(candidates, c.policy, now);
      expect(times(plan.keep)).toEqual(expectedTimes(c.backups, true));
      expect(times(plan.remove)).toEqual(expectedTimes(c.backups, false));
      for (const { backup, reasons } of c.backups) {
        if (reasons) expect(plan.keep.find((k) => k.id === backup.id)?.reasons, backup.id).toEqual(reasons);
      }
    });
  }

  it('projects expiry from the tiers that keep a backup, in the policy time zone', () => {
    const plan = planRetention(
      [backup('2026-05-04T12:00:00Z'), backup('2026-05-03T12:00:00Z')],
      policy({ keepDaily: 7, timeZone: 'Asia/Kolkata' }),
      now,
    );
    // 2026-05-03 17:30 in Kolkata: its day falls out seven days on, at local midnight of 05-10 (18:30Z on 05-09).
    expect(plan.keep[1]?.expiresAt?.toISOString()).toBe('2026-05-09T18:30:00.000Z');
  });
});

const arbitraryBackups = fc.array(
  fc.record({
    minutes: fc.integer({ min: 0, max: 3 * 365 * 24 * 60 }),
    status: fc.constantFrom('completed', 'completed', 'completed', 'failed', 'running', 'cancelled'),
    protected: fc.boolean(),
    sizeBytes: fc.integer({ min: 1, max: 1000 }),
    trigger: fc.constantFrom('scheduled', 'manual', 'pre_restore'),
  }),
  { maxLength: 60 },
);

const arbitraryPolicy = fc.record({
  keepLast: fc.integer({ min: -1, max: 5 }),
  keepHourly: fc.integer({ min: 0, max: 10 }),
  keepDaily: fc.integer({ min: 0, max: 10 }),
  keepWeekly: fc.integer({ min: 0, max: 6 }),
  keepMonthly: fc.integer({ min: 0, max: 6 }),
  keepYearly: fc.integer({ min: 0, max: 3 }),
  keepWithin: fc.constantFrom(null, '2d', '1m', '12h'),
  maxTotalBytes: fc.constantFrom(null, 500, 5000),
  timeZone: fc.constantFrom(
    'UTC',
    'Europe/Berlin',
    'America/New_York',
    'Asia/Kolkata',
    'Australia/Lord_Howe',
  ),
});

function toCandidates(
  items: { minutes: number; status: string; protected: boolean; sizeBytes: number; trigger: string }[],
) {
  const start = Date.UTC(2026, 0, 1);
  return items.map((item, index) => ({
    id: `p${index}`,
    time: new Date(start + item.minutes * 60_000),
    status: item.status as RetentionCandidate['status'],
    protected: item.protected,
    sizeBytes: item.sizeBytes,
    trigger: item.trigger,
  }));
}

describe('planRetention properties', () => {
  it('never removes the newest successful, protected or running backup, and places every backup once', () => {
    fc.assert(
      fc.property(arbitraryBackups, arbitraryPolicy, (items, rawPolicy) => {
        const backups = toCandidates(items);
        const plan = planRetention(backups, retentionPolicySchema.parse(rawPolicy), now);
        const removed = new Set(plan.remove.map((r) => r.id));
        const newest = backups
          .filter((b) => b.status === 'completed' && b.trigger !== 'pre_restore')
          .sort((a, b) => b.time.getTime() - a.time.getTime() || (a.id < b.id ? -1 : 1))[0];
        if (newest) expect(removed.has(newest.id)).toBe(false);
        for (const b of backups)
          if (b.protected || b.status === 'running') expect(removed.has(b.id)).toBe(false);
        expect(plan.keep.length + plan.remove.length).toBe(backups.length);
        expect(new Set([...plan.keep.map((k) => k.id), ...removed]).size).toBe(backups.length);
      }),
      { numRuns: 300 },
    );
  });

  it('removes nothing more when planned again after applying a plan', () => {
    fc.assert(
      fc.property(arbitraryBackups, arbitraryPolicy, (items, rawPolicy) => {
        const backups = toCandidates(items);
        const parsed = retentionPolicySchema.parse(rawPolicy);
        const first = planRetention(backups, parsed, now);
        const kept = new Set(first.keep.map((k) => k.id));
        const second = planRetention(
          backups.filter((b) => kept.has(b.id)),
          parsed,
          now,
        );
        expect(second.remove).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });
});
