// Deleting is two-phase: a deleted backup goes to the trash (files kept, undeletable), the API refuses to
// delete what the last good copy or an unfinished restore depends on, and only the sweep removes files.
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getBackup } from '../../catalog/backups.ts';
import { LifeboatError } from '../../domain/errors.ts';
import { purgeTrash } from '../../services/retention.ts';
import type { Storage } from '../../storage/storage.ts';
import { backUp } from '../harness/restore.ts';
import { createDatabase, useStack } from '../harness/stack.ts';

const { db, worker, api, storageDir, createTarget } = useStack();

interface BackupView {
  id: string;
  status: string;
  storageKey: string | null;
  trashedAt: string | null;
  trashedBy: string | null;
  purgeAfter: string | null;
}

/** A manual backup of the target through the API, waited for (completed); its detail as the API shows it. */
async function backupNow(target: string): Promise<BackupView> {
  return (await api.json<BackupView>('GET', `/api/admin/backups/${await backUp(api, target)}`)).body;
}

const listed = async (target: string, query = '') =>
  (
    await api.json<{ items: { id: string }[] }>('GET', `/api/admin/backups?target=${target}${query}`)
  ).body.items.map((item) => item.id);

const setOperatorDelete = (allowed: boolean) =>
  api.json('PATCH', '/api/admin/backups/settings', { body: { allowOperatorDelete: allowed } });

let target: { id: string; name: string };
let older: BackupView;
let newest: BackupView;

beforeAll(async () => {
  const database = await createDatabase('trash');
  target = await createTarget(`trash-${database.slice(-8)}`, database);
  older = await backupNow(target.name);
  newest = await backupNow(target.name);
  expect([older.status, newest.status]).toEqual(['completed', 'completed']);
});

afterAll(async () => {
  await setOperatorDelete(false);
});

describe('deleting a backup', () => {
  it('is refused to an operator unless the settings allow it, and the newest backup even then', async () => {
    const byOperator = await api.json<{ error: { code: string } }>(
      'DELETE',
      `/api/admin/backups/${newest.id}`,
      { token: api.tokens.operator },
    );
    expect(byOperator).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
    const byViewer = await api.call('DELETE', `/api/admin/backups/${older.id}`, { token: api.tokens.viewer });
    expect(byViewer.status).toBe(403);

    await setOperatorDelete(true);
    try {
      const newestByOperator = await api.json<{ error: { code: string; details: { reason: string } } }>(
        'DELETE',
        `/api/admin/backups/${newest.id}`,
        { token: api.tokens.operator },
      );
      expect(newestByOperator).toMatchObject({
        status: 409,
        body: { error: { code: 'CONFLICT', details: { reason: 'newest' } } },
      });
      const forcedByOperator = await api.call('DELETE', `/api/admin/backups/${newest.id}?force=true`, {
        token: api.tokens.operator,
      });
      expect(forcedByOperator.status).toBe(403);
    } finally {
      await setOperatorDelete(false);
    }
    expect((await getBackup(db, newest.id)).trashedAt).toBeNull();
  });

  it('moves it to the trash: out of the list, in ?trashed=true, its files kept, and undelete brings it back', async () => {
    const archive = path.join(storageDir, older.storageKey!);
    expect((await api.call('DELETE', `/api/admin/backups/${older.id}`)).status).toBe(204);
    expect(existsSync(archive)).toBe(true);
    expect(await listed(target.name)).toEqual([newest.id]);
    expect(await listed(target.name, '&trashed=true')).toEqual([older.id]);
    const trashed = (await api.json<BackupView>('GET', `/api/admin/backups/${older.id}`)).body;
    expect(trashed.trashedBy).toBe(`admin-${worker.taskQueue.slice(-12)}`);
    expect(Date.parse(trashed.purgeAfter!)).toBeGreaterThan(Date.now() + 6 * 86_400_000);
    // Deleting again changes nothing; restoring from the trash is refused until it is undeleted.
    expect((await api.call('DELETE', `/api/admin/backups/${older.id}`)).status).toBe(204);
    const preview = await api.json<{ error: { code: string } }>(
      'POST',
      `/api/admin/backups/${older.id}/restore/preview`,
      { body: { mode: 'full' } },
    );
    expect(preview).toMatchObject({ status: 409, body: { error: { code: 'CONFLICT' } } });

    const undeleted = await api.json<BackupView>('POST', `/api/admin/backups/${older.id}/undelete`, {
      token: api.tokens.operator,
    });
    expect(undeleted).toMatchObject({
      status: 200,
      body: { id: older.id, trashedAt: null, purgeAfter: null },
    });
    expect((await listed(target.name)).sort()).toEqual([older.id, newest.id].sort());
    const again = await api.json<{ error: { code: string } }>(
      'POST',
      `/api/admin/backups/${older.id}/undelete`,
    );
    expect(again).toMatchObject({ status: 409, body: { error: { code: 'CONFLICT' } } });
  });

  it('lets an admin force the newest backup into the trash, and the audit log records what was overridden', async () => {
    const refused = await api.json<{ error: { code: string } }>('DELETE', `/api/admin/backups/${newest.id}`);
    expect(refused).toMatchObject({ status: 409, body: { error: { code: 'CONFLICT' } } });
    expect((await api.call('DELETE', `/api/admin/backups/${newest.id}?force=true`)).status).toBe(204);
    const { rows } = await db.query<{ status: number; details: unknown }>(
      `select status, details from audit_log where resource_id = $1 and method = 'DELETE' and actor = $2
        order by id`,
      [newest.id, `admin-${worker.taskQueue.slice(-12)}`],
    );
    expect(rows.map((row) => [row.status, row.details])).toEqual([
      [409, null],
      [204, { force: true, overridden: ['newest'] }],
    ]);
    expect((await api.call('POST', `/api/admin/backups/${newest.id}/undelete`)).status).toBe(200);
  });

  it('is refused while an unfinished restore reads the backup or took it as its safety backup', async () => {
    const insertRestore = (column: 'backup_id' | 'safety_backup_id', status: string) =>
      db.query<{ id: string }>(
        `insert into restore_operations (id, workflow_id, backup_id, safety_backup_id, source_target_name,
           target_name, destination, lock_key, mode, options, status, requested_by)
         values ($1, $2, $3, $4, $5, $5, '{}', $6, 'full', '{}', $7, 'someone') returning id`,
        [
          randomUUID(),
          `restore/test/${randomUUID()}`,
          column === 'backup_id' ? older.id : randomUUID(),
          column === 'safety_backup_id' ? older.id : null,
          target.name,
          `test-lock-${randomUUID()}`,
          status,
        ],
      );
    for (const [column, status] of [
      ['backup_id', 'awaiting_approval'],
      ['safety_backup_id', 'running'],
    ] as const) {
      const { rows } = await insertRestore(column, status);
      const refused = await api.json<{ error: { code: string; details: { reason: string } } }>(
        'DELETE',
        `/api/admin/backups/${older.id}?force=true`,
      );
      expect(refused).toMatchObject({
        status: 409,
        body: { error: { code: 'CONFLICT', details: { reason: 'in-use' } } },
      });
      await db.query(
        `update restore_operations set status = 'completed', finished_at = now() where id = $1`,
        [rows[0]!.id],
      );
    }
    expect((await getBackup(db, older.id)).trashedAt).toBeNull();
  });

  it('keeps a target with backups, trashed ones included', async () => {
    expect((await api.call('DELETE', `/api/admin/backups/${older.id}`)).status).toBe(204);
    const refused = await api.json<{ error: { code: string } }>('DELETE', `/api/admin/targets/${target.id}`);
    expect(refused).toMatchObject({ status: 409, body: { error: { code: 'CONFLICT' } } });
    expect((await api.call('POST', `/api/admin/backups/${older.id}/undelete`)).status).toBe(200);
  });
});

describe('purging the trash', () => {
  it('never removes a backup within a day of its deletion: no setting makes the grace shorter', async () => {
    const setGrace = (days: number) =>
      api.json<{ deleteGraceDays?: number; error?: { code: string } }>(
        'PATCH',
        '/api/admin/backups/settings',
        {
          body: { deleteGraceDays: days },
        },
      );
    for (const days of [0, -1, 0.5]) {
      expect(await setGrace(days), `deleteGraceDays ${days}`).toMatchObject({
        status: 400,
        body: { error: { code: 'VALIDATION_FAILED' } },
      });
    }
    const archive = path.join(storageDir, older.storageKey!);
    const sweep = (now: Date) => purgeTrash({ db, storages: worker.storages }, { targetId: target.id, now });
    try {
      expect(await setGrace(1)).toMatchObject({ status: 200, body: { deleteGraceDays: 1 } });
      expect((await api.call('DELETE', `/api/admin/backups/${older.id}`)).status).toBe(204);
      const trashed = (await api.json<BackupView>('GET', `/api/admin/backups/${older.id}`)).body;
      // A day apart, give or take the API's and the catalog's clocks.
      const graceMs = Date.parse(trashed.purgeAfter!) - Date.parse(trashed.trashedAt!);
      expect(Math.abs(graceMs - 86_400_000)).toBeLessThan(60_000);

      // The sweep (the only caller of the purge; no API route runs it) an hour before the shortest grace ends.
      expect((await sweep(new Date(Date.parse(trashed.trashedAt!) + 23 * 3_600_000))).purged).toBe(0);
      expect(existsSync(archive)).toBe(true);
      expect((await getBackup(db, older.id)).trashedAt).not.toBeNull();
      expect((await api.call('POST', `/api/admin/backups/${older.id}/undelete`)).status).toBe(200);
    } finally {
      expect((await setGrace(7)).status).toBe(200);
    }
  });

  it('removes nothing before the grace period, then storage first and the row last; a locked object keeps its row', async () => {
    expect((await api.call('DELETE', `/api/admin/backups/${older.id}`)).status).toBe(204);
    const archive = path.join(storageDir, older.storageKey!);
    const scope = { targetId: target.id };
    await purgeTrash({ db, storages: worker.storages }, scope);
    expect(existsSync(archive)).toBe(true);

    const afterGrace = { ...scope, now: new Date(Date.now() + 8 * 86_400_000) };
    const locked: Storage = {
      ...worker.storage,
      url: worker.storage.url,
      delete: () => Promise.reject(new LifeboatError('PROTECTED', 'under Object Lock for the test')),
    };
    const refused = await purgeTrash(
      { db, storages: { ...worker.storages, open: () => locked } },
      afterGrace,
    );
    expect(refused.failed.find((failure) => failure.id === older.id)?.error).toContain('Object Lock');
    expect((await getBackup(db, older.id)).deletionError).toContain('Object Lock');
    expect(existsSync(archive)).toBe(true);

    const purged = await purgeTrash({ db, storages: worker.storages }, afterGrace);
    expect(purged.failed.map((failure) => failure.id)).not.toContain(older.id);
    expect(existsSync(archive)).toBe(false);
    await expect(getBackup(db, older.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await listed(target.name)).toEqual([newest.id]);
  });
});
