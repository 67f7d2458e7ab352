// GET /metrics after a known sequence of runs on a real stack (two completed backups to a local directory
// and a real S3 server, a restore, a failed backup, and a degraded one whose S3 copy cannot be written):
// promtool accepts the text, every value equals the catalog's, no label holds a credential, and a set
// LIFEBOAT_METRICS_TOKEN is required, exactly.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.ts';
import { apiDeps, eventually } from '../harness/api.ts';
import { backUp, startRestore, waitForRestore } from '../harness/restore.ts';
import { startS3Server, type S3Server } from '../harness/s3-server.ts';
import { createDatabase, scratchDir, sql, stack, useStack } from '../harness/stack.ts';

const { db, client, worker, api, createTarget, replaceTarget } = useStack();

let s3: S3Server;
let database: string;
let target: { id: string; name: string };
let degradedTarget: { id: string; name: string };
let localDir: string;
let s3Url: string;
let downUrl: string;
const wrongPassword = `wrong-${randomBytes(6).toString('hex')}`;
let exposition: string;

/** The value of the one sample of `name` whose labels include every pair of `labels`. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const matches = text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .filter((line) => Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`)));
  expect(matches.length, `${name} ${JSON.stringify(labels)}: ${matches.join(' | ')}`).toBeLessThanOrEqual(1);
  return matches[0] === undefined ? undefined : Number(matches[0].slice(matches[0].lastIndexOf(' ') + 1));
}

async function endedBackupOf(targetName: string): Promise<{ id: string; status: string; degraded: boolean }> {
  const started = await api.json<{ backupId: string }>('POST', '/api/admin/backups', {
    body: { target: targetName },
  });
  expect(started.status).toBe(202);
  return eventually(
    async () => {
      const { body } = await api.json<{ id: string; status: string; degraded: boolean }>(
        'GET',
        `/api/admin/backups/${started.body.backupId}`,
      );
      return body.status === 'running' ? undefined : body;
    },
    150_000,
    `backup of ${targetName} to end`,
  );
}

beforeAll(async () => {
  s3 = await startS3Server();
  const bucket = await s3.createBucket();
  database = await createDatabase('metrics');
  await sql(
    database,
    'create table readings (id int primary key, value float8); insert into readings select g, g * 0.5 from generate_series(1, 2000) g',
  );
  localDir = scratchDir('metrics-local');
  s3Url = s3.url(bucket, 'lifeboat');
  // A secondary destination nobody listens on: its copy fails after the upload's retries, the backup degrades.
  downUrl = `s3://${bucket}?endpoint=http://127.0.0.1:9&accessKeyIdEnv=${s3.accessKeyIdEnv}&secretAccessKeyEnv=${s3.secretAccessKeyEnv}`;
  const retention = { keepLast: -1 };
  target = await createTarget(`metrics-${database.slice(-8)}`, database, {
    destinations: [`file://${localDir}`, s3Url],
    retention,
  });
  degradedTarget = await createTarget(`degraded-${database.slice(-8)}`, database, {
    destinations: [`file://${scratchDir('metrics-degraded')}`, downUrl],
    retention,
  });

  const degraded = endedBackupOf(degradedTarget.name);
  await backUp(api, target.name);
  const newest = await backUp(api, target.name);
  const { operationId } = await startRestore(api, newest, {
    mode: 'full',
    destination: { database: `${database}_restored` },
  });
  expect((await waitForRestore(api, operationId)).status).toBe('completed');

  await replaceTarget(target, database, {
    password: wrongPassword,
    destinations: [`file://${localDir}`, s3Url],
    retention,
  });
  expect(await endedBackupOf(target.name)).toMatchObject({ status: 'failed' });
  expect(await degraded).toMatchObject({ status: 'completed', degraded: true });

  const response = await api.call('GET', '/metrics', { token: null });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  exposition = await response.text();
}, 300_000);

afterAll(async () => {
  await s3?.stop();
});

describe('GET /metrics', () => {
  it('passes promtool check metrics, lint included', () => {
    expect(execFileSync('promtool', ['check', 'metrics'], { input: exposition, encoding: 'utf8' })).toBe('');
    expect(sample(exposition, 'lifeboat_up', {})).toBe(1);
    expect(exposition).toContain('process_resident_memory_bytes');
  });

  it('shows the last success, its duration and size, and the failures since, as the catalog has them', async () => {
    const { rows } = await db.query<{ finished_at: Date; started_at: Date; size_bytes: string }>(
      `select started_at, finished_at, size_bytes from backups
        where target_id = $1 and status = 'completed' order by started_at desc limit 1`,
      [target.id],
    );
    const newest = rows[0]!;
    const labels = { target: target.name };
    expect(sample(exposition, 'lifeboat_backup_last_success_timestamp_seconds', labels)).toBe(
      newest.finished_at.getTime() / 1000,
    );
    expect(sample(exposition, 'lifeboat_backup_last_duration_seconds', labels)).toBe(
      (newest.finished_at.getTime() - newest.started_at.getTime()) / 1000,
    );
    expect(sample(exposition, 'lifeboat_backup_last_size_bytes', labels)).toBe(Number(newest.size_bytes));
    expect(sample(exposition, 'lifeboat_backup_consecutive_failures', labels)).toBe(1);
    const { rows: created } = await db.query<{ created_at: Date }>(
      'select created_at from targets where id = $1',
      [target.id],
    );
    expect(sample(exposition, 'lifeboat_target_created_timestamp_seconds', labels)).toBe(
      created[0]!.created_at.getTime() / 1000,
    );
  });

  it('counts finished backups by status and trigger, and copies by destination, as the catalog does', async () => {
    const { rows } = await db.query<{ status: string; trigger: string; count: string }>(
      `select status, trigger, count(*) from backups where target_id = $1 group by 1, 2`,
      [target.id],
    );
    // A restore into a new database takes no safety backup: the target's runs are the three of the test.
    expect(rows.map((row) => [row.status, row.trigger, Number(row.count)]).sort()).toEqual([
      ['completed', 'manual', 2],
      ['failed', 'manual', 1],
    ]);
    for (const row of rows) {
      expect(
        sample(exposition, 'lifeboat_backups_total', {
          target: target.name,
          status: row.status,
          trigger: row.trigger,
        }),
      ).toBe(Number(row.count));
    }
    const s3Display = `s3://${new URL(s3Url).host}/lifeboat?endpoint=${s3.endpoint}`;
    expect(
      sample(exposition, 'lifeboat_backup_copies', {
        target: target.name,
        destination: `file://${localDir}`,
        status: 'completed',
      }),
    ).toBe(2);
    expect(
      sample(exposition, 'lifeboat_backup_copies', {
        target: target.name,
        destination: s3Display,
        status: 'completed',
      }),
    ).toBe(2);
    const downDisplay = `s3://${new URL(downUrl).host}?endpoint=http://127.0.0.1:9`;
    expect(
      sample(exposition, 'lifeboat_backup_copies', {
        target: degradedTarget.name,
        destination: downDisplay,
        status: 'failed',
      }),
    ).toBe(1);

    const { rows: stored } = await db.query<{ bytes: string }>(
      `select sum(c.size_bytes) as bytes from backup_copies c join backups b on b.id = c.backup_id
        where b.status = 'completed' and c.status = 'completed' and c.storage_url = $1`,
      [`file://${localDir}`],
    );
    expect(sample(exposition, 'lifeboat_storage_used_bytes', { destination: `file://${localDir}` })).toBe(
      Number(stored[0]!.bytes),
    );
  });

  it('shows the restore: when it last succeeded, how long it ran, and the count by outcome', async () => {
    const { rows } = await db.query<{
      target_name: string;
      status: string;
      started_at: Date;
      finished_at: Date;
    }>(
      `select target_name, status, started_at, finished_at from restore_operations where backup_id in
        (select id from backups where target_id = $1)`,
      [target.id],
    );
    expect(rows).toHaveLength(1);
    const restore = rows[0]!;
    const labels = { target: restore.target_name };
    expect(sample(exposition, 'lifeboat_restores_total', { ...labels, status: 'completed' })).toBe(1);
    expect(sample(exposition, 'lifeboat_restore_last_success_timestamp_seconds', labels)).toBe(
      restore.finished_at.getTime() / 1000,
    );
    expect(sample(exposition, 'lifeboat_restore_last_duration_seconds', labels)).toBe(
      (restore.finished_at.getTime() - restore.started_at.getTime()) / 1000,
    );
  });

  it('holds no credential, credential variable name or storage query parameter in any label', () => {
    const { pgPassword } = stack();
    for (const secret of [
      s3.accessKeyId,
      s3.secretAccessKey,
      s3.accessKeyIdEnv,
      s3.secretAccessKeyEnv,
      pgPassword,
      wrongPassword,
    ]) {
      expect(exposition).not.toContain(secret);
    }
    const labels = exposition
      .split('\n')
      .filter((line) => line.startsWith('lifeboat_'))
      .flatMap((line) => [...line.matchAll(/(\w+)="([^"]*)"/g)].map((match) => match[2]!));
    expect(labels.length).toBeGreaterThan(0);
    for (const value of labels) expect(value).not.toMatch(/Env=|accessKey|secret|password/i);
  });

  it('needs exactly LIFEBOAT_METRICS_TOKEN when it is set, and no API token opens it', async () => {
    const metricsToken = randomBytes(24).toString('hex');
    const app = createApp({ ...apiDeps(db, client, worker), metricsToken });
    const scrape = (authorization?: string) =>
      app.request('/metrics', { headers: authorization ? { authorization } : {} });

    const missing = await scrape();
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="lifeboat-metrics"');
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('UNAUTHORIZED');
    for (const wrong of [
      `Bearer ${metricsToken.slice(0, -1)}`,
      `Bearer ${metricsToken}x`,
      `Bearer ${api.tokens.admin}`,
      metricsToken,
    ]) {
      expect((await scrape(wrong)).status, wrong).toBe(401);
    }
    const allowed = await scrape(`Bearer ${metricsToken}`);
    expect(allowed.status).toBe(200);
    expect(await allowed.text()).toContain(
      `lifeboat_backups_total{target="${target.name}",status="failed",trigger="manual"} 1`,
    );

    // The OpenAPI document says which: the protected app names the scheme, the open one none.
    type Doc = {
      paths: Record<string, { get: { security: unknown[]; responses: Record<string, { content: object }> } }>;
    };
    const protectedDoc = (await (await app.request('/api/openapi.json')).json()) as Doc;
    expect(protectedDoc.paths['/metrics']!.get.security).toEqual([{ metricsToken: [] }]);
    expect(Object.keys(protectedDoc.paths['/metrics']!.get.responses['200']!.content)).toEqual([
      'text/plain',
    ]);
    const openDoc = (await (await api.app.request('/api/openapi.json')).json()) as Doc;
    expect(openDoc.paths['/metrics']!.get.security).toEqual([]);
  });
});
