// `lifeboat stats [--target T] [--from ISO] [--to ISO] [--timezone ZONE] [--output json]`: the run
// statistics of GET /api/admin/backups/stats, as readable tables (or the JSON as it came).
import type { DailyRuns, TargetSummary } from '../catalog/stats.ts';
import type { RunStats, ScheduleStats } from '../services/stats.ts';
import type { ApiClient } from './api-client.ts';

export const statsUsage = `  stats [--target T] [--from ISO] [--to ISO] [--timezone ZONE] [--output json]
                                                         run statistics (default: the last 30 days):
                                                         counts, success rate, step durations, last
                                                         success and failure per target, schedules,
                                                         daily sizes`;

type Success = NonNullable<TargetSummary['lastSuccess']>;
type Failure = NonNullable<TargetSummary['lastFailure']>;

/** The parts of the API's RunStats that the tables show (the JSON output passes the rest through). */
export interface RunStatsView extends Pick<RunStats, 'window' | 'target' | 'totals' | 'durationsMs'> {
  daily: Pick<DailyRuns, 'date' | 'succeeded' | 'failed' | 'cancelled' | 'totalBytes'>[];
  targets: {
    name: string;
    lastSuccess: Pick<Success, 'finishedAt' | 'durationMs' | 'sizeBytes' | 'degraded'> | null;
    lastFailure: Pick<Failure, 'finishedAt' | 'startedAt' | 'errorCode'> | null;
    consecutiveFailures: number;
  }[];
  schedules:
    | Pick<
        ScheduleStats,
        'name' | 'target' | 'enabled' | 'nextRunAt' | 'consecutiveFailures' | 'lastSuccessAt'
      >[]
    | null;
}

export type StatsFlags = Record<string, string | boolean | string[] | undefined>;

const none = '-';

/** "2026-06-10 03:02 UTC": minutes are enough to read a table by. */
function time(iso: string | null): string {
  if (!iso) return none;
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

/** "850 ms", "12.4 s", "3m 05s", "2h 10m". */
export function duration(ms: number | null): string {
  if (ms === null) return none;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${String(seconds % 60).padStart(2, '0')}s`;
  const minutes = Math.round(seconds / 60);
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`;
}

/** "512 B", "7.0 MiB", "1.2 GiB". */
export function bytes(count: number | null): string {
  if (count === null) return none;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = count;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** Columns padded to their widest cell; those named in `right` (numbers) aligned right. */
function table(headers: string[], rows: string[][], right: ReadonlySet<number> = new Set()): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) =>
        right.has(column) ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!),
      )
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** The statistics as the tables a person reads; pure, so that tests can compare it. */
export function renderStats(stats: RunStatsView): string {
  const { totals } = stats;
  const rate = totals.successRate === null ? none : `${(totals.successRate * 100).toFixed(1)}%`;
  const heading =
    `Backups ${time(stats.window.from)} to ${time(stats.window.to)}` +
    (stats.target ? ` of ${stats.target}` : ', all targets');
  const sections = [
    `${heading}\n` +
      table(
        ['runs', 'succeeded', 'failed', 'cancelled', 'running', 'degraded', 'success rate'],
        [
          [totals.total, totals.succeeded, totals.failed, totals.cancelled, totals.running, totals.degraded]
            .map(String)
            .concat(rate),
        ],
        new Set([0, 1, 2, 3, 4, 5, 6]),
      ),
    table(
      ['step', 'runs', 'p50', 'p90', 'p99', 'max'],
      (['dump', 'archive', 'upload', 'total'] as const).map((step) => {
        const d = stats.durationsMs[step];
        return [step, String(d.count), duration(d.p50), duration(d.p90), duration(d.p99), duration(d.max)];
      }),
      new Set([1, 2, 3, 4, 5]),
    ),
    table(
      ['target', 'last success', 'size', 'took', 'last failure', 'error', 'failed in a row'],
      stats.targets.map((target) => [
        target.name,
        time(target.lastSuccess?.finishedAt ?? null) + (target.lastSuccess?.degraded ? ' (degraded)' : ''),
        bytes(target.lastSuccess?.sizeBytes ?? null),
        duration(target.lastSuccess?.durationMs ?? null),
        time(target.lastFailure ? (target.lastFailure.finishedAt ?? target.lastFailure.startedAt) : null),
        target.lastFailure?.errorCode ?? none,
        String(target.consecutiveFailures),
      ]),
      new Set([2, 3, 6]),
    ),
  ];
  sections.push(
    stats.schedules === null
      ? 'Schedules: Temporal did not answer.'
      : stats.schedules.length === 0
        ? 'Schedules: none.'
        : table(
            ['schedule', 'target', 'enabled', 'next run', 'failed in a row', 'last success'],
            stats.schedules.map((schedule) => [
              schedule.name,
              schedule.target,
              schedule.enabled ? 'yes' : 'no',
              time(schedule.nextRunAt),
              String(schedule.consecutiveFailures),
              time(schedule.lastSuccessAt),
            ]),
            new Set([4]),
          ),
  );
  const busy = stats.daily.filter((day) => day.succeeded + day.failed + day.cancelled > 0);
  sections.push(
    busy.length === 0
      ? `Days (${stats.window.timeZone}): no runs.`
      : `${table(
          [`day (${stats.window.timeZone})`, 'succeeded', 'failed', 'cancelled', 'stored'],
          busy.map((day) => [
            day.date,
            String(day.succeeded),
            String(day.failed),
            String(day.cancelled),
            bytes(day.totalBytes),
          ]),
          new Set([1, 2, 3, 4]),
        )}\n(days without runs left out)`,
  );
  return `${sections.join('\n\n')}\n`;
}

/** A flag's value; of one given several times (`--to` repeats for mail channels), the last. */
function flag(flags: StatsFlags, name: string): string | undefined {
  const value = flags[name];
  if (Array.isArray(value)) return value.at(-1);
  return typeof value === 'string' ? value : undefined;
}

/** Asks the API for the statistics the flags name; the text to print, tables or JSON (`--output json`). */
export async function runStatsCommand(api: ApiClient, flags: StatsFlags): Promise<string> {
  const query = new URLSearchParams();
  for (const [option, parameter] of [
    ['target', 'target'],
    ['from', 'from'],
    ['to', 'to'],
    ['timezone', 'timeZone'],
  ] as const) {
    const value = flag(flags, option);
    if (value) query.set(parameter, value);
  }
  const suffix = query.size ? `?${query.toString()}` : '';
  const stats = await api.request<RunStatsView>('GET', `/api/admin/backups/stats${suffix}`);
  return flag(flags, 'output') === 'json' ? `${JSON.stringify(stats, null, 2)}\n` : renderStats(stats);
}
