// S3-compatible storage: objects under a bucket and key prefix, written by streaming multipart upload,
// optionally under S3 Object Lock retention, where `delete` removes every version and a delete marker hides
// no backup.
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { PassThrough, Readable, Transform } from 'node:stream';
import { LifeboatError } from '../../domain/errors.ts';
import { parseS3Url } from './url.ts';
import { isValidKey, type Storage, type StoredObject } from '../storage.ts';
import { isLocked, listVersions, lockOf, newestObjectVersion, type KeyVersion } from './versions.ts';

export { parseS3Url, type S3StorageOptions } from './url.ts';

/** Memory per upload stays near (queue + 1) parts whatever the object size. */
const partSizeBytes = 8 * 1024 * 1024;
const uploadQueueSize = 2;
/** Temporal retries the activity; the SDK only smooths over a blip. */
const maxAttempts = 3;
const connectionTimeoutMs = 5_000;
/**
 * A refusal to remove a version whose retention ended less than this long ago is still put down to the lock:
 * S3 accepts requests from clocks up to 15 minutes off its own.
 */
const lockClockMarginMs = 15 * 60_000;
/** A connection with no traffic this long is dead; also bounds a reader that stops reading a `get`. */
const socketTimeoutMs = 120_000;

const authCodes = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AccessDenied',
  'InvalidToken',
  'ExpiredToken',
  'AuthorizationHeaderMalformed',
  'CredentialsProviderError',
]);
const spaceCodes = new Set(['XMinioStorageFull', 'InsufficientStorage']);
const requestCodes = new Set(['InvalidBucketName', 'InvalidArgument', 'InvalidRequest', 'KeyTooLongError']);

interface SdkErrorShape {
  name?: string;
  Code?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

/**
 * Maps what the SDK or the network threw to a LifeboatError: refused credentials are permanent
 * (AUTH_FAILED), an unreachable or failing server is retryable (STORAGE_UNAVAILABLE). Messages name the
 * endpoint and bucket, never a credential.
 */
export function describeS3Failure(
  error: unknown,
  action: string,
  where: { endpoint: string; bucket: string },
): LifeboatError {
  if (error instanceof LifeboatError) return error;
  const shape = (typeof error === 'object' && error !== null ? error : {}) as SdkErrorShape;
  const status = shape.$metadata?.httpStatusCode;
  // Node puts errno names (ECONNREFUSED) in `code`; S3 puts its error code in `Code` and `name`.
  const code = shape.Code ?? shape.code ?? (shape.name && shape.name !== 'Error' ? shape.name : undefined);
  const label = [code, status && `HTTP ${status}`].filter(Boolean).join(', ') || 'no error code';
  const at = `S3 at ${where.endpoint}, bucket "${where.bucket}"`;

  if (code === 'NoSuchBucket') {
    return new LifeboatError(
      'NOT_FOUND',
      `Bucket "${where.bucket}" does not exist at ${where.endpoint}; create it or correct the storage URL.`,
    );
  }
  if (code === 'CredentialsProviderError') {
    return new LifeboatError(
      'AUTH_FAILED',
      `${at}: no credentials to ${action}; name them in the storage URL with accessKeyIdEnv and ` +
        'secretAccessKeyEnv, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for the worker.',
    );
  }
  if ((code && authCodes.has(code)) || status === 401 || status === 403) {
    return new LifeboatError(
      'AUTH_FAILED',
      `${at} refused the credentials (${label}) to ${action}; check the access key id and secret ` +
        'access key the storage URL names, and that they may use this bucket.',
    );
  }
  if (code === 'NoSuchUpload') {
    return new LifeboatError(
      'STORAGE_UNAVAILABLE',
      `${at}: the multipart upload to ${action} was aborted meanwhile (by another attempt at the same ` +
        'object, or expired by the server); trying again starts a new one.',
    );
  }
  if (code === 'NoSuchKey' || code === 'NotFound' || status === 404) {
    return new LifeboatError('NOT_FOUND', `${at}: nothing found to ${action} (${label}).`);
  }
  if ((code && spaceCodes.has(code)) || status === 507) {
    return new LifeboatError('INSUFFICIENT_SPACE', `${at} has no space left to ${action} (${label}).`);
  }
  if (code && requestCodes.has(code)) {
    return new LifeboatError(
      'VALIDATION_FAILED',
      `${at} refused the request to ${action} (${label}): ${shape.message ?? ''}`,
    );
  }
  if (status !== undefined && status >= 500) {
    return new LifeboatError(
      'STORAGE_UNAVAILABLE',
      `${at} failed to ${action} (${label}); the server is overloaded or failing, try again later.`,
    );
  }
  return new LifeboatError(
    'STORAGE_UNAVAILABLE',
    `${at} could not ${action} (${label}${shape.message ? `: ${shape.message}` : ''}); ` +
      'check that the endpoint is up and reachable.',
  );
}

/** S3's answer to removing a version still under retention: AccessDenied, HTTP 403. */
function isRefused(error: unknown): boolean {
  const shape = error as SdkErrorShape;
  return (
    shape.name === 'AccessDenied' || shape.Code === 'AccessDenied' || shape.$metadata?.httpStatusCode === 403
  );
}

function isMissing(error: unknown): boolean {
  const shape = error as SdkErrorShape;
  if (shape.name === 'NoSuchBucket' || shape.Code === 'NoSuchBucket') return false;
  return shape.name === 'NoSuchKey' || shape.name === 'NotFound' || shape.$metadata?.httpStatusCode === 404;
}

/** What S3 says when Object Lock parameters meet a bucket created without Object Lock. */
function isLockMissingOnBucket(error: unknown): boolean {
  const shape = error as SdkErrorShape;
  const code = shape.Code ?? shape.name;
  return (
    (code === 'InvalidRequest' || code === 'InvalidBucketState') && /object ?lock/i.test(shape.message ?? '')
  );
}

export function createS3Storage(url: URL, readEnv: (name: string) => string | undefined): Storage {
  const options = parseS3Url(url, readEnv);
  const { bucket, keyPrefix } = options;
  const where = { endpoint: options.endpoint ?? `s3.${options.region}.amazonaws.com`, bucket };
  const client = new S3Client({
    region: options.region,
    forcePathStyle: options.forcePathStyle,
    maxAttempts,
    requestHandler: { connectionTimeout: connectionTimeoutMs, socketTimeout: socketTimeoutMs },
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
  });
  const fail = (error: unknown, action: string): never => {
    throw describeS3Failure(error, action, where);
  };
  const objectKey = (key: string): string => {
    if (!isValidKey(key)) throw new LifeboatError('VALIDATION_FAILED', `Invalid storage key "${key}".`);
    return keyPrefix + key;
  };

  /** A crashed attempt can leave parts behind that the bucket keeps (and bills) until aborted. */
  const abortStaleUploads = async (fullKey: string): Promise<void> => {
    try {
      let keyMarker: string | undefined;
      let uploadIdMarker: string | undefined;
      do {
        const page = await client.send(
          new ListMultipartUploadsCommand({
            Bucket: bucket,
            Prefix: fullKey,
            KeyMarker: keyMarker,
            UploadIdMarker: uploadIdMarker,
          }),
        );
        for (const upload of page.Uploads ?? []) {
          if (upload.Key !== fullKey || !upload.UploadId) continue;
          await client
            .send(
              new AbortMultipartUploadCommand({ Bucket: bucket, Key: fullKey, UploadId: upload.UploadId }),
            )
            .catch(() => undefined);
        }
        keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
        uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
      } while (keyMarker);
    } catch {
      // Best effort: some servers lack ListMultipartUploads (rclone answers NoSuchUpload when there are
      // none), and a server that is really failing fails the upload itself.
    }
  };

  /**
   * Under Object Lock, the version of `fullKey` that a delete marker hides, if any: anyone with the bucket's
   * credentials can add a marker, which S3 allows under any lock, and the backup must still be found.
   * Asked only after a plain request found nothing, so an ordinary read costs what it did.
   */
  const hiddenVersion = async (fullKey: string): Promise<KeyVersion | undefined> =>
    options.objectLock
      ? newestObjectVersion(await listVersions(client, bucket, fullKey), fullKey)
      : undefined;

  /** Why S3 refused to remove a version: its lock (PROTECTED), or else the credentials (AUTH_FAILED). */
  const refusal = async (key: string, version: KeyVersion, error: unknown): Promise<LifeboatError> => {
    const lock = await lockOf(client, bucket, version).catch(() => undefined);
    if (lock && !isLocked(lock, new Date(), lockClockMarginMs)) {
      return describeS3Failure(error, `delete ${key}`, where);
    }
    const until = lock?.retainUntil ? ` until ${lock.retainUntil.toISOString()}` : '';
    const kept = lock?.legalHold
      ? 'under an Object Lock legal hold, and cannot be removed until the hold is released'
      : `under Object Lock (${lock?.mode ?? 'retention'}${until}), and cannot be removed before then`;
    return new LifeboatError('PROTECTED', `${key} in S3 bucket "${bucket}" is ${kept}.`);
  };

  /**
   * Removes every version and delete marker of `fullKey` by id: a plain delete only hides the bytes behind
   * a new marker. S3 refuses the versions still under retention; they stay, visible, and the first refusal
   * is the rejection once the others are gone.
   */
  const removeEveryVersion = async (key: string, fullKey: string): Promise<void> => {
    const versions = (await listVersions(client, bucket, fullKey)).filter(
      (version) => version.key === fullKey,
    );
    let refused: { version: KeyVersion; error: unknown } | undefined;
    for (const version of versions) {
      try {
        await client.send(
          new DeleteObjectCommand({ Bucket: bucket, Key: fullKey, VersionId: version.versionId }),
        );
      } catch (error) {
        if (isMissing(error)) continue;
        if (!isRefused(error)) throw error;
        refused ??= { version, error };
      }
    }
    if (refused) throw await refusal(key, refused.version, refused.error);
  };

  return {
    url: url.href,

    async put(key, body) {
      let fullKey: string;
      try {
        fullKey = objectKey(key);
      } catch (error) {
        body.destroy();
        throw error;
      }
      let sizeBytes = 0;
      let bodyError: unknown;
      const counted = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          sizeBytes += chunk.length;
          callback(null, chunk);
        },
      });
      body.on('error', (error) => {
        bodyError ??= error;
        counted.destroy(error);
      });
      await abortStaleUploads(fullKey);
      body.pipe(counted);
      const upload = new Upload({
        client,
        params: {
          Bucket: bucket,
          Key: fullKey,
          Body: counted,
          ...(options.serverSideEncryption ? { ServerSideEncryption: options.serverSideEncryption } : {}),
          ...(options.sseKmsKeyId ? { SSEKMSKeyId: options.sseKmsKeyId } : {}),
          ...(options.objectLock
            ? {
                ObjectLockMode: options.objectLock.mode,
                ObjectLockRetainUntilDate: new Date(Date.now() + options.objectLock.days * 86_400_000),
                // S3 refuses a locked upload without Content-MD5 or a checksum, and the SDK sends a checksum
                // on its own only while AWS_REQUEST_CHECKSUM_CALCULATION is not WHEN_REQUIRED (a setting
                // common for other S3-compatible servers): asking for one makes it always sent.
                ChecksumAlgorithm: 'CRC32' as const,
              }
            : {}),
        },
        partSize: partSizeBytes,
        queueSize: uploadQueueSize,
        leavePartsOnError: false,
      });
      try {
        await upload.done();
      } catch (error) {
        counted.destroy();
        body.destroy();
        if (bodyError instanceof LifeboatError) throw bodyError;
        if (bodyError) {
          throw new LifeboatError(
            'STORAGE_UNAVAILABLE',
            `The data being written to ${key} in S3 bucket "${bucket}" failed midway: ${(bodyError as Error).message}`,
          );
        }
        if (options.objectLock && isLockMissingOnBucket(error)) {
          throw new LifeboatError(
            'VALIDATION_FAILED',
            `S3 bucket "${bucket}" at ${where.endpoint} has no Object Lock, which objectLockMode and ` +
              'objectLockDays need: use a bucket created with Object Lock enabled, or drop those parameters.',
          );
        }
        return fail(error, `write ${key}`);
      }
      return { key, sizeBytes };
    },

    async get(key) {
      const fullKey = objectKey(key);
      const read = async (versionId?: string): Promise<unknown> =>
        (await client.send(new GetObjectCommand({ Bucket: bucket, Key: fullKey, VersionId: versionId })))
          .Body;
      let body: unknown;
      try {
        try {
          body = await read();
        } catch (error) {
          const hidden = isMissing(error) ? await hiddenVersion(fullKey) : undefined;
          if (!hidden) throw error;
          body = await read(hidden.versionId);
        }
      } catch (error) {
        if (isMissing(error)) throw new LifeboatError('NOT_FOUND', `No object ${key} in ${url.href}.`);
        return fail(error, `read ${key}`);
      }
      if (!(body instanceof Readable)) return fail(new Error('response has no body'), `read ${key}`);
      // A connection lost while the caller reads surfaces as the same retryable error as one lost before.
      const out = new PassThrough();
      body.on('error', (error) => out.destroy(describeS3Failure(error, `read ${key}`, where)));
      out.once('close', () => body.destroy());
      body.pipe(out);
      return out;
    },

    async stat(key): Promise<StoredObject | undefined> {
      const fullKey = objectKey(key);
      try {
        const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: fullKey }));
        return { key, sizeBytes: head.ContentLength ?? 0 };
      } catch (error) {
        if (!isMissing(error)) return fail(error, `inspect ${key}`);
      }
      try {
        const hidden = await hiddenVersion(fullKey);
        return hidden ? { key, sizeBytes: hidden.sizeBytes } : undefined;
      } catch (error) {
        return fail(error, `inspect ${key}`);
      }
    },

    async delete(key) {
      const fullKey = objectKey(key);
      try {
        if (options.objectLock) await removeEveryVersion(key, fullKey);
        else await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: fullKey }));
      } catch (error) {
        if ((error as SdkErrorShape).name === 'NoSuchKey') return;
        fail(error, `delete ${key}`);
      }
    },

    async list(prefix) {
      const keys = new Set<string>();
      const add = (fullKey: string | undefined): void => {
        const key = fullKey?.slice(keyPrefix.length);
        // Folder markers ("dir/") that other tools create are not objects of ours.
        if (key && fullKey?.startsWith(keyPrefix) && isValidKey(key)) keys.add(key);
      };
      try {
        if (options.objectLock) {
          // A key whose newest entry is a delete marker still holds its locked versions: it is listed.
          for (const version of await listVersions(client, bucket, keyPrefix + prefix)) {
            if (!version.deleteMarker) add(version.key);
          }
        } else {
          let continuationToken: string | undefined;
          do {
            const page = await client.send(
              new ListObjectsV2Command({
                Bucket: bucket,
                Prefix: keyPrefix + prefix,
                ContinuationToken: continuationToken,
              }),
            );
            for (const object of page.Contents ?? []) add(object.Key);
            continuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
          } while (continuationToken);
        }
      } catch (error) {
        fail(error, `list ${prefix || 'all keys'}`);
      }
      return [...keys].sort();
    },

    close() {
      client.destroy();
      return Promise.resolve();
    },
  };
}
