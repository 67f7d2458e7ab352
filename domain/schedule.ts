// Backup schedules: presets, cron validation and the API's input shape. Pure.
import { z } from 'zod';
import { isValidTargetName } from './naming.ts';
import { isValidTimeZone } from './time-zone.ts';

export const frequencyPresets = {
  hourly: '0 * * * *',
  daily: '0 3 * * *',
  weekly: '0 3 * * 0',
  monthly: '0 3 1 * *',
} as const;

export type FrequencyPreset = keyof typeof frequencyPresets;

const fieldLimits = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  {
    name: 'month',
    min: 1,
    max: 12,
    names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'],
  },
  { name: 'day of week', min: 0, max: 7, names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] },
] as const;

const macros = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']);

function fieldValue(raw: string, limits: (typeof fieldLimits)[number]): number | undefined {
  const upper = raw.toUpperCase();
  if ('names' in limits) {
    const index = (limits.names as readonly string[]).indexOf(upper);
    if (index >= 0) return index + (limits.name === 'month' ? 1 : 0);
  }
  if (!/^\d+$/.test(raw)) return undefined;
  const value = Number(raw);
  return value >= limits.min && value <= limits.max ? value : undefined;
}

/** Why a cron expression is not one Lifeboat schedules, or undefined when it is valid. */
export function cronProblem(expression: string): string | undefined {
  const text = expression.trim();
  if (macros.has(text)) return undefined;
  const every = /^@every\s+(\d+)(s|m|h)$/.exec(text);
  if (every) {
    const seconds = Number(every[1]) * { s: 1, m: 60, h: 3600 }[every[2] as 's' | 'm' | 'h'];
    return seconds >= 10 ? undefined : '@every needs at least 10s';
  }
  const fields = text.split(/\s+/);
  if (fields.length !== 5)
    return `expected 5 fields (minute hour day-of-month month day-of-week), got ${fields.length}`;
  for (const [index, field] of fields.entries()) {
    const limits = fieldLimits[index]!;
    for (const part of field.split(',')) {
      const match = /^(\*|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:\/(\d+))?$/.exec(part);
      if (!match) return `${limits.name}: cannot read "${part}"`;
      const [, range = '', step] = match;
      if (step !== undefined && Number(step) < 1) return `${limits.name}: step must be at least 1`;
      if (range === '*') continue;
      const [from = '', to] = range.split('-');
      const start = fieldValue(from, limits);
      const end = to === undefined ? start : fieldValue(to, limits);
      if (start === undefined || end === undefined) {
        return `${limits.name}: "${range}" is outside ${limits.min}-${limits.max}`;
      }
      if (end < start) return `${limits.name}: range "${range}" runs backwards`;
    }
  }
  return undefined;
}

const scheduleName = z
  .string()
  .refine(
    isValidTargetName,
    'lower-case letters, digits, "-" and "_", starting with a letter or digit, at most 63',
  );

const scheduleFields = {
  description: z.string().max(1000).optional(),
  target: z.string().min(1),
  frequency: z.enum(['hourly', 'daily', 'weekly', 'monthly']).optional(),
  cron: z.string().max(200).optional(),
  timeZone: z.string().refine(isValidTimeZone, 'an IANA time zone such as Europe/Berlin').optional(),
  options: z
    .object({
      tags: z.array(z.string().min(1).max(64)).max(32).default([]),
      format: z.enum(['custom']).default('custom'),
    })
    .strict()
    .default({ tags: [], format: 'custom' }),
  enabled: z.boolean().default(true),
};

function checkTiming(
  value: { frequency?: string | undefined; cron?: string | undefined },
  ctx: z.RefinementCtx,
): void {
  if ((value.frequency === undefined) === (value.cron === undefined)) {
    ctx.addIssue({ code: 'custom', path: ['cron'], message: 'give exactly one of frequency and cron' });
    return;
  }
  const problem = value.cron === undefined ? undefined : cronProblem(value.cron);
  if (problem) ctx.addIssue({ code: 'custom', path: ['cron'], message: problem });
}

export const scheduleInputSchema = z
  .object({ name: scheduleName, ...scheduleFields })
  .strict()
  .superRefine(checkTiming);

export type ScheduleInput = z.infer<typeof scheduleInputSchema>;

/** The cron expression a schedule runs on: the preset's or the given one. */
export function scheduleCron(input: {
  frequency?: FrequencyPreset | undefined;
  cron?: string | undefined;
}): string {
  return input.frequency ? frequencyPresets[input.frequency] : (input.cron ?? frequencyPresets.daily).trim();
}

export function scheduleId(name: string): string {
  return `lifeboat-backup-${name}`;
}

export const scheduleIdPrefix = 'lifeboat-backup-';
