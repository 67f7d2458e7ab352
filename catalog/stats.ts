// Run statistics from the catalog: each target's last success and failure, counts, step-duration
// percentiles and daily buckets of a window. Aggregated in SQL, so that a window of any size costs a few rows.
import type pg from 'pg';
import type { DayBucket, StatsWindow } from '../domain/stats.ts';

export interface TargetSummary {
  id: string;
  name: string;
  createdAt: string;
  /** The newest completed backup that is not in the trash: what a restore would start from. */
  lastSuccess: {
    backupId: string;
    startedAt: string;
    finishedAt: string;
    durationMs: number;
    sizeBytes: number | null;
    degraded: boolean;
  } | null;
  lastFailure: {
    backupId: string;
    startedAt: string;
    finishedAt: string | null;
    errorCode: string | null;
    errorMessage: string | null;
  } | null;
  /** Failed runs since the newest completed one; cancelled and running ones do not count. */
  consecutiveFailures: number;
}

interface SummaryRow {
  id: string;
  name: string;
  created_at: Date;
  success_id: string | null;
  success_started_at: Date | null;
  success_finished_at: Date | null;
  success_size_bytes: string | null;
  success_degraded: boolean | null;
  failure_id: string | null;
  failure_started_at: Date | null;
  failure_finished_at: Date | null;
  failure_error_code: string | null;
  failure_error_message: string | null;
  consecutive_failures: string;
}

/** Every target (or the one given by id), by name, with its last success, last failure and failure run. */
export async function targetSummaries(db: pg.Pool, targetId: string | null): Promise<TargetSummary[]> {
  const { rows } = await db.query<SummaryRow>(
    `select t.id, t.name, t.created_at,
            s.id as success_id, s.started_at as success_started_at, s.finished_at as success_finished_at,
            s.size_bytes as success_size_bytes, s.degraded as success_degraded,
            f.id as failure_id, f.started_at as failure_started_at, f.finished_at as failure_finished_at,
            f.error_code as failure_error_code, f.error_message as failure_error_message,
            (select count(*) from backups x
              where x.target_id = t.id and x.status = 'failed'
                and x.started_at > coalesce(
                  (select max(c.started_at) from backups c where c.target_id = t.id and c.status = 'completed'),
                  '-infinity'::timestamptz)) as consecutive_failures
       from targets t
       left join lateral (
         select id, started_at, finished_at, size_bytes, degraded from backups b
          where b.target_id = t.id and b.status = 'completed' and b.trashed_at is null
          order by b.started_at desc, b.id limit 1) s on true
       left join lateral (
         select id, started_at, finished_at, error_code, error_message from backups b
          where b.target_id = t.id and b.status = 'failed'
          order by b.started_at desc, b.id limit 1) f on true
      where $1::uuid is null or t.id = $1
      order by t.name`,
    [targetId],
  );
  return rows.map((row) => ({
    id: row.id,
    name: row.name,
    createdAt: row.created_at.toISOString(),
    lastSuccess:
      row.success_id && row.success_started_at && row.success_finished_at
        ? {
            backupId: row.success_id,
            startedAt: row.success_started_at.toISOString(),
            finishedAt: row.success_finished_at.toISOString(),
            durationMs: row.success_finished_at.getTime() - row.success_started_at.getTime(),
            sizeBytes: row.success_size_bytes === null ? null : Number(row.success_size_bytes),
            degraded: row.success_degraded ?? false,
          }
        : null,
    lastFailure:
      row.failure_id && row.failure_started_at
        ? {
            backupId: row.failure_id,
            startedAt: row.failure_started_at.toISOString(),
            finishedAt: row.failure_finished_at?.toISOString() ?? null,
            errorCode: row.failure_error_code,
            errorMessage: row.failure_error_message,
          }
        : null,
    consecutiveFailures: Number(row.consecutive_failures),
  }));
}

export interface RunCounts {
  total: number;
  running: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  /** Of the succeeded, those missing a secondary copy. */
  degraded: number;
}

/** Runs started in the window, trashed ones included (they ran all the same), by outcome. */
export async function runCounts(
  db: pg.Pool,
  window: StatsWindow,
  targetId: string | null,
): Promise<RunCounts> {
  const { rows } = await db.query<Record<keyof RunCounts, string>>(
    `select count(*) as total,
            count(*) filter (where status = 'running') as running,
            count(*) filter (where status = 'completed') as succeeded,
            count(*) filter (where status = 'failed') as failed,
            count(*) filter (where status = 'cancelled') as cancelled,
            count(*) filter (where status = 'completed' and degraded) as degraded
       from backups
      where ($1::uuid is null or target_id = $1) and started_at >= $2 and started_at < $3`,
    [targetId, new Date(window.fromMs), new Date(window.toMs)],
  );
  const row = rows[0]!;
  return {
    total: Number(row.total),
    running: Number(row.running),
    succeeded: Number(row.succeeded),
    failed: Number(row.failed),
    cancelled: Number(row.cancelled),
    degraded: Number(row.degraded),
  };
}

export interface DurationStats {
  /** How many completed runs recorded this step. */
  count: number;
  /** Continuous percentiles (linear interpolation between the nearest runs), in ms; null without runs. */
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
}

export const durationSteps = ['dump', 'archive', 'upload', 'total'] as const;

export type DurationStep = (typeof durationSteps)[number];

/**
 * Duration percentiles of the completed runs started in the window, per step (`total`: from start to
 * finish). Runs that did not record a step (uploaded archives) leave it out.
 */
export async function stepDurations(
  db: pg.Pool,
  window: StatsWindow,
  targetId: string | null,
): Promise<Record<DurationStep, DurationStats>> {
  const stepColumns: Record<DurationStep, string> = {
    dump: 'dump_ms::float8',
    archive: 'archive_ms::float8',
    upload: 'upload_ms::float8',
    total: 'extract(epoch from finished_at - started_at)::float8 * 1000',
  };
  const selects = durationSteps.map((step) => {
    const column = stepColumns[step];
    return `count(${column}) as ${step}_count,
            percentile_cont(array[0.5, 0.9, 0.99]) within group (order by ${column}) as ${step}_p,
            max(${column}) as ${step}_max`;
  });
  const { rows } = await db.query<Record<string, string | number | number[] | null>>(
    `select ${selects.join(',\n')}
       from backups
      where status = 'completed' and ($1::uuid is null or target_id = $1) and started_at >= $2 and started_at < $3`,
    [targetId, new Date(window.fromMs), new Date(window.toMs)],
  );
  const row = rows[0]!;
  const stats = {} as Record<DurationStep, DurationStats>;
  for (const step of durationSteps) {
    const percentiles = row[`${step}_p`] as number[] | null;
    const max = row[`${step}_max`] as number | null;
    stats[step] = {
      count: Number(row[`${step}_count`]),
      p50: percentiles?.[0] ?? null,
      p90: percentiles?.[1] ?? null,
      p99: percentiles?.[2] ?? null,
      max: max === null ? null : Number(max),
    };
  }
  return stats;
}

export interface DailyRuns {
  date: string;
  start: string;
  end: string;
  succeeded: number;
  failed: number;
  cancelled: number;
  /** Sum and largest archive size of the day's completed runs. */
  totalBytes: number;
  maxBytes: number | null;
}

/** Each bucket's runs by outcome and the sizes of its completed ones, in one pass over the window. */
export async function dailyRuns(
  db: pg.Pool,
  buckets: readonly DayBucket[],
  targetId: string | null,
): Promise<DailyRuns[]> {
  if (buckets.length === 0) return [];
  const starts = buckets.map((bucket) => new Date(bucket.startMs));
  const { rows } = await db.query<{
    bucket: number;
    succeeded: string;
    failed: string;
    cancelled: string;
    total_bytes: string;
    max_bytes: string | null;
  }>(
    // width_bucket over the buckets' starts (sorted) numbers every run by the bucket it starts in.
    `select width_bucket(started_at, $2::timestamptz[]) as bucket,
            count(*) filter (where status = 'completed') as succeeded,
            count(*) filter (where status = 'failed') as failed,
            count(*) filter (where status = 'cancelled') as cancelled,
            coalesce(sum(size_bytes) filter (where status = 'completed'), 0) as total_bytes,
            max(size_bytes) filter (where status = 'completed') as max_bytes
       from backups
      where ($1::uuid is null or target_id = $1) and started_at >= $3 and started_at < $4
      group by 1`,
    [targetId, starts, starts[0], new Date(buckets.at(-1)!.endMs)],
  );
  const byBucket = new Map(rows.map((row) => [Number(row.bucket), row]));
  return buckets.map((bucket, index) => {
    const row = byBucket.get(index + 1);
    return {
      date: bucket.date,
      start: new Date(bucket.startMs).toISOString(),
      end: new Date(bucket.endMs).toISOString(),
      succeeded: Number(row?.succeeded ?? 0),
      failed: Number(row?.failed ?? 0),
      cancelled: Number(row?.cancelled ?? 0),
      totalBytes: Number(row?.total_bytes ?? 0),
      maxBytes: row?.max_bytes == null ? null : Number(row.max_bytes),
    };
  });
}
