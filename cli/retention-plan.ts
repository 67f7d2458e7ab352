// `lifeboat retention plan`: a retention dry run over timestamps read from stdin, for humans and scripts.
import { LifeboatError } from '../domain/errors.ts';
import { planRetention, retentionPolicySchema, type RetentionPolicy } from '../domain/retention.ts';
import { createZone, isValidTimeZone } from '../domain/time-zone.ts';

const isoPattern =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

export interface PlanFlags {
  keepLast?: string | undefined;
  keepHourly?: string | undefined;
  keepDaily?: string | undefined;
  keepWeekly?: string | undefined;
  keepMonthly?: string | undefined;
  keepYearly?: string | undefined;
  keepWithin?: string | undefined;
  timezone?: string | undefined;
}

function countFlag(name: string, value: string | undefined): number {
  if (value === undefined) return 0;
  if (value === 'unlimited') return -1;
  if (!/^\d+$/.test(value))
    throw new LifeboatError(
      'VALIDATION_FAILED',
      `--${name} takes a whole number or "unlimited", not "${value}".`,
    );
  return Number(value);
}

/** The policy the flags describe: tiers not given keep nothing, as with restic. */
export function policyFromFlags(flags: PlanFlags): RetentionPolicy {
  const timeZone = flags.timezone ?? 'UTC';
  if (!isValidTimeZone(timeZone)) {
    throw new LifeboatError(
      'VALIDATION_FAILED',
      `--timezone: "${timeZone}" is not an IANA time zone (e.g. Europe/Berlin).`,
    );
  }
  const parsed = retentionPolicySchema.safeParse({
    keepLast: countFlag('keep-last', flags.keepLast),
    keepHourly: countFlag('keep-hourly', flags.keepHourly),
    keepDaily: countFlag('keep-daily', flags.keepDaily),
    keepWeekly: countFlag('keep-weekly', flags.keepWeekly),
    keepMonthly: countFlag('keep-monthly', flags.keepMonthly),
    keepYearly: countFlag('keep-yearly', flags.keepYearly),
    keepWithin: flags.keepWithin ?? null,
    timeZone,
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new LifeboatError(
      'VALIDATION_FAILED',
      `${String(issue?.path[0] ?? 'policy')}: ${issue?.message ?? 'invalid'}`,
    );
  }
  return parsed.data;
}

/** Reads one timestamp; one without an offset is wall-clock time in the policy's zone. */
export function parseTimestamp(text: string, timeZone: string, line: number): Date {
  const match = isoPattern.exec(text);
  if (!match)
    throw new LifeboatError('VALIDATION_FAILED', `line ${line}: "${text}" is not an ISO-8601 timestamp.`);
  const [, y, mo, d, h, mi, s = '0', fraction = '', offset] = match;
  const wallMs = Date.UTC(
    Number(y),
    Number(mo) - 1,
    Number(d),
    Number(h),
    Number(mi),
    Number(s),
    Math.round(Number(`0${fraction}`) * 1000),
  );
  const check = new Date(wallMs);
  if (
    check.getUTCMonth() !== Number(mo) - 1 ||
    check.getUTCDate() !== Number(d) ||
    Number(h) > 23 ||
    Number(mi) > 59 ||
    Number(s) > 59
  ) {
    throw new LifeboatError('VALIDATION_FAILED', `line ${line}: "${text}" is not a real date and time.`);
  }
  if (offset === undefined) return new Date(createZone(timeZone).instant(wallMs));
  if (offset.toUpperCase() === 'Z') return check;
  const sign = offset.startsWith('-') ? -1 : 1;
  const digits = offset.slice(1).replace(':', '');
  const minutes = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || '0');
  return new Date(wallMs - sign * minutes * 60_000);
}

export interface PlanOutput {
  keep: { time: string; reasons: string[] }[];
  remove: { time: string }[];
}

/** Plans over the non-empty lines of `input`, answering with each time exactly as it was given. */
export function planFromText(input: string, flags: PlanFlags, now: Date): PlanOutput {
  const policy = policyFromFlags(flags);
  const given: string[] = [];
  const candidates = input.split(/\r?\n/).flatMap((raw, index) => {
    const text = raw.trim();
    if (!text) return [];
    given.push(text);
    return [
      {
        id: String(given.length - 1),
        time: parseTimestamp(text, policy.timeZone, index + 1),
        status: 'completed' as const,
        protected: false,
        sizeBytes: 0,
        trigger: 'manual',
      },
    ];
  });
  const plan = planRetention(candidates, policy, now);
  return {
    keep: plan.keep.map((k) => ({ time: given[Number(k.id)]!, reasons: k.reasons })),
    remove: plan.remove.map((r) => ({ time: given[Number(r.id)]! })),
  };
}
