// Tiered (GFS) retention as a pure function: which backups a policy keeps, why, and until when.
// Tier semantics follow restic's `forget --keep-*`; Lifeboat adds its guards (protected, running,
// newest), safety backups with their own age limit, failed backups that use no slot, and a size cap.
import { z } from 'zod';
import { createZone, isComputableTimeZone, isoWeek, timeZoneSchema, type Zone } from './time-zone.ts';

export const tiers = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;
export type Tier = (typeof tiers)[number];
export type KeepReason =
  | Tier
  | `oldest ${Tier}`
  | 'within'
  | 'protected'
  | 'running'
  | 'newest'
  | 'verified'
  | 'unverified'
  | 'safety'
  | 'recent failure';

/**
 * How many a tier keeps: -1 for unlimited, else at most `maxTierCount` (an hourly tier that large
 * already spans more than a century); a larger number is refused rather than planned with.
 */
export const maxTierCount = 1_000_000;
const count = z.number().int().min(-1, '-1 means unlimited').max(maxTierCount);
/** Days a failed run or a safety backup is kept: at most a century. */
const days = z.number().int().min(0).max(36_500);

/** The latest instant a JavaScript Date holds: 8.64e15 ms after the epoch. */
const maxDateMs = 8.64e15;

export const durationPattern = /^(?=[0-9])(?:([0-9]+)y)?(?:([0-9]+)m)?(?:([0-9]+)d)?(?:([0-9]+)h)?$/;

/** A size in bytes: a whole number that JavaScript (and so the document's readers) hold exactly. */
const bytes = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

export const retentionPolicySchema = z
  .object({
    keepLast: count.default(0),
    keepHourly: count.default(8),
    keepDaily: count.default(7),
    keepWeekly: count.default(4),
    keepMonthly: count.default(12),
    keepYearly: count.default(0),
    keepWithin: z.string().regex(durationPattern, 'a duration like 1y5m7d2h').nullable().default(null),
    maxTotalBytes: bytes.nullable().default(null),
    // Policies are stored; one saved when any zone Intl knows was taken must still plan (new ones are checked
    // against timeZones by retentionOverridesSchema, which every change goes through).
    timeZone: z
      .string()
      .refine(isComputableTimeZone, 'an IANA time zone such as Europe/Berlin')
      .default('UTC'),
    /** Failed and cancelled runs are forgotten after this many days. */
    failedRetentionDays: days.default(7),
    /** Safety backups taken before restores are kept this many days. */
    safetyRetentionDays: days.default(7),
  })
  .strict();

export type RetentionPolicy = z.infer<typeof retentionPolicySchema>;

/** A target's overrides of the global policy: any subset of its fields. */
export const retentionOverridesSchema = z
  .object({
    keepLast: count,
    keepHourly: count,
    keepDaily: count,
    keepWeekly: count,
    keepMonthly: count,
    keepYearly: count,
    keepWithin: z.string().regex(durationPattern, 'a duration like 1y5m7d2h').nullable(),
    maxTotalBytes: bytes.nullable(),
    timeZone: timeZoneSchema,
    failedRetentionDays: days,
    safetyRetentionDays: days,
  })
  .partial()
  .strict();

export type RetentionOverrides = z.infer<typeof retentionOverridesSchema>;

export function effectivePolicy(
  global: RetentionPolicy,
  overrides: RetentionOverrides | null,
): RetentionPolicy {
  return { ...global, ...(overrides ?? {}) };
}
export const defaultRetentionPolicy: RetentionPolicy = retentionPolicySchema.parse({});

export interface RetentionCandidate {
  id: string;
  time: Date;
  status: 'completed' | 'running' | 'failed' | 'cancelled';
  protected: boolean;
  sizeBytes: number;
  /** `pre_restore` marks a safety backup. */
  trigger: string;
  /** Whether a drill proved it restorable; left out when the target has no drills. */
  verified?: boolean | undefined;
}

export interface KeptBackup {
  id: string;
  time: Date;
  reasons: KeepReason[];
  /** When the backup leaves the plan if backups keep coming at one per bucket; null when no tier dates it. */
  expiresAt: Date | null;
}

export interface RemovedBackup {
  id: string;
  time: Date;
  reason: string;
}

export interface RetentionPlan {
  keep: KeptBackup[];
  remove: RemovedBackup[];
}

type Bucketer = (wall: Date, index: number) => number;

const bucketOf: Record<Tier, Bucketer> = {
  last: (_wall, index) => index,
  hourly: (w) =>
    ((w.getUTCFullYear() * 100 + w.getUTCMonth()) * 100 + w.getUTCDate()) * 100 + w.getUTCHours(),
  daily: (w) => (w.getUTCFullYear() * 100 + w.getUTCMonth()) * 100 + w.getUTCDate(),
  weekly: (w) => {
    const { year, week } = isoWeek(w);
    return year * 100 + week;
  },
  monthly: (w) => w.getUTCFullYear() * 100 + w.getUTCMonth(),
  yearly: (w) => w.getUTCFullYear(),
};

/** Wall-clock start of the bucket `n` buckets after the one holding `w` (as UTC fields). */
const bucketStartAfter: Record<Exclude<Tier, 'last'>, (w: Date, n: number) => number> = {
  hourly: (w, n) => Date.UTC(w.getUTCFullYear(), w.getUTCMonth(), w.getUTCDate(), w.getUTCHours() + n),
  daily: (w, n) => Date.UTC(w.getUTCFullYear(), w.getUTCMonth(), w.getUTCDate() + n),
  weekly: (w, n) =>
    Date.UTC(w.getUTCFullYear(), w.getUTCMonth(), w.getUTCDate() - ((w.getUTCDay() || 7) - 1) + 7 * n),
  monthly: (w, n) => Date.UTC(w.getUTCFullYear(), w.getUTCMonth() + n, 1),
  yearly: (w, n) => Date.UTC(w.getUTCFullYear() + n, 0, 1),
};

const policyCount: Record<Tier, keyof RetentionPolicy> = {
  last: 'keepLast',
  hourly: 'keepHourly',
  daily: 'keepDaily',
  weekly: 'keepWeekly',
  monthly: 'keepMonthly',
  yearly: 'keepYearly',
};

const dayMs = 86_400_000;

/** `time` moved back by a restic-style duration (1y5m7d2h), in wall-clock terms. */
function subtractDuration(zone: Zone, timeMs: number, duration: string): number {
  const [, y = '0', mo = '0', d = '0', h = '0'] = durationPattern.exec(duration) ?? [];
  const wall = zone.wall(timeMs);
  const shifted = Date.UTC(
    wall.getUTCFullYear() - Number(y),
    wall.getUTCMonth() - Number(mo),
    wall.getUTCDate() - Number(d),
    wall.getUTCHours(),
    wall.getUTCMinutes(),
    wall.getUTCSeconds(),
    wall.getUTCMilliseconds(),
  );
  // A duration reaching past the earliest date covers everything there is.
  const start = instantWithinRange(zone, shifted);
  return start === null ? Number.NEGATIVE_INFINITY : start - Number(h) * 3_600_000;
}

/** The instant a wall-clock time stands for, or null when it lies outside the dates a Date can hold. */
function instantWithinRange(zone: Zone, wallMs: number): number | null {
  if (!Number.isFinite(wallMs) || Math.abs(wallMs) > maxDateMs - 2 * dayMs) return null;
  try {
    return zone.instant(wallMs);
  } catch {
    // Intl cannot name the zone's offset that far from today: as good as beyond any date.
    return null;
  }
}

function byTimeDescending(a: RetentionCandidate, b: RetentionCandidate): number {
  return b.time.getTime() - a.time.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** A projected expiry as a date; null when there is none, or when it lies beyond any date. */
function expiryDate(expiresMs: number | null | undefined): Date | null {
  if (expiresMs === undefined || expiresMs === null || !Number.isFinite(expiresMs)) return null;
  return Math.abs(expiresMs) <= maxDateMs ? new Date(expiresMs) : null;
}

/**
 * Plans retention for one target's backups. Successful backups are walked newest first; each tier
 * keeps a backup whose bucket differs from the last one that tier kept, until its count is used up,
 * and keeps the oldest backup too when it still has count left (as restic does). A backup goes only
 * when nothing keeps it. Protected and running backups and the newest successful one always stay.
 */
export function planRetention(
  backups: readonly RetentionCandidate[],
  policy: RetentionPolicy,
  now: Date,
): RetentionPlan {
  const zone = createZone(policy.timeZone);
  const reasons = new Map<string, KeepReason[]>();
  const expiry = new Map<string, number | null>();
  const removeReason = new Map<string, string>();
  const keep = (backup: RetentionCandidate, reason: KeepReason, expiresMs: number | null = null) => {
    const list = reasons.get(backup.id) ?? [];
    list.push(reason);
    reasons.set(backup.id, list);
    if (expiresMs !== null) expiry.set(backup.id, Math.max(expiry.get(backup.id) ?? 0, expiresMs));
  };

  const sorted = [...backups].sort(byTimeDescending);
  const regular = sorted.filter((b) => b.status === 'completed' && b.trigger !== 'pre_restore');

  const state = tiers.map((tier) => ({
    tier,
    remaining: policy[policyCount[tier]] as number,
    last: Number.NaN,
  }));
  const newestMs = regular[0]?.time.getTime();
  const withinFromMs =
    policy.keepWithin && newestMs !== undefined
      ? subtractDuration(zone, newestMs, policy.keepWithin)
      : undefined;

  regular.forEach((backup, index) => {
    const timeMs = backup.time.getTime();
    const wall = zone.wall(timeMs);
    const isOldest = index === regular.length - 1;
    for (const tierState of state) {
      if (tierState.remaining === 0) continue;
      const bucket = bucketOf[tierState.tier](wall, index);
      if (bucket === tierState.last && !isOldest) continue;
      const { tier } = tierState;
      const count = policy[policyCount[tier]] as number;
      // A bucket end past the last date a Date holds keeps the backup beyond any date: no expiry.
      const expiresMs =
        tier === 'last' || count < 0
          ? null
          : (instantWithinRange(zone, bucketStartAfter[tier](wall, count)) ?? Number.POSITIVE_INFINITY);
      keep(backup, bucket === tierState.last ? `oldest ${tier}` : tier, expiresMs);
      tierState.last = bucket;
      if (tierState.remaining > 0) tierState.remaining--;
    }
    if (withinFromMs !== undefined && timeMs > withinFromMs) {
      // A window so long that its end is past the last date a Date holds keeps the backup beyond any date.
      const withinEndsMs = timeMs + (newestMs! - withinFromMs);
      keep(backup, 'within', withinEndsMs <= maxDateMs ? withinEndsMs : Number.POSITIVE_INFINITY);
    }
  });

  for (const backup of sorted) {
    if (backup.protected) keep(backup, 'protected');
    if (backup.status === 'running') keep(backup, 'running');
  }
  if (regular[0]) keep(regular[0], 'newest');
  // With drills: the newest backup a drill proved always stays, and an unproven newest one says so.
  const newestVerified = regular.find((backup) => backup.verified === true);
  if (newestVerified) keep(newestVerified, 'verified');
  if (regular[0] && regular[0].verified === false) keep(regular[0], 'unverified');

  for (const backup of sorted) {
    const ageMs = now.getTime() - backup.time.getTime();
    if (backup.status === 'completed' && backup.trigger === 'pre_restore') {
      const limitMs = policy.safetyRetentionDays * dayMs;
      if (ageMs < limitMs) keep(backup, 'safety', backup.time.getTime() + limitMs);
      else if (!reasons.has(backup.id))
        removeReason.set(backup.id, `safety backup older than ${policy.safetyRetentionDays} days`);
    } else if (backup.status === 'failed' || backup.status === 'cancelled') {
      const limitMs = policy.failedRetentionDays * dayMs;
      if (ageMs < limitMs) keep(backup, 'recent failure', backup.time.getTime() + limitMs);
      else if (!reasons.has(backup.id))
        removeReason.set(backup.id, `${backup.status} more than ${policy.failedRetentionDays} days ago`);
    } else if (!reasons.has(backup.id)) {
      removeReason.set(backup.id, 'no tier keeps it');
    }
  }

  if (policy.maxTotalBytes !== null) {
    const guarded = (id: string) =>
      reasons
        .get(id)
        ?.some((r) => r === 'protected' || r === 'running' || r === 'newest' || r === 'verified');
    let total = sorted
      .filter((b) => reasons.has(b.id) && b.status === 'completed')
      .reduce((sum, b) => sum + b.sizeBytes, 0);
    for (let i = sorted.length - 1; i >= 0 && total > policy.maxTotalBytes; i--) {
      const backup = sorted[i]!;
      if (!reasons.has(backup.id) || backup.status !== 'completed' || guarded(backup.id)) continue;
      reasons.delete(backup.id);
      removeReason.set(backup.id, `kept backups exceed maxTotalBytes (${policy.maxTotalBytes})`);
      total -= backup.sizeBytes;
    }
  }

  const plan: RetentionPlan = { keep: [], remove: [] };
  for (const backup of sorted) {
    const kept = reasons.get(backup.id);
    if (kept) {
      const expiresMs = expiry.get(backup.id);
      plan.keep.push({
        id: backup.id,
        time: backup.time,
        reasons: kept,
        expiresAt: expiryDate(expiresMs),
      });
    } else {
      plan.remove.push({
        id: backup.id,
        time: backup.time,
        reason: removeReason.get(backup.id) ?? 'no tier keeps it',
      });
    }
  }
  return plan;
}
