// Several destinations per target and encryption to age recipients, end to end through the API and the
// real worker, PostgreSQL and local storage.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { extractArchive } from '../../archive/read.ts';
import { fetchBackupArchive } from '../../services/backup-copies.ts';
import { purgeTrash } from '../../services/retention.ts';
import { generateIdentity } from '../../archive/encryption.ts';
import { sealedSidecarSchema } from '../../domain/manifest.ts';
import { contentHashes, schemaDump, restoreDumpByHand } from '../harness/fixtures.ts';
import { eventually } from '../harness/api.ts';
import { createDatabase, scratchDir, sql, useStack } from '../harness/stack.ts';

const { db, worker, api, createTarget } = useStack();

interface BackupView {
  status: string;
  errorCode: string | null;
  storageKey: string | null;
  degraded: boolean;
  encrypted: boolean;
  copies: { position: number; storageUrl: string; status: string; errorCode: string | null }[];
  warnings: string[];
}

async function backupAndWait(targetName: string): Promise<{ id: string; view: BackupView }> {
  const started = await api.json<{ backupId: string }>('POST', '/api/admin/backups', {
    body: { target: targetName },
  });
  expect(started.status).toBe(202);
  const id = started.body.backupId;
  const view = await eventually(
    async () => {
      const { body } = await api.json<BackupView>('GET', `/api/admin/backups/${id}`);
      return body.status === 'running' ? undefined : body;
    },
    120_000,
    `backup ${id} to end`,
  );
  return { id, view };
}

function filesUnder(root: string): string[] {
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)))
    .sort();
}

describe('destinations', () => {
  it('copies a backup to every destination, each verified and recorded, and deleting it removes every copy', async () => {
    const source = await createDatabase('multi');
    await sql(
      source,
      'create table notes (id int primary key, body text); insert into notes values (1, $$one$$)',
    );
    const [first, second] = [scratchDir('first'), scratchDir('second')];
    const target = await createTarget(`multi-${source.slice(-8)}`, source, {
      destinations: [`file://${first}`, `file://${second}`],
    });

    const { id, view } = await backupAndWait(target.name);
    expect(view).toMatchObject({ status: 'completed', degraded: false, warnings: [] });
    expect(view.copies.map((copy) => [copy.position, copy.storageUrl, copy.status])).toEqual([
      [0, `file://${first}`, 'completed'],
      [1, `file://${second}`, 'completed'],
    ]);
    const key = view.storageKey!;
    const expected = [key, `${key}.manifest.json`, `${key}.md5`].sort();
    expect(filesUnder(first)).toEqual(expected);
    expect(filesUnder(second)).toEqual(expected);
    expect(readFileSync(path.join(first, key)).equals(readFileSync(path.join(second, key)))).toBe(true);

    // The target's only backup is its newest: an admin forces the delete, and the sweep purges the trash.
    expect((await api.call('DELETE', `/api/admin/backups/${id}?force=true`)).status).toBe(204);
    await purgeTrash(
      { db, storages: worker.storages },
      { targetId: target.id, now: new Date(Date.now() + 8 * 86_400_000) },
    );
    expect(filesUnder(first)).toEqual([]);
    expect(filesUnder(second)).toEqual([]);
    expect((await db.query('select 1 from backup_copies where backup_id = $1', [id])).rowCount).toBe(0);
  });

  it('downloads from the next copy when the first one is gone', async () => {
    const source = await createDatabase('fallback');
    await sql(source, 'create table t (id int)');
    const [first, second] = [scratchDir('first'), scratchDir('second')];
    const target = await createTarget(`fallback-${source.slice(-8)}`, source, {
      destinations: [`file://${first}`, `file://${second}`],
    });
    const { id, view } = await backupAndWait(target.name);
    const stored = readFileSync(path.join(second, view.storageKey!));
    await worker.storages.open(`file://${first}`).delete(view.storageKey!);

    const download = await api.call('GET', `/api/admin/backups/${id}/download`);
    expect(download.status).toBe(200);
    expect(Buffer.from(await download.arrayBuffer()).equals(stored)).toBe(true);
  });
});

describe('encryption', () => {
  it('keeps table names and rows out of the archive and its sidecar, and restores only with the private key', async () => {
    const marker = 'LIFEBOAT-PLAINTEXT-MARKER-7f3a';
    const source = await createDatabase('sealed');
    await sql(
      source,
      `create table secret_ledger_entries (id int primary key, note text);
       insert into secret_ledger_entries select g, '${marker}-' || g from generate_series(1, 500) g`,
    );
    const storageDir = scratchDir('sealed');
    const { identity, recipient } = await generateIdentity();
    const other = await generateIdentity();
    const target = await createTarget(`sealed-${source.slice(-8)}`, source, {
      destinations: [`file://${storageDir}`],
      encryption: { recipients: [recipient] },
      // Uncompressed, so that only encryption stands between the bytes and a grep.
      compression: 'none',
    });

    const { id, view } = await backupAndWait(target.name);
    expect(view).toMatchObject({ status: 'completed', encrypted: true });
    const archive = readFileSync(path.join(storageDir, view.storageKey!));
    const sidecar = readFileSync(path.join(storageDir, `${view.storageKey!}.manifest.json`), 'utf8');
    expect(archive.subarray(0, 21).toString()).toBe('age-encryption.org/v1');
    expect(view.storageKey).toMatch(/\.tar\.age$/);
    // By hand, as the README says: age opens it, tar lists it.
    const keyFile = path.join(scratchDir('key'), 'key.txt');
    writeFileSync(keyFile, `${identity}\n`, { mode: 0o600 });
    const listing = execFileSync(
      'sh',
      ['-c', 'age -d -i "$1" "$2" | tar -t', 'sh', keyFile, path.join(storageDir, view.storageKey!)],
      { encoding: 'utf8' },
    );
    expect(listing.split('\n')).toEqual(
      expect.arrayContaining([`database/${source}.dump.000000`, 'manifest.json']),
    );
    for (const needle of [marker, 'secret_ledger_entries', source]) {
      expect(archive.includes(needle), needle).toBe(false);
      expect(sidecar.includes(needle), needle).toBe(false);
    }
    const sealed = sealedSidecarSchema.parse(JSON.parse(sidecar));
    expect(sealed).toMatchObject({ backupId: id, target: target.name });
    expect(sealed.archive.encryption).toEqual({ format: 'age', recipients: [recipient] });
    expect(sealed.archive.sha256).toBe(createHash('sha256').update(archive).digest('hex'));

    const work = scratchDir('decrypt');
    const file = path.join(work, 'archive.tar');
    const deps = { db, storages: worker.storages };
    await expect(fetchBackupArchive(deps, { backupId: id, file })).rejects.toMatchObject({
      code: 'DECRYPTION_FAILED',
    });
    await expect(
      fetchBackupArchive(deps, { backupId: id, file, identities: [other.identity] }),
    ).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
    expect(readdirSync(work)).toEqual([]);

    await fetchBackupArchive(deps, { backupId: id, file, identities: [identity] });
    const extracted = await extractArchive({ file, destination: path.join(work, 'extracted') });
    const restored = await createDatabase('unsealed');
    restoreDumpByHand(restored, extracted.files.get(`database/${source}.dump`)!);
    expect(schemaDump(restored)).toBe(schemaDump(source));
    expect(await contentHashes(restored)).toEqual(await contentHashes(source));
  });
});
