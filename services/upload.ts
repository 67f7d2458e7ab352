// Brings in an archive made elsewhere: staged, validated in full, then stored, verified and catalogued.
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, open, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { LifeboatError } from '../domain/errors.ts';
import type { Manifest } from '../domain/manifest.ts';
import {
  archiveKey,
  compactUtcTimestamp,
  manifestSidecarKey,
  md5SidecarKey,
  type Compression,
} from '../domain/naming.ts';
import { extractArchive } from '../archive/read.ts';
import { digestStream } from '../archive/write.ts';
import {
  deleteBackupRow,
  findBackup,
  findCompletedBackupBySha256,
  getBackup,
  insertRunningBackup,
  markBackupCompleted,
  recordBackupCopy,
  recordBackupManifest,
  type Backup,
  type Queryable,
} from '../catalog/backups.ts';
import {
  closeUploadSession,
  deleteUploadClaim,
  openUploadSession,
  recordUploadClaim,
  tryLockUpload,
} from '../catalog/upload-claims.ts';
import { findTarget, type Target } from '../catalog/targets.ts';
import { removeBackupObjects } from '../storage/backup-objects.ts';
import type { StorageRegistry } from '../storage/registry.ts';
import { putLocalFile, type Storage } from '../storage/storage.ts';
import { destinationsOf } from './backup-copies.ts';

export interface UploadLimits {
  /** Bytes the uploaded archive may have; the request is refused as soon as it goes past. */
  maxUploadBytes: number;
  /** Bytes the archive may unpack to, against decompression bombs. */
  maxUnpackedBytes: number;
  maxEntries: number;
}

export const defaultUploadLimits: UploadLimits = {
  maxUploadBytes: 64 * 1024 ** 3,
  maxUnpackedBytes: 256 * 1024 ** 3,
  maxEntries: 1_000_000,
};

export interface UploadSettings {
  /** Where uploads are staged, one private directory per upload; default: the system temp directory. */
  stagingDir?: string | undefined;
  limits?: Partial<UploadLimits> | undefined;
}

export interface UploadDeps {
  db: pg.Pool;
  storages: StorageRegistry;
}

export interface UploadRequest {
  body: Readable;
  /** The request's Content-Length, when the client sent one: lets an oversized upload be refused unread. */
  contentLengthBytes?: number | undefined;
  /** Id or name of the target to attach the backup to; default: the target the manifest names. */
  target?: string | undefined;
  displayName?: string | null | undefined;
  /** The sha256 the client expects the archive to have. */
  expectedSha256?: string | undefined;
  requestedBy: string;
}

/** Every staging directory's name starts so, then the pid of the API process that owns it. */
export const stagingDirPrefix = 'lifeboat-upload-';

/** The pid in a staging directory's name; undefined for a name that is not one or carries none. */
export function stagingDirOwnerPid(name: string): number | undefined {
  const match = new RegExp(`^${stagingDirPrefix}(\\d+)-`).exec(name);
  return match ? Number(match[1]) : undefined;
}

const ageHeaders = ['age-encryption.org/v1', '-----BEGIN AGE ENCRYPTED FILE-----'];

/** How far ahead of this server's clock an archive's times may be: clocks disagree, but not by hours. */
export const maxClockSkewMs = 5 * 60_000;

/**
 * Refuses a manifest whose times lie in the future: a backup dated ahead would sort as the newest and
 * outlive every real one under retention.
 */
function refuseFutureTimes(manifest: Manifest, receivedAt: Date): void {
  const latest = receivedAt.getTime() + maxClockSkewMs;
  for (const field of ['startedAt', 'dumpFinishedAt'] as const) {
    if (Date.parse(manifest[field]) > latest) {
      throw new LifeboatError(
        'VALIDATION_FAILED',
        `The manifest's ${field} (${manifest[field]}) lies in the future; this server's time is ${receivedAt.toISOString()}.`,
        { field: `manifest.${field}` },
      );
    }
  }
}

function tooLarge(maxBytes: number): LifeboatError {
  return new LifeboatError(
    'VALIDATION_FAILED',
    `The archive is larger than the upload limit of ${maxBytes} bytes.`,
    { maxUploadBytes: maxBytes },
  );
}

/** Streams `body` into `file`, counting and hashing as it goes; refuses past `maxBytes`. */
async function receive(
  body: Readable,
  file: string,
  maxBytes: number,
): Promise<{ sizeBytes: number; sha256: string; md5: string }> {
  const sha256 = createHash('sha256');
  const md5 = createHash('md5');
  let sizeBytes = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      sizeBytes += chunk.length;
      if (sizeBytes > maxBytes) return callback(tooLarge(maxBytes));
      sha256.update(chunk);
      md5.update(chunk);
      callback(null, chunk);
    },
  });
  try {
    await pipeline(body, meter, createWriteStream(file, { mode: 0o600, flags: 'wx' }));
  } catch (error) {
    if (error instanceof LifeboatError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      throw new LifeboatError('INSUFFICIENT_SPACE', 'No space left in the upload staging directory.');
    }
    throw new LifeboatError(
      'VALIDATION_FAILED',
      `The upload ended before the whole archive arrived: ${(error as Error).message}`,
    );
  }
  if (sizeBytes === 0) throw new LifeboatError('VALIDATION_FAILED', 'The request body is empty.');
  return { sizeBytes, sha256: sha256.digest('hex'), md5: md5.digest('hex') };
}

/** How the archive is compressed, from its first bytes; refuses what cannot be a Lifeboat archive. */
async function archiveCompression(file: string): Promise<Compression> {
  const handle = await open(file, 'r');
  let head: Buffer;
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(512), 0, 512, 0);
    head = buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
  if (ageHeaders.some((header) => head.subarray(0, header.length).toString('latin1') === header)) {
    throw new LifeboatError(
      'VALIDATION_FAILED',
      'The archive is age-encrypted; uploads must be unencrypted for now (decrypt it with age -d first).',
    );
  }
  const magic = head.subarray(0, 4).toString('hex');
  if (magic === '28b52ffd') return 'zstd';
  if (magic.startsWith('1f8b')) return 'gzip';
  // Every tar Lifeboat writes is ustar, whose header says so at offset 257.
  if (head.subarray(257, 262).toString('latin1') === 'ustar') return 'none';
  throw new LifeboatError(
    'VALIDATION_FAILED',
    'The upload is not a Lifeboat archive: it is neither a tar nor a zstd- or gzip-compressed tar.',
  );
}

async function namedTarget(db: pg.Pool, idOrName: string): Promise<Target> {
  const target = await findTarget(db, idOrName);
  if (!target) throw new LifeboatError('NOT_FOUND', `No target "${idOrName}".`, { field: 'target' });
  return target;
}

async function manifestTarget(db: pg.Pool, manifest: Manifest): Promise<Target> {
  const target = await findTarget(db, manifest.target);
  if (!target) {
    throw new LifeboatError(
      'NOT_FOUND',
      `The archive was made for target "${manifest.target}", which does not exist here; ` +
        'pass ?target=<name or id> to attach it to an existing target.',
      { field: 'target' },
    );
  }
  return target;
}

/** The id the backup gets: the archive's own, unless the catalog already uses it. */
async function chooseBackupId(db: pg.Pool, manifest: Manifest, sha256: string): Promise<string> {
  const existing = await findCompletedBackupBySha256(db, sha256);
  if (existing) {
    throw new LifeboatError(
      'CONFLICT',
      `This archive is already registered as backup ${existing.id} of target "${existing.targetName}".`,
      { backupId: existing.id },
    );
  }
  return (await findBackup(db, manifest.backupId)) ? randomUUID() : manifest.backupId;
}

/** Puts the archive and its two sidecars, then reads the archive back: size and sha256 must hold. */
async function store(
  storage: Storage,
  key: string,
  archive: { file: string; sizeBytes: number; sha256: string; md5: string },
  manifest: Manifest,
): Promise<void> {
  await putLocalFile(storage, key, archive.file);
  const readBack = await digestStream(await storage.get(key));
  if (readBack.sizeBytes !== archive.sizeBytes || readBack.sha256 !== archive.sha256) {
    throw new LifeboatError(
      'STORAGE_UNAVAILABLE',
      `The stored copy of ${key} does not match the upload (size ${readBack.sizeBytes} of ${archive.sizeBytes}, ` +
        'or a different sha256); it was removed, try the upload again.',
    );
  }
  const sidecar = Buffer.from(JSON.stringify(manifest, null, 2));
  await storage.put(manifestSidecarKey(key), Readable.from([sidecar]));
  const md5Line = `${archive.md5}  ${path.basename(key)}\n`;
  await storage.put(md5SidecarKey(key), Readable.from([Buffer.from(md5Line)]));
}

interface NewUpload {
  id: string;
  target: Target;
  key: string;
  manifest: Manifest;
  archive: { sizeBytes: number; sha256: string; md5: string };
  displayName: string | null;
  requestedBy: string;
  receivedAt: Date;
}

function conflict(id: string): LifeboatError {
  return new LifeboatError('CONFLICT', `Backup ${id} was registered by another request meanwhile.`);
}

/** Runs `work` in one transaction of the session; rolled back when it throws. */
async function inTransaction(session: pg.Client, work: () => Promise<void>): Promise<void> {
  await session.query('begin');
  try {
    await work();
    await session.query('commit');
  } catch (error) {
    await session.query('rollback').catch(() => undefined);
    throw error;
  }
}

/**
 * Claims the backup id before anything is stored: the session takes the id's lock, then writes the running
 * row and where the archive goes in one transaction. Two uploads of one archive at once cannot write the
 * same key; the one that loses the claim is refused and touches nothing. Until the session ends, the lock
 * tells reconciliation that this upload is alive; once it ends (the API died), the claim says what to remove.
 */
async function claim(session: pg.Client, upload: NewUpload, storageUrls: string[]): Promise<void> {
  if (!(await tryLockUpload(session, upload.id))) throw conflict(upload.id);
  const id8 = upload.id.replace(/-/g, '').slice(0, 8);
  const workflowId = `upload/${upload.target.name}/${compactUtcTimestamp(upload.receivedAt)}-${id8}`;
  await inTransaction(session, async () => {
    const inserted = await insertRunningBackup(session, {
      id: upload.id,
      targetId: upload.target.id,
      targetName: upload.target.name,
      workflowId,
      trigger: 'upload',
      requestedBy: upload.requestedBy,
      displayName: upload.displayName,
      description: null,
      tags: upload.manifest.options.tags,
      protected: false,
      startedAt: upload.manifest.startedAt,
    });
    if (!inserted) throw conflict(upload.id);
    await recordUploadClaim(session, { backupId: upload.id, storageKey: upload.key, storageUrls });
  });
}

/**
 * Records the backup completed through the session that holds its lock, in one transaction: an upload
 * whose session was lost (and whose objects reconciliation may be removing) can never complete.
 */
async function complete(session: pg.Client, storages: readonly Storage[], upload: NewUpload): Promise<void> {
  await inTransaction(session, () => recordCompleted(session, storages, upload));
}

async function recordCompleted(
  db: Queryable,
  storages: readonly Storage[],
  upload: NewUpload,
): Promise<void> {
  await recordBackupManifest(db, upload.id, upload.manifest, false);
  for (const [position, storage] of storages.entries()) {
    await recordBackupCopy(db, upload.id, {
      position,
      storageUrl: storage.url,
      storageKey: upload.key,
      status: 'completed',
      sizeBytes: upload.archive.sizeBytes,
      errorCode: null,
      errorMessage: null,
    });
  }
  await markBackupCompleted(db, upload.id, {
    storageUrl: storages[0]!.url,
    storageKey: upload.key,
    sizeBytes: upload.archive.sizeBytes,
    sha256: upload.archive.sha256,
    md5: upload.archive.md5,
    finishedAt: new Date().toISOString(),
    // The dump's own duration, from the manifest; archiving happened elsewhere and is not known.
    dumpMs: Math.max(0, Date.parse(upload.manifest.dumpFinishedAt) - Date.parse(upload.manifest.startedAt)),
    archiveMs: 0,
    uploadMs: Date.now() - upload.receivedAt.getTime(),
    degraded: false,
  });
  await deleteUploadClaim(db, upload.id);
}

/**
 * Stages the uploaded archive in a private directory, validates all of it (format, sha256, manifest,
 * every entry's path and type, every file's sha256), and only then stores it under the target's archive
 * key with its sidecars in each of the target's destinations (as its backups are), reads it back, and registers it as a completed backup with trigger `upload`.
 * The staging directory is removed whatever happens; storage is cleaned when a later step fails. If the
 * process dies instead, its claim is left for `reconcileUploads` and its staging directory for
 * `removeAbandonedStagingDirs` (services/upload-reconcile.ts).
 */
export async function importUploadedArchive(
  deps: UploadDeps,
  request: UploadRequest,
  settings: UploadSettings = {},
): Promise<Backup> {
  const limits = { ...defaultUploadLimits, ...settings.limits };
  const receivedAt = new Date();
  if (request.contentLengthBytes !== undefined && request.contentLengthBytes > limits.maxUploadBytes) {
    throw tooLarge(limits.maxUploadBytes);
  }
  const explicitTarget =
    request.target === undefined ? undefined : await namedTarget(deps.db, request.target);

  const stagingRoot = settings.stagingDir ?? tmpdir();
  await mkdir(stagingRoot, { recursive: true, mode: 0o700 });
  // The pid in the name lets an API that starts tell a dead process's leftovers from a live one's uploads.
  const staging = await mkdtemp(path.join(stagingRoot, `${stagingDirPrefix}${process.pid}-`));
  try {
    if (request.contentLengthBytes !== undefined) {
      const space = await statfs(staging);
      if (space.bavail * space.bsize < request.contentLengthBytes) {
        throw new LifeboatError(
          'INSUFFICIENT_SPACE',
          `The upload staging directory has ${space.bavail * space.bsize} bytes free, ` +
            `not enough for ${request.contentLengthBytes}.`,
        );
      }
    }
    const file = path.join(staging, 'archive');
    const received = await receive(request.body, file, limits.maxUploadBytes);
    if (request.expectedSha256 && request.expectedSha256 !== received.sha256) {
      throw new LifeboatError(
        'CHECKSUM_MISMATCH',
        `The uploaded archive's sha256 is ${received.sha256}, not the expected ${request.expectedSha256}.`,
      );
    }
    const compression = await archiveCompression(file);
    const extracted = await extractArchive({
      file,
      destination: path.join(staging, 'extracted'),
      expectedSha256: received.sha256,
      limits: { maxEntries: limits.maxEntries, maxTotalBytes: limits.maxUnpackedBytes },
    });
    // What is kept is this unencrypted archive, whatever the manifest says of the original's encryption.
    const manifest: Manifest = {
      ...extracted.manifest,
      archive: { compression: extracted.manifest.archive.compression },
    };
    if (manifest.archive.compression !== compression) {
      throw new LifeboatError(
        'VALIDATION_FAILED',
        `The manifest says the archive is compressed with ${manifest.archive.compression}, but it is ${compression}.`,
      );
    }
    refuseFutureTimes(manifest, receivedAt);
    const target = explicitTarget ?? (await manifestTarget(deps.db, manifest));
    const id = await chooseBackupId(deps.db, manifest, received.sha256);
    const upload: NewUpload = {
      id,
      target,
      key: archiveKey(target.name, new Date(manifest.startedAt), id, compression),
      manifest,
      archive: received,
      displayName: request.displayName ?? null,
      requestedBy: request.requestedBy,
      receivedAt,
    };
    // Stored where the target's backups go, in every destination, primary first.
    const storageUrls = await destinationsOf(deps, target);
    const storages = storageUrls.map((url) => deps.storages.open(url));
    const session = await openUploadSession(deps.db);
    try {
      await claim(session, upload, storageUrls);
      try {
        for (const storage of storages) await store(storage, upload.key, { file, ...received }, manifest);
        await complete(session, storages, upload);
      } catch (error) {
        // Through the pool: the session may be the part that failed.
        for (const storage of storages) await removeBackupObjects(storage, upload.key).catch(() => undefined);
        await deleteBackupRow(deps.db, id);
        throw error;
      }
    } finally {
      await closeUploadSession(session);
    }
    return await getBackup(deps.db, id);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
