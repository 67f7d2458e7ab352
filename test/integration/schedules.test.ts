// Backup schedules are real Temporal Schedules: they fire, two workers make one backup per run, a pause
// made with the temporal CLI shows in the API at once, and a trigger runs one backup.
import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { temporalCliPath } from '../../stack/temporal-dev-server.ts';
import { eventually } from '../harness/api.ts';
import { createDatabase, stack, useStack } from '../harness/stack.ts';

// Two workers on the same task queue, as in a deployment with two worker processes.
const { db, api, createTarget } = useStack({ workers: 2 });
let targetName: string;

beforeAll(async () => {
  const database = await createDatabase('sched');
  targetName = `sched-${database.slice(-8)}`;
  // Keep every run: this file counts scheduled backups, and retention would prune runs of one hour.
  await createTarget(targetName, database, { retention: { keepLast: -1 } });
});

interface ScheduleView {
  id: string;
  name: string;
  enabled: boolean;
  note: string | null;
  cron: string;
  nextRunTimes: string[];
  recentRuns: { workflowId: string; status: string }[];
  actionsTaken: number;
  lastSuccessAt: string | null;
  consecutiveFailures: number;
}

async function scheduledBackups(name: string) {
  const { rows } = await db.query<{ workflow_id: string; status: string }>(
    'select workflow_id, status from backups where requested_by = $1',
    [`schedule:${name}`],
  );
  return rows;
}

async function settled(name: string, atLeast: number) {
  return eventually(
    async () => {
      const { body } = await api.json<ScheduleView>('GET', `/api/admin/backups/schedules/${name}`);
      const rows = await scheduledBackups(name);
      const done =
        rows.length >= atLeast &&
        rows.length === body.actionsTaken &&
        rows.every((r) => r.status !== 'running');
      return done ? { view: body, rows } : undefined;
    },
    90_000,
    `schedule ${name} to settle with ${atLeast} backups`,
  );
}

describe('backup schedules', () => {
  it('fire on a short interval, once per scheduled time even with two workers, and pause from the temporal CLI', async () => {
    const name = `every10s-${targetName.slice(-4)}`;
    const created = await api.json<ScheduleView>('POST', '/api/admin/backups/schedules', {
      body: {
        name,
        target: targetName,
        cron: '@every 10s',
        description: 'fast, for the test',
        options: { tags: ['sched'] },
      },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name, enabled: true, cron: '@every 10s' });
    expect(created.body.nextRunTimes.length).toBeGreaterThan(0);

    await eventually(
      async () => {
        const rows = await scheduledBackups(name);
        return rows.filter((r) => r.status === 'completed').length >= 2 ? rows : undefined;
      },
      90_000,
      'two scheduled backups',
    );

    execFileSync(temporalCliPath(), [
      'schedule',
      'toggle',
      '--address',
      stack().temporalAddress,
      '--schedule-id',
      created.body.id,
      '--pause',
      '--reason',
      'maintenance window',
    ]);
    const paused = await api.json<ScheduleView>('GET', `/api/admin/backups/schedules/${name}`, {
      token: api.tokens.operator,
    });
    expect(paused.body).toMatchObject({ enabled: false, note: 'maintenance window' });

    const { view, rows } = await settled(name, 2);
    expect(new Set(rows.map((r) => r.workflow_id)).size).toBe(rows.length);
    expect(rows.every((r) => r.status === 'completed')).toBe(true);
    expect(view.recentRuns.every((run) => rows.some((r) => r.workflow_id === run.workflowId))).toBe(true);
    expect(view.lastSuccessAt).not.toBeNull();
    expect(view.consecutiveFailures).toBe(0);

    const before = rows.length;
    // Temporal names a run after its time to the second; a trigger in the same second as the last
    // scheduled run would share its workflow id and be absorbed by it.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const triggered = await api.json('POST', `/api/admin/backups/schedules/${name}/trigger`, {
      token: api.tokens.operator,
    });
    expect(triggered.status).toBe(202);
    const after = await settled(name, before + 1);
    expect(after.rows).toHaveLength(before + 1);

    const resumed = await api.json<ScheduleView>('PATCH', `/api/admin/backups/schedules/${name}/toggle`, {
      body: { enabled: true, note: 'back to normal' },
    });
    expect(resumed.body).toMatchObject({ enabled: true, note: 'back to normal' });
    expect((await api.call('DELETE', `/api/admin/backups/schedules/${name}`)).status).toBe(204);
    expect((await api.json('GET', `/api/admin/backups/schedules/${name}`)).status).toBe(404);
  });

  it('takes presets, and answers bad input with a code and the field, creating nothing', async () => {
    const preset = await api.json<ScheduleView & { frequency: string; timeZone: string }>(
      'POST',
      '/api/admin/backups/schedules',
      {
        body: {
          name: `nightly-${targetName.slice(-4)}`,
          target: targetName,
          frequency: 'daily',
          timeZone: 'Europe/Berlin',
          enabled: false,
        },
      },
    );
    expect(preset.status).toBe(201);
    expect(preset.body).toMatchObject({
      cron: '0 3 * * *',
      frequency: 'daily',
      timeZone: 'Europe/Berlin',
      enabled: false,
    });
    expect(new Date(preset.body.nextRunTimes[0]!).getUTCHours()).toBeOneOf([1, 2]);

    const countSchedules = async () =>
      (await api.json<{ items: unknown[] }>('GET', '/api/admin/backups/schedules')).body.items.length;
    const before = await countSchedules();
    const cases = [
      {
        body: { name: 'bad-cron', target: targetName, cron: '61 * * * *' },
        status: 400,
        code: 'VALIDATION_FAILED',
        field: 'cron',
      },
      {
        body: { name: 'two-ways', target: targetName, cron: '0 * * * *', frequency: 'daily' },
        status: 400,
        code: 'VALIDATION_FAILED',
        field: 'cron',
      },
      {
        body: { name: 'bad-zone', target: targetName, frequency: 'daily', timeZone: 'Mars/Olympus' },
        status: 400,
        code: 'VALIDATION_FAILED',
        field: 'timeZone',
      },
      {
        body: { name: 'no-target', target: 'no-such-target', frequency: 'daily' },
        status: 404,
        code: 'NOT_FOUND',
        field: 'target',
      },
      {
        body: { name: `nightly-${targetName.slice(-4)}`, target: targetName, frequency: 'hourly' },
        status: 409,
        code: 'CONFLICT',
        field: 'name',
      },
    ];
    for (const c of cases) {
      const response = await api.json<{ error: { code: string; details?: { field?: string } } }>(
        'POST',
        '/api/admin/backups/schedules',
        { body: c.body },
      );
      expect(response.status, JSON.stringify(c.body)).toBe(c.status);
      expect(response.body.error.code).toBe(c.code);
      expect(response.body.error.details?.field).toBe(c.field);
    }
    const viewer = await api.json('POST', '/api/admin/backups/schedules', {
      token: api.tokens.operator,
      body: { name: 'not-allowed', target: targetName, frequency: 'daily' },
    });
    expect(viewer.status).toBe(403);
    expect(await countSchedules()).toBe(before);
  });
});
