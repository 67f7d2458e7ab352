// What a versioned bucket (every bucket with Object Lock is one) holds under a key: its versions and delete
// markers, read page by page, and what locks a version. The S3 backend needs them to remove a key for good
// and to find a backup that a delete marker hides.
import { HeadObjectCommand, ListObjectVersionsCommand, type S3Client } from '@aws-sdk/client-s3';

export interface KeyVersion {
  key: string;
  versionId: string;
  /** A delete marker hides the versions below it; it has no bytes of its own. */
  deleteMarker: boolean;
  lastModifiedMs: number;
  sizeBytes: number;
}

/** Every version and delete marker of the keys that start with `prefix`. */
export async function listVersions(client: S3Client, bucket: string, prefix: string): Promise<KeyVersion[]> {
  const found: KeyVersion[] = [];
  let keyMarker: string | undefined;
  let versionIdMarker: string | undefined;
  do {
    const page = await client.send(
      new ListObjectVersionsCommand({
        Bucket: bucket,
        Prefix: prefix,
        KeyMarker: keyMarker,
        VersionIdMarker: versionIdMarker,
      }),
    );
    for (const version of page.Versions ?? []) {
      if (!version.Key || !version.VersionId) continue;
      found.push({
        key: version.Key,
        versionId: version.VersionId,
        deleteMarker: false,
        lastModifiedMs: version.LastModified?.getTime() ?? 0,
        sizeBytes: version.Size ?? 0,
      });
    }
    for (const marker of page.DeleteMarkers ?? []) {
      if (!marker.Key || !marker.VersionId) continue;
      found.push({
        key: marker.Key,
        versionId: marker.VersionId,
        deleteMarker: true,
        lastModifiedMs: marker.LastModified?.getTime() ?? 0,
        sizeBytes: 0,
      });
    }
    // A server that says "truncated" without saying where to go on would loop forever: stop there instead.
    keyMarker = page.IsTruncated ? page.NextKeyMarker || undefined : undefined;
    versionIdMarker = page.IsTruncated ? page.NextVersionIdMarker || undefined : undefined;
  } while (keyMarker);
  return found;
}

/**
 * The object that `key` holds when delete markers are looked past: its newest version with bytes, or
 * undefined when it has none. The server lists a key's versions newest first; the sort only guards
 * against one that does not.
 */
export function newestObjectVersion(versions: readonly KeyVersion[], key: string): KeyVersion | undefined {
  return versions
    .filter((version) => version.key === key && !version.deleteMarker)
    .sort((a, b) => b.lastModifiedMs - a.lastModifiedMs)[0];
}

export interface VersionLock {
  mode: string | undefined;
  retainUntil: Date | undefined;
  legalHold: boolean;
}

/** The retention and legal hold on one version, as HeadObject reports them. */
export async function lockOf(
  client: S3Client,
  bucket: string,
  version: Pick<KeyVersion, 'key' | 'versionId'>,
): Promise<VersionLock> {
  const head = await client.send(
    new HeadObjectCommand({ Bucket: bucket, Key: version.key, VersionId: version.versionId }),
  );
  return {
    mode: head.ObjectLockMode,
    retainUntil: head.ObjectLockRetainUntilDate,
    legalHold: head.ObjectLockLegalHoldStatus === 'ON',
  };
}

/**
 * Whether the lock may still keep the version from being removed at `now`, give or take `marginMs`:
 * HeadObject gives the date in whole seconds, and the server's clock is not ours.
 */
export function isLocked(lock: VersionLock, now: Date, marginMs: number): boolean {
  if (lock.legalHold) return true;
  return lock.retainUntil !== undefined && lock.retainUntil.getTime() + marginMs > now.getTime();
}
