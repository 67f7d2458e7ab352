// Run statistics and the health report after a known sequence of runs on a real stack: two completed
// backups, one manual failure and a failing schedule's runs, then a schedule that runs once a year. Every
// figure is checked against the catalog's rows, computed here on its own.
import { serve } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiClient } from '../../cli/api-client.ts';
import { runStatsCommand } from '../../cli/stats.ts';
import type { HealthReport } from '../../services/health-report.ts';
import type { RunStats } from '../../services/stats.ts';
import { eventually } from '../harness/api.ts';
import { backUp } from '../harness/restore.ts';
import { createDatabase, sql, useStack } from '../harness/stack.ts';

const { db, api, createTarget, replaceTarget } = useStack();
// 3:30 behind UTC (2:30 in summer): its days do not start on a UTC hour.
const timeZone = 'America/St_Johns';

interface Row {
  id: string;
  status: string;
  started_at: Date;
  size_bytes: string | null;
  dump_ms: number | null;
  archive_ms: number | null;
  upload_ms: number | null;
  total_ms: number | null;
}

let target: { id: string; name: string };
let calm: { id: string; name: string };
let database: string;
const failing = `stats-failing-${Date.now().toString(36)}`;
const yearly = `stats-yearly-${Date.now().toString(36)}`;
const completedIds: string[] = [];

/** The same percentile as PostgreSQL's percentile_cont: linear between the two nearest values. */
function percentileCont(values: number[], fraction: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = fraction * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (rank - low);
}

/** The calendar date of an instant in the test's zone, YYYY-MM-DD. */
const dateIn = (at: Date) => at.toLocaleDateString('en-CA', { timeZone });

async function rowsOf(targetId: string): Promise<Row[]> {
  const { rows } = await db.query<Row>(
    `select id, status, started_at, size_bytes, dump_ms, archive_ms, upload_ms,
            extract(epoch from finished_at - started_at)::float8 * 1000 as total_ms
       from backups where target_id = $1 order by started_at`,
    [targetId],
  );
  return rows;
}

async function scheduledRuns(name: string) {
  return (
    await db.query<{ status: string }>('select status from backups where requested_by = $1', [
      `schedule:${name}`,
    ])
  ).rows;
}

beforeAll(async () => {
  database = await createDatabase('stats');
  await sql(
    database,
    'create table items (id int primary key, label text); insert into items select g, md5(g::text) from generate_series(1, 500) g',
  );
  // Keep every run: retention would otherwise trash one of two backups made within the same hour.
  target = await createTarget(`stats-${database.slice(-8)}`, database, { retention: { keepLast: -1 } });
  calm = await createTarget(`calm-${database.slice(-8)}`, database, { retention: { keepLast: -1 } });
  completedIds.push(await backUp(api, target.name), await backUp(api, target.name));
  await backUp(api, calm.name);

  // From now on the target's password is wrong: its backups fail at once with AUTH_FAILED.
  await replaceTarget(target, database, { password: 'not-the-password', retention: { keepLast: -1 } });
  const manual = await api.json<{ backupId: string }>('POST', '/api/admin/backups', {
    body: { target: target.name },
  });
  expect(manual.status).toBe(202);
  await eventually(
    async () => {
      const { rows } = await db.query('select 1 from backups where id = $1 and status = $2', [
        manual.body.backupId,
        'failed',
      ]);
      return rows.length ? true : undefined;
    },
    90_000,
    'the manual backup to fail',
  );

  // A schedule that fails every 10 s, paused after two failures and settled; and one that runs once a year.
  const created = await api.json('POST', '/api/admin/backups/schedules', {
    body: { name: failing, target: target.name, cron: '@every 10s', timeZone: 'UTC' },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  await eventually(
    async () =>
      (await scheduledRuns(failing)).filter((run) => run.status === 'failed').length >= 2 ? true : undefined,
    90_000,
    'two failed scheduled runs',
  );
  const paused = await api.json('PATCH', `/api/admin/backups/schedules/${failing}/toggle`, {
    body: { enabled: false, note: 'enough failures for the test' },
  });
  expect(paused.status).toBe(200);
  await eventually(
    async () => {
      const { body } = await api.json<{ actionsTaken: number }>(
        'GET',
        `/api/admin/backups/schedules/${failing}`,
      );
      const runs = await scheduledRuns(failing);
      return runs.length === body.actionsTaken && runs.every((run) => run.status !== 'running')
        ? true
        : undefined;
    },
    90_000,
    'the paused schedule to settle',
  );
  const once = await api.json('POST', '/api/admin/backups/schedules', {
    body: { name: yearly, target: target.name, cron: '0 3 1 1 *', timeZone: 'UTC' },
  });
  expect(once.status, JSON.stringify(once.body)).toBe(201);
});

afterAll(async () => {
  for (const name of [failing, yearly]) await api.call('DELETE', `/api/admin/backups/schedules/${name}`);
});

describe('GET /api/admin/backups/stats', () => {
  it('counts the runs, their success rate, step percentiles and daily sizes as the catalog has them', async () => {
    const rows = await rowsOf(target.id);
    const completed = rows.filter((row) => row.status === 'completed');
    const failed = rows.filter((row) => row.status === 'failed');
    expect(completed.map((row) => row.id).sort()).toEqual([...completedIds].sort());
    expect(failed.length).toBeGreaterThanOrEqual(3);

    const response = await api.json<RunStats>(
      'GET',
      `/api/admin/backups/stats?target=${target.name}&timeZone=${encodeURIComponent(timeZone)}`,
      { token: api.tokens.viewer },
    );
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    const stats = response.body;
    expect(stats.target).toBe(target.name);
    expect(stats.window.timeZone).toBe(timeZone);
    expect(stats.totals).toEqual({
      total: rows.length,
      running: 0,
      succeeded: 2,
      failed: failed.length,
      cancelled: 0,
      degraded: 0,
      successRate: 2 / (2 + failed.length),
    });

    for (const step of ['dump', 'archive', 'upload', 'total'] as const) {
      const values = completed.map((row) => Number(row[`${step}_ms`]));
      const got = stats.durationsMs[step];
      expect(got.count, step).toBe(2);
      expect(got.p50, step).toBeCloseTo(percentileCont(values, 0.5)!, 6);
      expect(got.p90, step).toBeCloseTo(percentileCont(values, 0.9)!, 6);
      expect(got.p99, step).toBeCloseTo(percentileCont(values, 0.99)!, 6);
      expect(got.max, step).toBeCloseTo(Math.max(...values), 6);
    }

    const expectedDays = new Map<string, { succeeded: number; failed: number; totalBytes: number }>();
    for (const row of rows) {
      const day = expectedDays.get(dateIn(row.started_at)) ?? { succeeded: 0, failed: 0, totalBytes: 0 };
      if (row.status === 'completed') {
        day.succeeded++;
        day.totalBytes += Number(row.size_bytes);
      }
      if (row.status === 'failed') day.failed++;
      expectedDays.set(dateIn(row.started_at), day);
    }
    // 30 days by default: 31 calendar days, the first and last cut.
    expect(stats.daily).toHaveLength(31);
    expect(stats.daily.at(-1)!.date).toBe(dateIn(new Date()));
    const busyDays = stats.daily.filter((day) => day.succeeded + day.failed + day.cancelled > 0);
    expect(
      Object.fromEntries(
        busyDays.map((day) => [
          day.date,
          { succeeded: day.succeeded, failed: day.failed, totalBytes: day.totalBytes },
        ]),
      ),
    ).toEqual(Object.fromEntries(expectedDays));
    expect(Math.max(...busyDays.map((day) => day.maxBytes ?? 0))).toBe(
      Math.max(...completed.map((row) => Number(row.size_bytes))),
    );
  });

  it('names each target’s last success and last failure, and the failures since the last success', async () => {
    const rows = await rowsOf(target.id);
    const newest = (status: string) => rows.filter((row) => row.status === status).at(-1)!;
    const { body } = await api.json<RunStats>('GET', `/api/admin/backups/stats?target=${target.id}`);
    expect(body.targets).toHaveLength(1);
    expect(body.targets[0]).toMatchObject({
      name: target.name,
      lastSuccess: { backupId: newest('completed').id, sizeBytes: Number(newest('completed').size_bytes) },
      lastFailure: { backupId: newest('failed').id, errorCode: 'AUTH_FAILED' },
      consecutiveFailures: rows.filter((row) => row.status === 'failed').length,
    });
  });

  it('lists the target’s schedules with their next run and their failures in a row', async () => {
    const failedScheduled = (await scheduledRuns(failing)).filter((run) => run.status === 'failed').length;
    const { body } = await api.json<RunStats>('GET', `/api/admin/backups/stats?target=${target.name}`);
    const byName = Object.fromEntries((body.schedules ?? []).map((schedule) => [schedule.name, schedule]));
    expect(Object.keys(byName).sort()).toEqual([failing, yearly].sort());
    // Temporal remembers a schedule's last ten runs, from which the failures in a row are told.
    expect(byName[failing]).toEqual(
      expect.objectContaining({
        target: target.name,
        enabled: false,
        nextRunAt: null,
        consecutiveFailures: Math.min(failedScheduled, 10),
        lastSuccessAt: null,
      }),
    );
    const now = new Date();
    const thisYear = Date.UTC(now.getUTCFullYear(), 0, 1, 3);
    const nextJanuaryFirst = new Date(
      now.getTime() < thisYear ? thisYear : Date.UTC(now.getUTCFullYear() + 1, 0, 1, 3),
    );
    expect(byName[yearly]).toEqual(
      expect.objectContaining({
        enabled: true,
        nextRunAt: nextJanuaryFirst.toISOString(),
        consecutiveFailures: 0,
      }),
    );
  });

  it('is empty for a window without runs, and covers every target without a filter', async () => {
    const { status, body } = await api.json<RunStats>(
      'GET',
      '/api/admin/backups/stats?from=2020-01-01T00:00:00Z&to=2020-01-02T12:00:00%2B02:00',
    );
    expect(status).toBe(200);
    expect(body.target).toBeNull();
    expect(body.totals).toMatchObject({ total: 0, succeeded: 0, failed: 0, successRate: null });
    expect(body.durationsMs.dump).toEqual({ count: 0, p50: null, p90: null, p99: null, max: null });
    expect(body.daily.map((day) => [day.date, day.succeeded, day.totalBytes])).toEqual([
      ['2020-01-01', 0, 0],
      ['2020-01-02', 0, 0],
    ]);
    expect(body.targets.map((t) => t.name)).toEqual(expect.arrayContaining([target.name, calm.name]));
  });

  it('answers an empty window for a reversed one, and daily buckets of the last 366 days for a longer one', async () => {
    const reversed = await api.json<RunStats>(
      'GET',
      `/api/admin/backups/stats?target=${target.name}&from=2030-01-01T00:00:00Z&to=2020-01-01T00:00:00Z`,
    );
    expect(reversed.status).toBe(200);
    expect(reversed.body.totals).toMatchObject({ total: 0, successRate: null });
    expect(reversed.body.daily).toEqual([]);

    const now = new Date();
    const long = await api.json<RunStats>(
      'GET',
      `/api/admin/backups/stats?target=${target.name}&from=1970-01-01T00:00:00Z&to=${encodeURIComponent(new Date(now.getTime() + 60_000).toISOString())}`,
    );
    expect(long.status).toBe(200);
    const rows = await rowsOf(target.id);
    expect(long.body.totals.total).toBe(rows.length);
    expect(long.body.window.from).toBe('1970-01-01T00:00:00.000Z');
    expect(Date.parse(long.body.window.to) - Date.parse(long.body.window.dailyFrom)).toBe(366 * 86_400_000);
    expect(long.body.daily.length).toBeGreaterThanOrEqual(366);
    expect(long.body.daily.length).toBeLessThanOrEqual(367);
    expect(long.body.daily.reduce((sum, day) => sum + day.succeeded + day.failed, 0)).toBe(rows.length);
  });

  it('counts times before 1970 and after 9999 from and to those years', async () => {
    const { status, body } = await api.json<RunStats>(
      'GET',
      `/api/admin/backups/stats?from=0001-01-01T00:00:00Z&to=${encodeURIComponent('9999-12-31T23:59:59-23:59')}`,
    );
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.window.from).toBe('1970-01-01T00:00:00.000Z');
    expect(body.window.to).toBe('+010000-01-01T00:00:00.000Z');
    expect(body.daily.at(-1)!.date).toBe('9999-12-31');
    expect(body.totals.total).toBeGreaterThanOrEqual((await rowsOf(target.id)).length);
  });

  it('refuses a zone, a time or a target it does not know, with the field, and asks for a token', async () => {
    const cases: [string, number, string, string | undefined][] = [
      ['?timeZone=Mars/Olympus', 400, 'VALIDATION_FAILED', 'timeZone'],
      ['?to=2026-01-01', 400, 'VALIDATION_FAILED', 'to'],
      ['?from=2026-01-01T00:00:00', 400, 'VALIDATION_FAILED', 'from'],
      ['?target=no-such-target', 404, 'NOT_FOUND', 'target'],
    ];
    for (const [query, status, code, field] of cases) {
      const response = await api.json<{ error: { code: string; details?: { field?: string } } }>(
        'GET',
        `/api/admin/backups/stats${query}`,
      );
      expect(response.status, query).toBe(status);
      expect(response.body.error.code, query).toBe(code);
      expect(response.body.error.details?.field, query).toBe(field);
    }
    expect((await api.call('GET', '/api/admin/backups/stats', { token: null })).status).toBe(401);
  });
});

describe('lifeboat stats', () => {
  it('prints the target’s statistics as tables over HTTP, or the JSON with --output json', async () => {
    const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
      const started = serve({ fetch: api.app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(started));
    });
    try {
      const client = createApiClient(
        `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        api.tokens.viewer,
      );
      const rows = await rowsOf(target.id);
      const failures = rows.filter((row) => row.status === 'failed').length;
      const text = await runStatsCommand(client, { target: target.name, timezone: timeZone });
      expect(text).toContain(`of ${target.name}`);
      const totalsLine = text.split('\n')[2]!.trim().split(/\s+/);
      expect(totalsLine.slice(0, 3)).toEqual([String(rows.length), '2', String(failures)]);
      expect(text).toMatch(new RegExp(`^${target.name} .* AUTH_FAILED +${failures}$`, 'm'));
      expect(text).toMatch(new RegExp(`^${yearly} +${target.name} +yes `, 'm'));
      expect(text).toContain(`day (${timeZone})`);
      const json = JSON.parse(
        await runStatsCommand(client, { target: target.name, output: 'json' }),
      ) as RunStats;
      expect(json.totals.total).toBe(rows.length);
      // --to arrives as a list (it repeats for mail channels); the last one counts.
      const empty = await runStatsCommand(client, {
        target: target.name,
        from: '2020-01-01T00:00:00Z',
        to: ['2030-01-01T00:00:00Z', '2020-01-02T00:00:00Z'],
      });
      expect(empty.split('\n')[2]!.trim().split(/\s+/).slice(0, 3)).toEqual(['0', '0', '0']);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('GET /api/admin/health', () => {
  it('is critical for the failing target, with why, and only warns about the one without a schedule', async () => {
    const response = await api.json<HealthReport>('GET', '/api/admin/health', { token: api.tokens.viewer });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    const { body } = response;
    expect(body.checks.catalog.ok).toBe(true);
    expect(body.status).toBe('critical');
    const failures = (await rowsOf(target.id)).filter((row) => row.status === 'failed').length;
    // The storage budget is global: another file may set one for a moment, which every target then reports.
    const ownReasons = (reasons: { code: string; severity: string }[]) =>
      reasons.filter((reason) => !reason.code.startsWith('STORAGE_'));
    const failingTarget = body.targets.find((t) => t.name === target.name)!;
    expect(failingTarget).toMatchObject({ verdict: 'critical', consecutiveFailures: failures });
    expect(ownReasons(failingTarget.reasons).map((reason) => `${reason.severity} ${reason.code}`)).toEqual([
      'critical BACKUPS_FAILING',
    ]);
    expect(failingTarget.reasons[0]!.message).toContain('AUTH_FAILED');
    // Only the enabled schedule counts; a year between its runs (365 or 366 days).
    expect(failingTarget.schedules).toHaveLength(1);
    expect(failingTarget.schedules![0]!.name).toBe(yearly);
    expect([365 * 86_400, 366 * 86_400]).toContain(failingTarget.schedules![0]!.intervalSeconds);

    const calmTarget = body.targets.find((t) => t.name === calm.name)!;
    expect(calmTarget).toMatchObject({ verdict: 'warning', consecutiveFailures: 0, schedules: [] });
    expect(ownReasons(calmTarget.reasons).map((reason) => reason.code)).toEqual(['NO_SCHEDULE']);
  });

  it('keeps the unauthenticated /health as it was', async () => {
    const response = await api.json<{ status: string; checks: Record<string, unknown> }>('GET', '/health', {
      token: null,
    });
    expect(response.status).toBe(200);
    expect(Object.keys(response.body)).toEqual(['status', 'checks']);
    expect((await api.call('GET', '/api/admin/health', { token: null })).status).toBe(401);
  });
});
