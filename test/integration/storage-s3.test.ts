// The storage contract on a real S3-compatible server (rclone serve s3), plus what only S3 can get wrong:
// multipart uploads, a server that dies mid-upload or is down, refused credentials, a missing bucket.
import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Storage } from '../../storage/s3/backend.ts';
import type { Storage } from '../../storage/storage.ts';
import { isPermanent, LifeboatError } from '../../domain/errors.ts';
import { startS3Server, type S3Server } from '../harness/s3-server.ts';
import { describeStorageContract } from '../storage/contract.ts';
import { readAll } from '../support/streams.ts';

const mebibyte = 1024 * 1024;
const opened: Storage[] = [];
let server: S3Server;

function openS3(url: string): Storage {
  const storage = createS3Storage(new URL(url), (name) => process.env[name]);
  opened.push(storage);
  return storage;
}

/** `content` in 1 MiB chunks, each after `delayMs`; awaits `onHalfway` once half has been handed over. */
function chunkedBody(content: Buffer, delayMs = 0, onHalfway?: () => Promise<void> | void): Readable {
  return Readable.from(
    (async function* () {
      let halfway = false;
      for (let offset = 0; offset < content.length; offset += mebibyte) {
        if (!halfway && offset >= content.length / 2) {
          halfway = true;
          await onHalfway?.();
        }
        if (delayMs) await delay(delayMs);
        yield content.subarray(offset, offset + mebibyte);
      }
    })(),
  );
}

/** What a call settled with: undefined when it succeeded, else the reason it failed. */
function failureOf(attempt: Promise<unknown>): Promise<unknown> {
  return attempt.then(
    () => undefined,
    (reason: unknown) => reason,
  );
}

/**
 * Puts, gets, stats, lists and deletes `key` at once, each expected to fail, and returns the errors, which
 * must be LifeboatErrors. All five are in flight together, so none of their rejections goes unhandled.
 */
async function everyOperationFailing(
  storage: Storage,
  key: string,
  body: Readable = Readable.from([Buffer.from('x')]),
): Promise<LifeboatError[]> {
  const settled = [
    storage.put(key, body),
    storage.get(key),
    storage.stat(key),
    storage.list(''),
    storage.delete(key),
  ].map(failureOf);
  const errors: LifeboatError[] = [];
  for (const outcome of settled) {
    const error = await outcome;
    expect(error).toBeInstanceOf(LifeboatError);
    errors.push(error as LifeboatError);
  }
  return errors;
}

/** A body that fails after `goodBytes`, like a dump that dies after several parts went up. */
function failingBody(goodBytes: number): Readable {
  return Readable.from(
    (function* () {
      for (let sent = 0; sent < goodBytes; sent += mebibyte) yield randomBytes(mebibyte);
      throw new Error('source broke');
    })(),
  );
}

/** Keys with a multipart upload in progress that start with `fullKey`. */
async function incompleteUploads(s3: S3Server, bucket: string, fullKey: string): Promise<string[]> {
  try {
    const page = await s3.client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: fullKey }));
    return (page.Uploads ?? []).map((upload) => upload.Key ?? '').sort();
  } catch (error) {
    // rclone answers NoSuchUpload, not an empty list, for a bucket that never had a multipart upload.
    if ((error as Error).name === 'NoSuchUpload') return [];
    throw error;
  }
}

beforeAll(async () => {
  server = await startS3Server();
});

afterAll(async () => {
  for (const storage of opened) await storage.close?.();
  await server?.stop();
});

describeStorageContract('s3', async () => openS3(server.url(await server.createBucket(), 'lifeboat/prod')));

describe('s3 storage', () => {
  it("keeps objects under the URL's key prefix and names them relative to it", async () => {
    const bucket = await server.createBucket();
    const storage = openS3(server.url(bucket, 'team/nightly'));
    await storage.put('db/archive.tar', Readable.from([Buffer.from('rows')]));
    expect(existsSync(path.join(server.dataDir, bucket, 'team', 'nightly', 'db', 'archive.tar'))).toBe(true);
    expect(await storage.list('')).toEqual(['db/archive.tar']);
    expect(await openS3(server.url(bucket)).list('')).toEqual(['team/nightly/db/archive.tar']);
  });

  it('round-trips a 20 MiB object sent as several parts byte-exact', async () => {
    const bucket = await server.createBucket();
    const storage = openS3(server.url(bucket, 'big'));
    const content = randomBytes(20 * mebibyte);
    const inProgress: string[][] = [];
    const watchUpload = async (): Promise<void> => {
      // Half the body is out: the first 8 MiB part is on its way, inside a multipart upload.
      for (let tries = 0; tries < 50 && !inProgress.at(-1)?.length; tries++) {
        inProgress.push(await incompleteUploads(server, bucket, 'big/archive.tar'));
        await delay(100);
      }
    };
    expect(await storage.put('archive.tar', chunkedBody(content, 0, watchUpload))).toEqual({
      key: 'archive.tar',
      sizeBytes: content.length,
    });
    expect(inProgress.at(-1)).toEqual(['big/archive.tar']);
    expect(await incompleteUploads(server, bucket, 'big/archive.tar')).toEqual([]);
    expect((await readAll(await storage.get('archive.tar'))).equals(content)).toBe(true);
  });

  it('aborts the multipart upload when the body fails after several parts', async () => {
    const bucket = await server.createBucket();
    const storage = openS3(server.url(bucket));
    await expect(storage.put('dump/archive.tar', failingBody(18 * mebibyte))).rejects.toThrow(/source broke/);
    expect(await storage.stat('dump/archive.tar')).toBeUndefined();
    expect(await incompleteUploads(server, bucket, 'dump/archive.tar')).toEqual([]);
  });

  it("aborts a crashed attempt's incomplete upload of the same key before putting it, and no other", async () => {
    const bucket = await server.createBucket();
    const storage = openS3(server.url(bucket, 'p'));
    const stale = async (Key: string): Promise<string> => {
      const { UploadId } = await server.client.send(
        new CreateMultipartUploadCommand({ Bucket: bucket, Key }),
      );
      await server.client.send(
        new UploadPartCommand({ Bucket: bucket, Key, UploadId, PartNumber: 1, Body: randomBytes(1024) }),
      );
      return UploadId ?? '';
    };
    await stale('p/archive.tar');
    const otherId = await stale('p/archive.tar.manifest');
    expect(await incompleteUploads(server, bucket, 'p/archive.tar')).toEqual([
      'p/archive.tar',
      'p/archive.tar.manifest',
    ]);

    await storage.put('archive.tar', Readable.from([Buffer.from('retried')]));

    expect(await incompleteUploads(server, bucket, 'p/archive.tar')).toEqual(['p/archive.tar.manifest']);
    expect((await readAll(await storage.get('archive.tar'))).toString()).toBe('retried');
    await server.client.send(
      new AbortMultipartUploadCommand({ Bucket: bucket, Key: 'p/archive.tar.manifest', UploadId: otherId }),
    );
  });

  it('answers AUTH_FAILED, which is permanent, when the secret key is wrong', async () => {
    const bucket = await server.createBucket();
    process.env.LIFEBOAT_TEST_S3_WRONG_SECRET = 'not-the-secret-access-key';
    const storage = openS3(server.url(bucket, '', { secretAccessKeyEnv: 'LIFEBOAT_TEST_S3_WRONG_SECRET' }));
    for (const { code, message } of await everyOperationFailing(storage, 'k')) {
      expect(code).toBe('AUTH_FAILED');
      expect(isPermanent(code)).toBe(true);
      expect(message).toContain(server.endpoint);
      expect(message).toContain(bucket);
      expect(message).not.toContain('not-the-secret-access-key');
      expect(message).not.toContain(server.secretAccessKey);
    }
  });

  it('answers AUTH_FAILED when the access key id is unknown to the server', async () => {
    const bucket = await server.createBucket();
    process.env.LIFEBOAT_TEST_S3_UNKNOWN_KEY = 'LBUNKNOWNKEY0000';
    const storage = openS3(server.url(bucket, '', { accessKeyIdEnv: 'LIFEBOAT_TEST_S3_UNKNOWN_KEY' }));
    await expect(storage.list('')).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    await expect(storage.put('k', Readable.from([Buffer.from('x')]))).rejects.toMatchObject({
      code: 'AUTH_FAILED',
    });
  });

  it('answers NOT_FOUND naming the bucket when the bucket does not exist', async () => {
    const storage = openS3(server.url('lb-no-such-bucket'));
    await expect(storage.list('')).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining('"lb-no-such-bucket"') as unknown,
    });
    await expect(storage.put('k', Readable.from([Buffer.from('x')]))).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining('"lb-no-such-bucket"') as unknown,
    });
  });

  it('stores objects with server-side encryption requested', async () => {
    const bucket = await server.createBucket();
    const storage = openS3(server.url(bucket, '', { sse: 'AES256' }));
    const content = randomBytes(9 * mebibyte);
    await storage.put('sealed', chunkedBody(content));
    expect((await readAll(await storage.get('sealed'))).equals(content)).toBe(true);
  });
});

describe('s3 storage when the server fails', () => {
  let faulty: S3Server;
  let bucket: string;

  beforeAll(async () => {
    faulty = await startS3Server();
    bucket = await faulty.createBucket();
  });

  afterAll(async () => {
    await faulty?.stop();
  });

  it('rejects a put cut off by the server dying with STORAGE_UNAVAILABLE, leaves nothing, and succeeds once it is back', async () => {
    const storage = openS3(faulty.url(bucket, 'crash'));
    const content = randomBytes(24 * mebibyte);
    let halfway!: () => void;
    const reachedHalfway = new Promise<void>((resolve) => (halfway = resolve));
    const putting = storage.put('archive.tar', chunkedBody(content, 40, halfway));
    putting.catch(() => undefined);

    await reachedHalfway;
    await faulty.stop('SIGKILL');
    const failedAt = Date.now();
    await expect(putting).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    expect(Date.now() - failedAt).toBeLessThan(20_000);

    await faulty.start();
    expect(await storage.stat('archive.tar')).toBeUndefined();
    expect(await storage.list('')).toEqual([]);

    expect(await storage.put('archive.tar', chunkedBody(content))).toEqual({
      key: 'archive.tar',
      sizeBytes: content.length,
    });
    expect(await storage.list('')).toEqual(['archive.tar']);
    expect((await readAll(await storage.get('archive.tar'))).equals(content)).toBe(true);
    expect(await incompleteUploads(faulty, bucket, 'crash/archive.tar')).toEqual([]);
  });

  it('answers STORAGE_UNAVAILABLE, which is retryable, within seconds while the server is down', async () => {
    const storage = openS3(faulty.url(bucket, 'down'));
    await storage.put('present', Readable.from([Buffer.from('x')]));
    await faulty.stop();
    try {
      const started = Date.now();
      const body = Readable.from([Buffer.from('new')]);
      for (const { code, message } of await everyOperationFailing(storage, 'present', body)) {
        expect(code).toBe('STORAGE_UNAVAILABLE');
        expect(isPermanent(code)).toBe(false);
        expect(message).toContain(faulty.endpoint);
      }
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(body.destroyed).toBe(true);
    } finally {
      await faulty.start();
    }
    expect(await storage.list('')).toEqual(['present']);
  });
});
