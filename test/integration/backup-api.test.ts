// End to end through the API: a real backup verified by hand with tar and pg_restore, a wrong password,
// and a cancellation, against the real dev server, PostgreSQL and local storage.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { Manifest } from '../../domain/manifest.ts';
import { purgeTrash } from '../../services/retention.ts';
import {
  contentHashes,
  fillRichDatabase,
  schemaDump,
  writeDocumentsTree,
  restoreDumpByHand,
} from '../harness/fixtures.ts';
import { eventually } from '../harness/api.ts';
import { createDatabase, scratchDir, sql, superuserUrl, useStack } from '../harness/stack.ts';

const { client, db, worker, api, storageDir, workDir, createTarget } = useStack();

async function waitForEnd(backupId: string) {
  return eventually(
    async () => {
      const { body } = await api.json<{
        status: string;
        errorCode: string | null;
        storageKey: string | null;
        workflowId: string;
      }>('GET', `/api/admin/backups/${backupId}`);
      return body.status === 'running' ? undefined : body;
    },
    120_000,
    `backup ${backupId} to end`,
  );
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('a backup through the API', () => {
  it('produces an archive that tar extracts, whose checksums hold, and that pg_restore turns back into the same database', async () => {
    const source = await createDatabase('rich');
    await fillRichDatabase(source);
    const documentsDir = scratchDir('documents');
    const documentFiles = writeDocumentsTree(documentsDir);
    const target = await createTarget(`rich-${source.slice(-8)}`, source, { documentsDir });

    const started = await api.json<{ backupId: string; workflowId: string }>('POST', '/api/admin/backups', {
      token: api.tokens.operator,
      body: {
        target: target.name,
        displayName: 'first backup',
        description: 'before the migration',
        tags: ['release-42'],
      },
    });
    expect(started.status).toBe(202);
    expect(started.body.workflowId).toMatch(new RegExp(`^backup/${target.name}/\\d{8}_\\d{6}-[0-9a-f]{8}$`));
    const ended = await waitForEnd(started.body.backupId);
    expect(ended).toMatchObject({ status: 'completed', errorCode: null });

    const download = await api.call('GET', `/api/admin/backups/${started.body.backupId}/download`);
    expect(download.status).toBe(200);
    const archive = path.join(scratchDir('download'), 'backup.tar');
    writeFileSync(archive, Buffer.from(await download.arrayBuffer()));
    expect(download.headers.get('x-checksum-sha256')).toBe(sha256(archive));

    // By hand, as the README says: tar unpacks it (zstd through tar's own detection).
    const extracted = scratchDir('extracted');
    execFileSync('tar', ['-xf', archive, '-C', extracted]);
    const manifest = JSON.parse(readFileSync(path.join(extracted, 'manifest.json'), 'utf8')) as Manifest;
    expect(manifest.target).toBe(target.name);
    expect(manifest.database.name).toBe(source);
    expect(manifest.files.map((f) => f.path)).toEqual([
      `database/${source}.dump.000000`,
      ...documentFiles.map((f) => `documents/${f}`),
    ]);
    expect(manifest.dumpParts).toMatchObject({
      path: `database/${source}.dump`,
      parts: [`database/${source}.dump.000000`],
    });
    for (const file of manifest.files) {
      expect(sha256(path.join(extracted, file.path)), file.path).toBe(file.sha256);
    }
    expect(manifest.tables.map((t) => `${t.schema}.${t.name}`)).toEqual(
      expect.arrayContaining(['sales.customers', 'sales.orders', 'audit.events', 'public.documents_meta']),
    );

    // The parts joined with cat (their names sort in order), then pg_restore in two jobs, as the README says.
    const dumpFile = path.join(extracted, `${source}.dump`);
    execFileSync('sh', ['-c', 'cd "$1" && cat database/"$2".dump.* > "$2".dump', 'sh', extracted, source]);
    const restored = await createDatabase('restored');
    restoreDumpByHand(restored, dumpFile, 2);
    expect(schemaDump(restored)).toBe(schemaDump(source));
    expect(await contentHashes(restored)).toEqual(await contentHashes(source));

    const listed = await api.json<{ items: { id: string }[]; total: number }>(
      'GET',
      `/api/admin/backups?target=${target.name}&status=completed&search=release-4`,
      { token: api.tokens.viewer },
    );
    expect(listed.body.items.map((b) => b.id)).toEqual([started.body.backupId]);
    const md5Line = readFileSync(path.join(storageDir, `${ended.storageKey}.md5`), 'utf8');
    expect(md5Line).toBe(
      `${createHash('md5').update(readFileSync(archive)).digest('hex')}  ${path.basename(ended.storageKey!)}\n`,
    );
  });

  it('fails with AUTH_FAILED on a wrong password, without retrying, and leaves no archive', async () => {
    const source = await createDatabase('authfail');
    const target = await createTarget(`auth-${source.slice(-8)}`, source, { password: 'not-the-password' });
    const started = await api.json<{ backupId: string; workflowId: string }>('POST', '/api/admin/backups', {
      body: { target: target.id },
    });
    expect(started.status).toBe(202);
    const ended = await waitForEnd(started.body.backupId);
    expect(ended).toMatchObject({ status: 'failed', errorCode: 'AUTH_FAILED', storageKey: null });

    const history = await client.workflow.getHandle(started.body.workflowId).fetchHistory();
    const dumpAttempts = (history.events ?? []).filter(
      (event) =>
        event.activityTaskStartedEventAttributes &&
        event.activityTaskStartedEventAttributes.attempt !== undefined,
    );
    const startedDumps = (history.events ?? []).filter(
      (event) => event.activityTaskScheduledEventAttributes?.activityType?.name === 'streamBackup',
    );
    expect(startedDumps).toHaveLength(1);
    expect(dumpAttempts.every((event) => event.activityTaskStartedEventAttributes?.attempt === 1)).toBe(true);
    expect(existsSync(path.join(storageDir, target.name))).toBe(false);
    expect(existsSync(path.join(workDir, started.body.backupId))).toBe(false);
  });

  it('cancels a running backup: pg_dump is gone, the status is cancelled, the scratch files are removed', async () => {
    const source = await createDatabase('cancel');
    await sql(source, 'create table busy (id int); insert into busy values (1)');
    const target = await createTarget(`cancel-${source.slice(-8)}`, source);
    const blocker = new pg.Client({ connectionString: superuserUrl(source) });
    await blocker.connect();
    try {
      // pg_dump waits for this lock, so the dump is reliably in progress when we cancel it.
      await blocker.query('begin; lock table busy in access exclusive mode');
      const started = await api.json<{ backupId: string }>('POST', '/api/admin/backups', {
        body: { target: target.name },
      });
      const backupId = started.body.backupId;
      await eventually(
        async () => {
          const rows = await sql(
            source,
            `select pid from pg_stat_activity where application_name = $1 and wait_event_type = 'Lock'`,
            [`lifeboat-backup-${backupId}`],
          );
          return rows.length ? rows : undefined;
        },
        60_000,
        'pg_dump to wait for the lock',
      );
      const progress = await api.json<{ progress: { step: string } | null }>(
        'GET',
        `/api/admin/backups/${backupId}`,
      );
      expect(progress.body.progress?.step).toBe('dump');

      const cancel = await api.json('POST', `/api/admin/backups/${backupId}/cancel`, {
        token: api.tokens.operator,
      });
      expect(cancel.status).toBe(202);
      const ended = await waitForEnd(backupId);
      expect(ended).toMatchObject({ status: 'cancelled', errorCode: 'CANCELLED' });

      // The killed pg_dump's server session is ended too, so it cannot linger in the lock queue.
      await eventually(
        async () => {
          const rows = await sql(source, 'select pid from pg_stat_activity where application_name = $1', [
            `lifeboat-backup-${backupId}`,
          ]);
          return rows.length === 0 ? true : undefined;
        },
        10_000,
        "the cancelled pg_dump's session to end",
      );
      expect(execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })).not.toContain(backupId);
      expect(existsSync(path.join(workDir, backupId))).toBe(false);
      expect(readdirSync(storageDir)).not.toContain(target.name);
    } finally {
      await blocker.query('rollback').catch(() => undefined);
      await blocker.end();
    }
  });

  it('moves a backup to the trash, refusing a protected one unless an admin forces it, and the sweep deletes storage first and then the row', async () => {
    const source = await createDatabase('deleting');
    const target = await createTarget(`del-${source.slice(-8)}`, source);
    const started = await api.json<{ backupId: string }>('POST', '/api/admin/backups', {
      body: { target: target.name, protected: true },
    });
    const ended = await waitForEnd(started.body.backupId);
    expect(ended.status).toBe('completed');
    const archive = path.join(storageDir, ended.storageKey!);
    expect(existsSync(archive)).toBe(true);
    const url = `/api/admin/backups/${started.body.backupId}`;

    const refused = await api.json<{ error: { code: string } }>('DELETE', url);
    expect(refused).toMatchObject({ status: 409, body: { error: { code: 'PROTECTED' } } });
    const operatorForce = await api.json<{ error: { code: string } }>('DELETE', `${url}?force=true`, {
      token: api.tokens.operator,
    });
    expect(operatorForce).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
    expect(existsSync(archive)).toBe(true);

    expect((await api.call('DELETE', `${url}?force=true`)).status).toBe(204);
    expect(existsSync(archive)).toBe(true);
    expect((await api.json<{ trashedAt: string | null }>('GET', url)).body.trashedAt).not.toBeNull();

    // The sweep, once the grace period has passed.
    const purged = await purgeTrash(
      { db, storages: worker.storages },
      { targetId: target.id, now: new Date(Date.now() + 8 * 86_400_000) },
    );
    expect(purged.failed.filter((failure) => failure.id === started.body.backupId)).toEqual([]);
    expect(existsSync(archive)).toBe(false);
    expect(existsSync(`${archive}.manifest.json`)).toBe(false);
    expect((await api.json('GET', url)).status).toBe(404);
  });
});
