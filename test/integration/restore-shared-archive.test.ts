// The archive a preview fetched and extracted on a worker, shared with the restore its token confirms, and
// removed from the worker's disk when the restore ends or the preview's hold lapses.
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ActivityDeps } from '../../activities/deps.ts';
import { createArchiveCache, previewHolder, restoreHolder } from '../../activities/restore/archive-cache.ts';
import { generateIdentity } from '../../archive/encryption.ts';
import { getBackup } from '../../catalog/backups.ts';
import { eventually } from '../harness/api.ts';
import { backedUpTarget, snapshot, startRestore, waitForRestore } from '../harness/restore.ts';
import { scratchDir, sql, useStack } from '../harness/stack.ts';

const s = useStack();

/** A small database: one table, one row. */
const oneNote = (empty: string) =>
  sql(empty, `create table notes (id int primary key, body text); insert into notes values (1, 'one')`);

/** The archive cache of a worker of its own, on the test's catalog and storage. */
function cacheOnOwnWorker() {
  const deps: ActivityDeps = {
    db: s.db,
    secrets: s.worker.secrets,
    storage: s.worker.storage,
    storages: s.worker.storages,
    workDir: scratchDir('archive-cache'),
    workerQueue: `${s.worker.taskQueue}@cache`,
    pgBinDirs: [],
    readEnv: () => undefined,
    documents: s.worker.access.documents,
    lifeboatVersion: 'test',
    reportProgress: () => Promise.resolve(),
    progressIntervalMs: 1_000,
  };
  return { cache: createArchiveCache(deps), archives: path.join(deps.workDir, 'archives') };
}

const none = () => Promise.resolve([]);

describe('a restore confirmed by a preview on the same worker', () => {
  it("takes over the preview's extraction instead of fetching the archive again, and removes it at the end", async () => {
    const { database, backupId } = await backedUpTarget(s, 'rshare', oneNote);
    const atBackup = await snapshot(database);
    await sql(database, `update notes set body = 'after the backup'`);
    const { operationId } = await startRestore(s.api, backupId, { mode: 'full' });
    const ended = await waitForRestore(s.api, operationId);

    expect(ended.status).toBe('completed');
    expect(await snapshot(database)).toEqual(atBackup);
    const validated = ended.steps.find((step) => step.step === 'validate' && step.status === 'completed');
    expect(validated?.message).toContain('its extraction on this worker was reused');
    expect(readdirSync(path.join(s.workDir, 'archives'))).toEqual([]);
  });
});

describe("a worker's extracted archives", () => {
  it('are shared while a stored copy matches the catalog, and removed once no hold is left', async () => {
    const { backupId } = await backedUpTarget(s, 'rhold', oneNote);
    const { cache, archives } = cacheOnOwnWorker();
    const previewing = previewHolder(randomUUID());
    const restoring = restoreHolder(randomUUID());
    const first = await cache.hold({
      backupId,
      holder: previewing,
      identities: none,
      untilMs: Date.now() + 10_000,
    });
    const second = await cache.hold({ backupId, holder: restoring, identities: none });
    expect([first.fetched, second.fetched]).toEqual([true, false]);
    expect(second.archive.files).toEqual(first.archive.files);

    const backup = await getBackup(s.db, backupId);
    const stored = path.join(s.storageDir, backup.storageKey!);
    const bytes = readFileSync(stored);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    writeFileSync(stored, bytes);
    await expect(
      cache.hold({ backupId, holder: restoreHolder(randomUUID()), identities: none }),
    ).rejects.toMatchObject({ code: 'CHECKSUM_MISMATCH' });
    // The holders keep what was verified when they took it.
    expect(Object.values(first.archive.files).every((file) => existsSync(file))).toBe(true);

    await cache.release(restoring);
    expect(readdirSync(archives)).toEqual([backupId]);
    await eventually(
      () => Promise.resolve(readdirSync(archives).length === 0 ? true : undefined),
      30_000,
      "the preview's hold to lapse and the extraction to go",
    );
  });

  it('of an encrypted backup are shared only with a holder whose identity opens it', async () => {
    const { identity, recipient } = await generateIdentity();
    const { backupId } = await backedUpTarget(s, 'rsealedshare', oneNote, {
      encryption: { recipients: [recipient] },
    });
    const { cache, archives } = cacheOnOwnWorker();
    const keyed = () => Promise.resolve([identity]);
    const holder = restoreHolder(randomUUID());
    expect((await cache.hold({ backupId, holder, identities: keyed })).fetched).toBe(true);

    await expect(
      cache.hold({ backupId, holder: restoreHolder(randomUUID()), identities: none }),
    ).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
    const other = restoreHolder(randomUUID());
    expect((await cache.hold({ backupId, holder: other, identities: keyed })).fetched).toBe(false);

    await cache.release(holder);
    expect(readdirSync(archives)).toEqual([backupId]);
    await cache.release(other);
    expect(readdirSync(archives)).toEqual([]);
  });
});
