// Retention against real storage and catalog: exactly the planned backups go to the trash, the rest stay
// intact; the sweep removes trashed backups once their grace has passed, and a removal that fails leaves
// the backup listed and marked until a later pass removes it.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { getBackup, listBackups } from '../../catalog/backups.ts';
import { applyRetention, purgeTrash } from '../../services/retention.ts';
import type { Storage } from '../../storage/storage.ts';
import { LifeboatError } from '../../domain/errors.ts';
import { retentionSweepWorkflow } from '../../workflows/retention.ts';
import { createDatabase, stack, useStack } from '../harness/stack.ts';

const { db, worker, client, api, storageDir, createTarget: createStackTarget } = useStack();

/** A target on a new database with the given retention policy. */
async function createTarget(retention: Record<string, unknown>) {
  const database = await createDatabase('ret');
  return createStackTarget(`ret-${database.slice(-8)}`, database, { retention });
}

/** Starts a backup and waits for its whole workflow, including the retention pass that follows it. */
async function backupNow(target: string): Promise<string> {
  const { body } = await api.json<{ backupId: string; workflowId: string }>('POST', '/api/admin/backups', {
    body: { target },
  });
  await client.workflow.getHandle(body.workflowId).result();
  expect((await getBackup(db, body.backupId)).status).toBe('completed');
  return body.backupId;
}

const keepEverything = {
  keepLast: -1,
  keepHourly: 0,
  keepDaily: 0,
  keepWeekly: 0,
  keepMonthly: 0,
  keepYearly: 0,
};
const keepTwo = { ...keepEverything, keepLast: 2 };

describe('retention', () => {
  it('trashes exactly the planned backups, removes their archives only after the grace period, and leaves the rest intact', async () => {
    const target = await createTarget(keepEverything);
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(await backupNow(target.name));
    const protectedId = ids[0]!;
    await db.query('update backups set protected = true where id = $1', [protectedId]);

    const put = await api.json('PUT', `/api/admin/targets/${target.id}`, {
      body: {
        name: target.name,
        host: '127.0.0.1',
        port: stack().pgPort,
        database: await getTargetDatabase(target.id),
        username: stack().pgSuperuser,
        retention: keepTwo,
      },
    });
    expect(put.status).toBe(200);

    const preview = await api.json<{ keep: { id: string; reasons: string[] }[]; remove: { id: string }[] }>(
      'POST',
      '/api/admin/backups/retention/preview',
      { token: api.tokens.operator, body: { target: target.name } },
    );
    expect(preview.status).toBe(200);
    // Newest first: ids[3] and ids[2] fill keepLast 2; ids[0] is protected; ids[1] goes.
    expect(preview.body.remove.map((r) => r.id)).toEqual([ids[1]]);
    expect(preview.body.keep.map((k) => k.id)).toEqual([ids[3], ids[2], ids[0]]);

    const before = new Map<string, { key: string; sha256: string }>();
    for (const id of ids) {
      const row = await getBackup(db, id);
      before.set(id, { key: row.storageKey!, sha256: row.sha256! });
    }
    const result = await client.workflow.execute(retentionSweepWorkflow, {
      taskQueue: worker.taskQueue,
      workflowId: `retention-test-${target.name}`,
    });
    expect(result.targets.find((t) => t.targetId === target.id)).toMatchObject({ removed: 1, failed: [] });
    const trashed = await getBackup(db, ids[1]!);
    expect(trashed.trashedBy).toBe('retention');
    // deleteGraceDays is 7 by default (the API's clock and the catalog's differ by milliseconds).
    const graceMs = Date.parse(trashed.purgeAfter!) - Date.parse(trashed.trashedAt!);
    expect(Math.abs(graceMs - 7 * 86_400_000)).toBeLessThan(60_000);
    expect(existsSync(path.join(storageDir, trashed.storageKey!))).toBe(true);

    await db.query('update backups set purge_after = now() where id = $1', [ids[1]]);
    const swept = await client.workflow.execute(retentionSweepWorkflow, {
      taskQueue: worker.taskQueue,
      workflowId: `retention-test-${target.name}-purge`,
    });
    expect(swept.purge?.failed.filter((f) => f.id === ids[1])).toEqual([]);
    await expect(getBackup(db, ids[1]!)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const gone = before.get(ids[1]!)!;
    expect(existsSync(path.join(storageDir, gone.key))).toBe(false);
    expect(existsSync(path.join(storageDir, `${gone.key}.manifest.json`))).toBe(false);
    expect(existsSync(path.join(storageDir, `${gone.key}.md5`))).toBe(false);
    const remaining = await listBackups(db, { target: target.name, limit: 10, offset: 0 });
    expect(remaining.items.map((b) => b.id).sort()).toEqual([ids[0], ids[2], ids[3]].sort());
    for (const id of [ids[0]!, ids[2]!, ids[3]!]) {
      const { key, sha256 } = before.get(id)!;
      expect(
        createHash('sha256')
          .update(readFileSync(path.join(storageDir, key)))
          .digest('hex'),
      ).toBe(sha256);
    }
    const detail = await api.json<{ categories: string[]; expiresAt: string | null }>(
      'GET',
      `/api/admin/backups/${ids[3]}`,
    );
    expect(detail.body.categories).toEqual(['last', 'newest']);
    expect(
      (await api.json<{ categories: string[] }>('GET', `/api/admin/backups/${protectedId}`)).body.categories,
    ).toEqual(['protected']);
  });

  it('leaves a trashed backup whose removal fails listed and marked, and removes it on a later pass', async () => {
    const target = await createTarget(keepEverything);
    const older = await backupNow(target.name);
    const newer = await backupNow(target.name);
    await db.query('update targets set retention_policy = $2 where id = $1', [
      target.id,
      JSON.stringify({ ...keepEverything, keepLast: 1 }),
    ]);

    const broken: Storage = {
      ...worker.storage,
      url: worker.storage.url,
      delete: () => Promise.reject(new LifeboatError('STORAGE_UNAVAILABLE', 'storage is down for the test')),
    };
    const brokenStorages = { ...worker.storages, open: () => broken };
    expect(await applyRetention({ db, storages: brokenStorages }, target.id)).toMatchObject({
      removed: 1,
      failed: [],
    });
    const afterGrace = { targetId: target.id, now: new Date(Date.now() + 8 * 86_400_000) };
    const failing = await purgeTrash({ db, storages: brokenStorages }, afterGrace);
    expect(failing.failed.map((f) => f.id)).toContain(older);
    const marked = await getBackup(db, older);
    expect(marked.status).toBe('completed');
    expect(marked.deletionError).toContain('storage is down for the test');
    expect(existsSync(path.join(storageDir, marked.storageKey!))).toBe(true);

    const retried = await purgeTrash({ db, storages: worker.storages }, afterGrace);
    expect(retried.failed.map((f) => f.id)).not.toContain(older);
    await expect(getBackup(db, older)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(
      (await listBackups(db, { target: target.name, limit: 10, offset: 0 })).items.map((b) => b.id),
    ).toEqual([newer]);
    expect(existsSync(path.join(storageDir, marked.storageKey!))).toBe(false);
  });

  it('reports storage use per destination and target, against the quota in settings', async () => {
    const target = await createTarget(keepEverything);
    await backupNow(target.name);
    const stats = await api.json<{
      countsByStatus: Record<string, number>;
      destinations: { url: string; bytes: number }[];
      targets: { name: string; backups: number; bytes: number }[];
      totalBytes: number;
      recommendations: { code: string; message: string }[];
    }>('GET', '/api/admin/backups/storage/stats', { token: api.tokens.viewer });
    expect(stats.status).toBe(200);
    expect(stats.body.countsByStatus.completed).toBeGreaterThan(0);
    expect(stats.body.destinations.map((d) => d.url)).toContain(worker.storage.url);
    const mine = stats.body.targets.find((t) => t.name === target.name);
    expect(mine?.backups).toBe(1);
    expect(mine?.bytes).toBe(
      (await listBackups(db, { target: target.name, limit: 1, offset: 0 })).items[0]?.sizeBytes,
    );
    const offMachine = stats.body.recommendations.find((r) => r.code === 'NO_OFF_MACHINE_COPY');
    expect(offMachine?.message).toContain(target.name);

    const saved = await api.json('PUT', '/api/admin/backups/settings', { body: { maxStorageBytes: 1 } });
    expect(saved.status).toBe(200);
    try {
      const full = await api.json<{ quota: { usedFraction: number }; recommendations: { code: string }[] }>(
        'GET',
        '/api/admin/backups/storage/stats',
      );
      expect(full.body.quota.usedFraction).toBeGreaterThan(1);
      expect(full.body.recommendations.map((r) => r.code)).toContain('QUOTA_EXCEEDED');
    } finally {
      await api.json('PATCH', '/api/admin/backups/settings', { body: { maxStorageBytes: null } });
    }
  });

  it('keeps global settings validated and audited', async () => {
    const defaults = await api.json<{ retention: Record<string, unknown> }>(
      'GET',
      '/api/admin/backups/settings',
      { token: api.tokens.viewer },
    );
    expect(defaults.body.retention).toMatchObject({
      keepHourly: 8,
      keepDaily: 7,
      keepWeekly: 4,
      keepMonthly: 12,
      timeZone: 'UTC',
    });
    const bad = await api.json<{ error: { code: string; details: { field: string } } }>(
      'PUT',
      '/api/admin/backups/settings',
      {
        body: { retention: { keepDaily: -5 } },
      },
    );
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.field).toBe('retention.keepDaily');
    const forbidden = await api.json('PUT', '/api/admin/backups/settings', {
      token: api.tokens.operator,
      body: {},
    });
    expect(forbidden.status).toBe(403);
    const { rows } = await db.query<{ status: number }>(
      `select status from audit_log where path = '/api/admin/backups/settings' and actor like '%-' || $1 order by id desc limit 2`,
      [worker.taskQueue.slice(-12)],
    );
    expect(rows.map((r) => r.status)).toEqual([403, 400]);
  });
});

async function getTargetDatabase(id: string): Promise<string> {
  const { rows } = await db.query<{ database_name: string }>(
    'select database_name from targets where id = $1',
    [id],
  );
  return rows[0]!.database_name;
}
