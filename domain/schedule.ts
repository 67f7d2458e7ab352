// Backup schedules: presets, cron validation and the API's input shape. Pure.
import { z } from 'zod';
import { targetNamePattern, targetNameRule } from './naming.ts';
import { storableText } from './text.ts';
import { timeZoneSchema } from './time-zone.ts';

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

/** `[3-5][0-9]`-style alternatives for the whole numbers `low` to `high` (below 100), without leading zeros. */
function numberAlternatives(low: number, high: number): string[] {
  const digits = (from: number, to: number) => (from === to ? `${from}` : `[${from}-${to}]`);
  const alternatives = low <= 9 ? [digits(low, Math.min(high, 9))] : [];
  const tens: { ten: number; from: number; to: number }[] = [];
  for (let ten = Math.max(1, Math.floor(low / 10)); ten * 10 <= high; ten++) {
    tens.push({ ten, from: Math.max(low, ten * 10) % 10, to: Math.min(high, ten * 10 + 9) % 10 });
  }
  // Whole decades in a row share one class: [3-5][0-9].
  for (let i = 0; i < tens.length;) {
    let j = i;
    while (j + 1 < tens.length && tens[j + 1]!.from === 0 && tens[j + 1]!.to === 9 && tens[i]!.from === 0)
      j++;
    const { ten, from, to } = tens[i]!;
    alternatives.push(j > i ? `${digits(ten, tens[j]!.ten)}[0-9]` : `${ten}${digits(from, to)}`);
    i = j + 1;
  }
  return alternatives;
}

/** A name in any letter case, as fieldValue reads it: `[Jj][Aa][Nn]`. */
const anyCase = (name: string) => [...name].map((c) => `[${c.toUpperCase()}${c.toLowerCase()}]`).join('');

/** The spellings of a field's values from `low` to its maximum: numbers with any leading zeros, and names. */
function valuesFrom(limits: (typeof fieldLimits)[number], low: number): string {
  const names =
    'names' in limits
      ? (limits.names as readonly string[])
          .map((name, index) => ({ name, value: index + (limits.name === 'month' ? 1 : 0) }))
          .filter(({ value }) => value >= low)
          .map(({ name }) => anyCase(name))
      : [];
  return `(?:0*(?:${numberAlternatives(low, limits.max).join('|')})${names.map((name) => `|${name}`).join('')})`;
}

/** One value exactly, as a number (any leading zeros) or its name. */
function valueOf(limits: (typeof fieldLimits)[number], value: number): string {
  const names = 'names' in limits ? (limits.names as readonly string[]) : [];
  const name = names[value - (limits.name === 'month' ? 1 : 0)];
  return `(?:0*${value === 0 ? '0' : `${value}`}${name ? `|${anyCase(name)}` : ''})`;
}

/**
 * The field as cronProblem reads it, one comma-separated part after another: `*`, a value, or a range
 * that does not run backwards (one alternative per start, each followed by the values from there on), each
 * with an optional step of 1 or more (at most nine digits, which Temporal still reads as a number).
 */
function fieldPattern(limits: (typeof fieldLimits)[number]): string {
  const ranges: string[] = [];
  for (let start = limits.min; start <= limits.max; start++) {
    ranges.push(`${valueOf(limits, start)}-${valuesFrom(limits, start)}`);
  }
  const part = `(?:\\*|${ranges.join('|')}|${valuesFrom(limits, limits.min)})(?:/0*[1-9][0-9]{0,8})?`;
  return `${part}(?:,${part})*`;
}

/**
 * Every cron expression Lifeboat schedules, as one regular expression for the API and its OpenAPI document:
 * what cronProblem accepts, with fields apart by spaces or tabs (Temporal reads no other whitespace the way
 * JavaScript's \s does), and `@every` with one space and a count Temporal's durations hold.
 */
export const cronPattern = new RegExp(
  `^[ \\t]*(?:${[...macros].join('|')}|@every (?:0*[1-9][0-9]{1,8}s|0*[1-9][0-9]{0,7}m|0*[1-9][0-9]{0,5}h)|${fieldLimits
    .map(fieldPattern)
    .join('[ \\t]+')})[ \\t]*$`,
);

const scheduleName = z.string().regex(targetNamePattern, targetNameRule);

const cronExpression = z
  .string()
  .max(200)
  .regex(cronPattern, {
    error: (issue) =>
      (typeof issue.input === 'string' && cronProblem(issue.input)) ||
      'not a cron expression Lifeboat schedules: 5 fields apart by spaces, or @hourly, @daily, @every 1h...',
  });

const scheduleFields = {
  name: scheduleName,
  description: storableText({ max: 1000 }).optional(),
  target: storableText({ min: 1 }),
  timeZone: timeZoneSchema.optional(),
  options: z
    .object({
      tags: z
        .array(storableText({ min: 1, max: 64 }))
        .max(32)
        .default([]),
      format: z.enum(['custom']).default('custom'),
    })
    .strict()
    .default({ tags: [], format: 'custom' }),
  enabled: z.boolean().default(true),
};

const frequencies = ['hourly', 'daily', 'weekly', 'monthly'] as const satisfies readonly FrequencyPreset[];

/**
 * A schedule runs on a preset frequency or on a cron expression: exactly one of them, as two shapes (one
 * without `cron`, one without `frequency`), so that the document says it as `anyOf` rather than in words.
 */
export const scheduleInputSchema = z
  .union(
    [
      z.object({ ...scheduleFields, frequency: z.enum(frequencies) }).strict(),
      z.object({ ...scheduleFields, cron: cronExpression }).strict(),
    ],
    { error: 'give exactly one of frequency and cron' },
  )
  .meta({ id: 'ScheduleRequest' });

/** A schedule request after validation, read without asking which of the two shapes it has. */
export type ScheduleInput = Omit<z.infer<typeof scheduleInputSchema>, 'frequency' | 'cron'> & {
  frequency?: FrequencyPreset | undefined;
  cron?: string | undefined;
};

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
