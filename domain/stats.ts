// The window of run statistics and its calendar days in a time zone: what the catalog's buckets are cut by.
import { createZone } from './time-zone.ts';

const dayMs = 86_400_000;

/** Without `from`, statistics cover this much before `to`. */
export const defaultStatsSpanMs = 30 * dayMs;

/** The daily buckets cover at most the last this much of a window: a year of days, leap day included. */
export const maxDailySpanMs = 366 * dayMs;

/** Times outside these bounds count from or to them: no backup was made before 1970, and the time zone data
 * (proleptic Gregorian in JavaScript, Julian before 1582 in Intl) agrees only well inside them. */
export const earliestStatsMs = Date.UTC(1970, 0, 1);
export const latestStatsMs = Date.UTC(10000, 0, 1);

export interface StatsWindow {
  fromMs: number;
  toMs: number;
}

const bounded = (ms: number) => Math.min(Math.max(ms, earliestStatsMs), latestStatsMs);

/**
 * The window `[from, to)` a request asks for, within 1970 to 9999: `to` defaults to now and `from` to 30
 * days before `to`. A window whose `from` is not before `to` is empty. `dailyFromMs` is where its daily
 * buckets start: `from`, or 366 days before `to` for a longer window, so that an answer never holds more
 * than 367 days.
 */
export function resolveStatsWindow(
  request: { from?: string | undefined; to?: string | undefined },
  nowMs: number,
): StatsWindow & { dailyFromMs: number } {
  const toMs = bounded(request.to === undefined ? nowMs : Date.parse(request.to));
  const fromMs = bounded(request.from === undefined ? toMs - defaultStatsSpanMs : Date.parse(request.from));
  return { fromMs, toMs, dailyFromMs: Math.max(fromMs, toMs - maxDailySpanMs) };
}

export interface DayBucket {
  /** The calendar date in the zone, YYYY-MM-DD. */
  date: string;
  /** Where the bucket starts and ends: the day's bounds in the zone, cut to the window. */
  startMs: number;
  endMs: number;
}

const pad = (value: number, width = 2) => String(value).padStart(width, '0');

/**
 * The calendar days of `timeZone` that the window touches, in order, the first and last cut to the
 * window, so that the buckets together cover exactly `[fromMs, toMs)`. Days are 23 or 25 hours long
 * where the zone changes its offset.
 */
export function dayBuckets(window: StatsWindow, timeZone: string): DayBucket[] {
  const zone = createZone(timeZone);
  const buckets: DayBucket[] = [];
  let startMs = window.fromMs;
  while (startMs < window.toMs) {
    const wall = zone.wall(startMs);
    const nextMidnight = zone.instant(
      Date.UTC(wall.getUTCFullYear(), wall.getUTCMonth(), wall.getUTCDate() + 1),
    );
    // A zone whose midnight is skipped still moves on by at least an hour, never backwards.
    const endMs = Math.min(window.toMs, Math.max(nextMidnight, startMs + 3_600_000));
    buckets.push({
      date: `${pad(wall.getUTCFullYear(), 4)}-${pad(wall.getUTCMonth() + 1)}-${pad(wall.getUTCDate())}`,
      startMs,
      endMs,
    });
    startMs = endMs;
  }
  return buckets;
}
