// S3 Object Lock against a server that enforces it (versitygw): the retention every object gets, what the
// backend's delete does with a locked object, what neither GOVERNANCE nor COMPLIANCE lets anyone remove, and
// a locked backup kept in the trash by the purge until its lock ends.
import {
  DeleteObjectCommand,
  GetObjectRetentionCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutObjectRetentionCommand,
  type ObjectLockRetentionMode,
  type S3Client,
} from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getBackup } from '../../catalog/backups.ts';
import { manifestSidecarKey, md5SidecarKey } from '../../domain/naming.ts';
import { purgeTrash } from '../../services/retention.ts';
import { createS3Storage } from '../../storage/s3/backend.ts';
import type { Storage } from '../../storage/storage.ts';
import { eventually } from '../harness/api.ts';
import { backUp } from '../harness/restore.ts';
import { startS3LockServer, type S3LockServer } from '../harness/s3-lock-server.ts';
import { createDatabase, sql, useStack } from '../harness/stack.ts';
import { describeStorageContract } from '../storage/contract.ts';
import { readAll } from '../support/streams.ts';

const { db, worker, api, createTarget } = useStack();
const dayMs = 86_400_000;
const mebibyte = 1024 * 1024;
const opened: Storage[] = [];
let server: S3LockServer;

beforeAll(async () => {
  server = await startS3LockServer();
});

afterAll(async () => {
  for (const storage of opened) await storage.close?.();
  await server?.stop();
});

function openS3(url: string): Storage {
  const storage = createS3Storage(new URL(url), (name) => process.env[name]);
  opened.push(storage);
  return storage;
}

/** A storage on a fresh Object Lock bucket whose URL asks for `mode` retention of `days`. */
async function lockedStorage(
  mode: ObjectLockRetentionMode,
  days = 30,
): Promise<{ storage: Storage; bucket: string }> {
  const bucket = await server.createBucket();
  const query = { objectLockMode: mode, objectLockDays: String(days) };
  return { storage: openS3(server.url(bucket, 'lifeboat', query)), bucket };
}

/** The versions and delete markers the server holds under exactly `key`, as the root account sees them. */
async function versionsOf(bucket: string, key: string): Promise<{ versions: string[]; markers: string[] }> {
  const listed = await server.root.client.send(
    new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key }),
  );
  const ids = (entries: { Key?: string; VersionId?: string }[] | undefined) =>
    (entries ?? []).filter((entry) => entry.Key === key).map((entry) => entry.VersionId!);
  return { versions: ids(listed.Versions), markers: ids(listed.DeleteMarkers) };
}

/**
 * A version's retention as GetObjectRetention reports it (`until`, to the millisecond) and HeadObject
 * (`headUntil`, in the whole seconds of an HTTP date); the two must agree.
 */
async function retentionOf(bucket: string, key: string, versionId?: string) {
  const head = await server.writer.client.send(
    new HeadObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }),
  );
  const { Retention } = await server.writer.client.send(
    new GetObjectRetentionCommand({ Bucket: bucket, Key: key, VersionId: versionId }),
  );
  const until = Retention?.RetainUntilDate?.getTime() ?? 0;
  const headUntil = head.ObjectLockRetainUntilDate?.getTime() ?? 0;
  expect(Retention?.Mode).toBe(head.ObjectLockMode);
  expect(Math.abs(until - headUntil)).toBeLessThan(1000);
  return { mode: Retention?.Mode, until, headUntil };
}

/** Expects `until` to be `days` after a moment between `before` and `after`. */
function expectDaysAhead(until: number, days: number, before: number, after: number): void {
  expect(until).toBeGreaterThanOrEqual(before + days * dayMs - 1000);
  expect(until).toBeLessThanOrEqual(after + days * dayMs + 1000);
}

/** Sets a GOVERNANCE version's retention to end seconds from now, as only the root account may. */
async function endRetentionSoon(client: S3Client, bucket: string, key: string, versionId: string) {
  await client.send(
    new PutObjectRetentionCommand({
      Bucket: bucket,
      Key: key,
      VersionId: versionId,
      BypassGovernanceRetention: true,
      Retention: { Mode: 'GOVERNANCE', RetainUntilDate: new Date(Date.now() + 2_000) },
    }),
  );
}

/** The S3 error code a call failed with; fails the test if it succeeded. */
async function refusedWith(attempt: Promise<unknown>): Promise<string | undefined> {
  const error = await attempt.then(
    () => undefined,
    (reason: unknown) => reason as { name?: string },
  );
  expect(error, 'the server refused').toBeDefined();
  return error?.name;
}

describeStorageContract('s3 on a versioned bucket with Object Lock enabled (versitygw)', async () =>
  openS3(server.url(await server.createBucket(), 'lifeboat/prod')),
);

describe('an S3 destination with objectLockMode and objectLockDays', () => {
  it('writes every object, single-part and multipart, under the retention the URL names, the days ahead', async () => {
    const { storage, bucket } = await lockedStorage('COMPLIANCE', 30);
    const small = randomBytes(1000);
    const large = randomBytes(20 * mebibyte);
    const before = Date.now();
    await storage.put('small.tar', Readable.from([small]));
    await storage.put('large.tar', Readable.from([large]));
    const after = Date.now();
    for (const key of ['lifeboat/small.tar', 'lifeboat/large.tar']) {
      const retention = await retentionOf(bucket, key);
      expect(retention.mode).toBe('COMPLIANCE');
      expectDaysAhead(retention.until, 30, before, after);
    }
    expect((await readAll(await storage.get('large.tar'))).equals(large)).toBe(true);
    expect(await storage.list('')).toEqual(['large.tar', 'small.tar']);
  });

  it('sends a checksum with locked uploads even when the SDK is told to send checksums only when required', async () => {
    const previous = process.env.AWS_REQUEST_CHECKSUM_CALCULATION;
    process.env.AWS_REQUEST_CHECKSUM_CALCULATION = 'WHEN_REQUIRED';
    try {
      const { storage, bucket } = await lockedStorage('GOVERNANCE', 2);
      await storage.put('archive.tar', Readable.from([randomBytes(4096)]));
      const head = await server.writer.client.send(
        new HeadObjectCommand({ Bucket: bucket, Key: 'lifeboat/archive.tar', ChecksumMode: 'ENABLED' }),
      );
      expect(head.ChecksumCRC32).toBeTruthy();
      expect(head.ObjectLockMode).toBe('GOVERNANCE');
    } finally {
      if (previous === undefined) delete process.env.AWS_REQUEST_CHECKSUM_CALCULATION;
      else process.env.AWS_REQUEST_CHECKSUM_CALCULATION = previous;
    }
  });

  it('rejects a delete of a locked object with PROTECTED, naming the lock, and keeps every version visible', async () => {
    const { storage, bucket } = await lockedStorage('COMPLIANCE', 30);
    await storage.put('archive.tar', Readable.from([Buffer.from('first attempt')]));
    await storage.put('archive.tar', Readable.from([Buffer.from('retried attempt')]));
    const { headUntil } = await retentionOf(bucket, 'lifeboat/archive.tar');

    const refused = await storage.delete('archive.tar').then(
      () => undefined,
      (error: unknown) => error as { code?: string; message: string },
    );
    expect(refused?.code).toBe('PROTECTED');
    expect(refused?.message).toContain('Object Lock (COMPLIANCE until ');
    expect(refused?.message).toContain(new Date(headUntil).toISOString());
    expect(refused?.message).not.toContain(server.writer.secretAccessKey);

    const left = await versionsOf(bucket, 'lifeboat/archive.tar');
    expect(left.versions).toHaveLength(2);
    expect(left.markers).toEqual([]);
    expect((await readAll(await storage.get('archive.tar'))).toString()).toBe('retried attempt');
    expect(await storage.list('')).toEqual(['archive.tar']);
  });

  it('still finds a locked backup that a delete marker hides, and its delete takes the marker away but not the backup', async () => {
    const { storage, bucket } = await lockedStorage('GOVERNANCE', 7);
    await storage.put('db/archive.tar', Readable.from([Buffer.from('rows')]));
    // What anyone holding the bucket's credential may do under any lock: a plain delete, which hides.
    await server.writer.client.send(
      new DeleteObjectCommand({ Bucket: bucket, Key: 'lifeboat/db/archive.tar' }),
    );
    expect(
      await refusedWith(
        server.writer.client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'lifeboat/db/archive.tar' })),
      ),
    ).toBe('NotFound');
    expect((await versionsOf(bucket, 'lifeboat/db/archive.tar')).markers).toHaveLength(1);

    expect(await storage.stat('db/archive.tar')).toEqual({ key: 'db/archive.tar', sizeBytes: 4 });
    expect((await readAll(await storage.get('db/archive.tar'))).toString()).toBe('rows');
    expect(await storage.list('db/')).toEqual(['db/archive.tar']);

    await expect(storage.delete('db/archive.tar')).rejects.toMatchObject({ code: 'PROTECTED' });
    const left = await versionsOf(bucket, 'lifeboat/db/archive.tar');
    expect(left).toMatchObject({ markers: [], versions: [expect.any(String) as unknown] });
    const head = await server.writer.client.send(
      new HeadObjectCommand({ Bucket: bucket, Key: 'lifeboat/db/archive.tar' }),
    );
    expect(head.ContentLength).toBe(4);
  });

  it('holds a COMPLIANCE lock against the account root too: no bypass, no shortening', async () => {
    const { storage, bucket } = await lockedStorage('COMPLIANCE', 30);
    await storage.put('archive.tar', Readable.from([Buffer.from('kept')]));
    const [versionId] = (await versionsOf(bucket, 'lifeboat/archive.tar')).versions;
    const target = { Bucket: bucket, Key: 'lifeboat/archive.tar', VersionId: versionId };

    expect(
      await refusedWith(
        server.root.client.send(new DeleteObjectCommand({ ...target, BypassGovernanceRetention: true })),
      ),
    ).toBe('AccessDenied');
    expect(
      await refusedWith(
        server.root.client.send(
          new PutObjectRetentionCommand({
            ...target,
            BypassGovernanceRetention: true,
            Retention: { Mode: 'COMPLIANCE', RetainUntilDate: new Date(Date.now() + dayMs) },
          }),
        ),
      ),
    ).toBe('AccessDenied');
    expect((await versionsOf(bucket, 'lifeboat/archive.tar')).versions).toEqual([versionId]);
    expect((await retentionOf(bucket, 'lifeboat/archive.tar')).mode).toBe('COMPLIANCE');
  });

  it('holds a GOVERNANCE lock against a credential without s3:BypassGovernanceRetention, which only the root account may bypass', async () => {
    const { storage, bucket } = await lockedStorage('GOVERNANCE', 30);
    await storage.put('archive.tar', Readable.from([Buffer.from('kept')]));
    const [versionId] = (await versionsOf(bucket, 'lifeboat/archive.tar')).versions;
    const target = { Bucket: bucket, Key: 'lifeboat/archive.tar', VersionId: versionId };

    expect(await refusedWith(server.writer.client.send(new DeleteObjectCommand(target)))).toBe(
      'AccessDenied',
    );
    expect(
      await refusedWith(
        server.writer.client.send(new DeleteObjectCommand({ ...target, BypassGovernanceRetention: true })),
      ),
    ).toBe('AccessDenied');
    expect(
      await refusedWith(
        server.writer.client.send(
          new PutObjectRetentionCommand({
            ...target,
            BypassGovernanceRetention: true,
            Retention: { Mode: 'GOVERNANCE', RetainUntilDate: new Date(Date.now() + dayMs) },
          }),
        ),
      ),
    ).toBe('AccessDenied');
    expect(await storage.stat('archive.tar')).toEqual({ key: 'archive.tar', sizeBytes: 4 });

    await server.root.client.send(new DeleteObjectCommand({ ...target, BypassGovernanceRetention: true }));
    expect(await storage.stat('archive.tar')).toBeUndefined();
    expect(await storage.list('')).toEqual([]);
  });

  it('removes every version of a key, leaving no delete marker, once their retention has ended', async () => {
    const { storage, bucket } = await lockedStorage('GOVERNANCE', 7);
    await storage.put('archive.tar', Readable.from([Buffer.from('one')]));
    await storage.put('archive.tar', Readable.from([Buffer.from('two')]));
    const { versions } = await versionsOf(bucket, 'lifeboat/archive.tar');
    expect(versions).toHaveLength(2);
    for (const versionId of versions) {
      await endRetentionSoon(server.root.client, bucket, 'lifeboat/archive.tar', versionId);
    }

    await eventually(
      () =>
        storage.delete('archive.tar').then(
          () => true,
          (error: { code?: string }) => {
            if (error.code !== 'PROTECTED') throw error;
            return undefined;
          },
        ),
      30_000,
      'the shortened retention to end',
    );
    expect(await versionsOf(bucket, 'lifeboat/archive.tar')).toEqual({ versions: [], markers: [] });
    expect(await storage.stat('archive.tar')).toBeUndefined();
    await storage.delete('archive.tar');
  });

  it('refuses to write with lock parameters to a bucket created without Object Lock, as VALIDATION_FAILED', async () => {
    // versitygw 1.8.0 keeps the object it refused; AWS stores nothing. Only the answer is Lifeboat's part.
    const bucket = await server.createBucket({ objectLock: false });
    const storage = openS3(server.url(bucket, '', { objectLockMode: 'GOVERNANCE', objectLockDays: '7' }));
    await expect(storage.put('archive.tar', Readable.from([Buffer.from('x')]))).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      message: expect.stringContaining(
        `S3 bucket "${bucket}" at ${server.endpoint} has no Object Lock`,
      ) as unknown,
    });
  });
});

describe('a backup to an S3 destination under Object Lock', () => {
  it('locks the archive and its sidecars; the purge keeps the trashed backup, its row and objects while the lock holds, and removes them after', async () => {
    const database = await createDatabase('s3lock');
    await sql(
      database,
      `create table items as select g as id, md5(g::text) as body from generate_series(1, 2000) g`,
    );
    const bucket = await server.createBucket();
    const destination = server.url(bucket, 'lifeboat', { objectLockMode: 'GOVERNANCE', objectLockDays: '3' });
    const target = await createTarget(`s3lock-${database.slice(-8)}`, database, {
      destinations: [destination],
    });

    const before = Date.now();
    const backupId = await backUp(api, target.name);
    const after = Date.now();
    const backup = await getBackup(db, backupId);
    const keys = [
      backup.storageKey!,
      manifestSidecarKey(backup.storageKey!),
      md5SidecarKey(backup.storageKey!),
    ].map((key) => `lifeboat/${key}`);
    for (const key of keys) {
      const retention = await retentionOf(bucket, key);
      expect(retention.mode).toBe('GOVERNANCE');
      expectDaysAhead(retention.until, 3, before, after);
    }

    // The newest backup of its target: only an admin's force moves it to the trash.
    expect((await api.call('DELETE', `/api/admin/backups/${backupId}?force=true`)).status).toBe(204);
    const afterGrace = { targetId: target.id, now: new Date(Date.now() + 8 * dayMs) };
    const deps = { db, storages: worker.storages };

    const kept = await purgeTrash(deps, afterGrace);
    expect(kept.purged).toBe(0);
    expect(kept.failed.find((failure) => failure.id === backupId)?.error).toContain(
      'Object Lock (GOVERNANCE until',
    );
    const row = await getBackup(db, backupId);
    expect(row.trashedAt).not.toBeNull();
    expect(row.deletionError).toContain('Object Lock (GOVERNANCE until');
    for (const key of keys) expect((await versionsOf(bucket, key)).versions).toHaveLength(1);

    for (const key of keys) {
      const [versionId] = (await versionsOf(bucket, key)).versions;
      await endRetentionSoon(server.root.client, bucket, key, versionId!);
    }
    await eventually(
      async () => ((await purgeTrash(deps, afterGrace)).purged === 1 ? true : undefined),
      30_000,
      'the purge once the lock has ended',
    );
    await expect(getBackup(db, backupId)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    for (const key of keys) expect(await versionsOf(bucket, key)).toEqual({ versions: [], markers: [] });
  });
});
