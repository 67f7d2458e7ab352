// A restore drill whose worker process is SIGKILLed while pg_restore loads the scratch database: the
// restarted worker drills again from the start and the drill passes (or, were it to fail, says it could
// not run rather than that the backup is broken); no lifeboat_drill_* database is left behind.
import { afterAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/api.ts';
import { fillRichDatabase } from '../harness/fixtures.ts';
import { backUp } from '../harness/restore.ts';
import { createDatabase, scratchDir, sql, useStack } from '../harness/stack.ts';
import { killWorkerProcess, killWorkerProcesses, startWorkerProcess } from '../harness/worker-process.ts';

const { client, worker, api, storageDir, createTarget } = useStack({ workers: 0 });

afterAll(async () => {
  killWorkerProcesses();
  // The settings are shared with the other files of the run: no drill server after this one.
  await api.json('PATCH', '/api/admin/backups/settings', { body: { drills: { server: null } } });
});

const drillDatabases = async () =>
  (
    await sql<{ datname: string }>(
      'postgres',
      `select datname from pg_database where starts_with(datname, 'lifeboat_drill_')`,
    )
  ).map((row) => row.datname);

describe('a drill whose worker is killed', () => {
  it('is drilled again by the restarted worker, and leaves no scratch database behind', async () => {
    const launch = {
      taskQueue: worker.taskQueue,
      workerId: 'drill-crash-worker',
      storageDir,
      workDir: scratchDir('drill-crash-work'),
    };
    const first = await startWorkerProcess(launch);
    const server = await createTarget(
      `drill-crash-server-${Date.now().toString(36)}`,
      await createDatabase('dchost'),
    );
    const database = await createDatabase('dcrash');
    await fillRichDatabase(database);
    // Enough rows that pg_restore is still loading when the kill comes.
    await sql(
      database,
      `create table public.bulk (id int primary key, body text);
       insert into public.bulk select g, repeat(md5(g::text), 8) from generate_series(1, 400000) g`,
    );
    const target = await createTarget(`dcrash-${database.slice(-8)}`, database);
    const patched = await api.json('PATCH', '/api/admin/backups/settings', {
      body: { drills: { server: server.name, afterBackup: false } },
    });
    expect(patched.status).toBe(200);
    const backupId = await backUp(api, target.name);

    const started = await api.json<{ drillId: string }>('POST', `/api/admin/backups/${backupId}/drills`);
    expect(started.status).toBe(202);
    // Killed once the scratch database exists and pg_restore works in it.
    await eventually(
      async () =>
        (
          await sql(
            'postgres',
            `select 1 from pg_stat_activity where application_name = $1 and datname like 'lifeboat_drill_%'`,
            [`lifeboat-drill-${started.body.drillId}`],
          )
        ).length > 0 || undefined,
      120_000,
      'pg_restore to load the scratch database',
    );
    await killWorkerProcess(first);
    await startWorkerProcess(launch);

    const drill = await eventually(
      async () => {
        const { body } = await api.json<{ status: string; checks: { name: string; status: string }[] }>(
          'GET',
          `/api/admin/drills/${started.body.drillId}`,
        );
        return ['queued', 'running'].includes(body.status) ? undefined : body;
      },
      240_000,
      'the drill to end after the restart',
    );
    expect(drill.status, JSON.stringify(drill)).toBe('passed');
    expect(drill.checks.find((check) => check.name === 'row counts')?.status).toBe('passed');
    // The kill interrupted the drill step: the one that passed is a later attempt.
    const { workflowId } = (
      await api.json<{ workflowId: string }>('GET', `/api/admin/drills/${started.body.drillId}`)
    ).body;
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    const attempts = (history.events ?? [])
      .map((event) => event.activityTaskStartedEventAttributes?.attempt)
      .filter((attempt): attempt is number => typeof attempt === 'number');
    expect(Math.max(...attempts)).toBeGreaterThan(1);
    await eventually(
      async () => ((await drillDatabases()).length === 0 ? true : undefined),
      60_000,
      'no drill database',
    );
  });
});
