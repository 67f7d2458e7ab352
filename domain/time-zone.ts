// Wall-clock time in an IANA time zone, fast enough for planning retention over 100,000 backups; the zones taken.
import { z } from 'zod';

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let cached = formatters.get(timeZone);
  if (!cached) {
    cached = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, cached);
  }
  return cached;
}

/**
 * Today's IANA names of zones that ICU (and so Intl's list) still spells the old way (`Asia/Calcutta` for
 * `Asia/Kolkata`): people write the new names, and Intl computes both.
 */
const renamedZones = [
  'Africa/Asmara',
  'America/Argentina/Buenos_Aires',
  'America/Argentina/Catamarca',
  'America/Argentina/Cordoba',
  'America/Argentina/Jujuy',
  'America/Argentina/Mendoza',
  'America/Atikokan',
  'America/Indiana/Indianapolis',
  'America/Kentucky/Louisville',
  'America/Nuuk',
  'Asia/Ho_Chi_Minh',
  'Asia/Kathmandu',
  'Asia/Kolkata',
  'Asia/Yangon',
  'Atlantic/Faroe',
  'Etc/UTC',
  'Europe/Kyiv',
  'Pacific/Chuuk',
  'Pacific/Kanton',
  'Pacific/Pohnpei',
];

function intlComputes(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}

/**
 * The time zones Lifeboat takes: `UTC`, the IANA names this runtime's Intl lists, and today's names of the
 * zones that list spells the old way. One list, so that the API's check and the OpenAPI document's enum are
 * the same set.
 */
export const timeZones: readonly [string, ...string[]] = [
  'UTC',
  ...new Set([...Intl.supportedValuesOf('timeZone'), ...renamedZones.filter(intlComputes)]),
].filter((zone, index) => zone !== 'UTC' || index === 0) as [string, ...string[]];

const knownTimeZones = new Set<string>(timeZones);

/** Whether `timeZone` is one of `timeZones`, as written (the list's spelling and case). */
export function isValidTimeZone(timeZone: string): boolean {
  return knownTimeZones.has(timeZone);
}

/** A time zone as the API takes it: one of `timeZones`, shown in the OpenAPI document as their enum. */
export const timeZoneSchema = z
  .enum(timeZones, { error: 'an IANA time zone such as Europe/Berlin, or UTC' })
  .meta({ id: 'TimeZone' });

/**
 * Whether Intl can compute wall clocks in `timeZone` at all: aliases and other spellings included. For
 * policies stored before the API took only `timeZones`, which planning must still read.
 */
export function isComputableTimeZone(timeZone: string): boolean {
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** Milliseconds to add to UTC to get the zone's wall clock at `utcMs`. */
function exactOffsetMs(timeZone: string, utcMs: number): number {
  const parts: Record<string, number> = {};
  for (const part of formatter(timeZone).formatToParts(new Date(utcMs))) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  }
  const wall = Date.UTC(parts.year!, parts.month! - 1, parts.day, parts.hour, parts.minute, parts.second);
  return wall - Math.floor(utcMs / 1000) * 1000;
}

const dayMs = 86_400_000;

/**
 * Offsets change at most once a day, so one whose value is the same at both ends of a UTC day holds
 * for the whole day; only days with a transition need an exact answer per instant.
 */
export function createZone(timeZone: string) {
  const dayOffsets = new Map<number, number | null>();
  const offsetAt = (utcMs: number): number => {
    const day = Math.floor(utcMs / dayMs);
    let known = dayOffsets.get(day);
    if (known === undefined) {
      const start = exactOffsetMs(timeZone, day * dayMs);
      const end = exactOffsetMs(timeZone, (day + 1) * dayMs - 1000);
      known = start === end ? start : null;
      dayOffsets.set(day, known);
    }
    return known ?? exactOffsetMs(timeZone, utcMs);
  };

  return {
    timeZone,
    /** The wall clock as a Date whose UTC fields read as local time. */
    wall(utcMs: number): Date {
      return new Date(utcMs + offsetAt(utcMs));
    },
    /** The instant at which the zone's wall clock shows `wallMs` (read as UTC fields); the later one in a fold. */
    instant(wallMs: number): number {
      let guess = wallMs - offsetAt(wallMs);
      for (let i = 0; i < 2; i++) guess = wallMs - offsetAt(guess);
      return guess;
    },
  };
}

export type Zone = ReturnType<typeof createZone>;

/** ISO-8601 week-numbering year and week of a wall-clock date. */
export function isoWeek(wall: Date): { year: number; week: number } {
  const date = new Date(Date.UTC(wall.getUTCFullYear(), wall.getUTCMonth(), wall.getUTCDate()));
  const weekday = date.getUTCDay() || 7;
  date.setUTCDate(date.getUTCDate() + 4 - weekday);
  const year = date.getUTCFullYear();
  const week = Math.ceil(((date.getTime() - Date.UTC(year, 0, 1)) / dayMs + 1) / 7);
  return { year, week };
}
