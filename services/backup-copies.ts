// A finished backup's copies in storage: read from the first reachable one, removed from all of them.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { LifeboatError } from '../domain/errors.ts';
import { getBackup, listBackupCopies, type Backup } from '../catalog/backups.ts';
import { getSettings } from '../catalog/settings.ts';
import type { Target } from '../catalog/targets.ts';
import { decryptStream } from '../archive/encryption.ts';
import { removeBackupObjects } from '../storage/backup-objects.ts';
import type { StorageRegistry } from '../storage/registry.ts';

export interface CopiesDeps {
  db: pg.Pool;
  storages: StorageRegistry;
}

/**
 * Where a target's backups are stored, the primary first: its own destinations, else the default
 * storage of the settings, else the process's (LIFEBOAT_STORAGE_URL).
 */
export async function destinationsOf(
  deps: CopiesDeps,
  target: Pick<Target, 'destinations'>,
): Promise<string[]> {
  return target.destinations ?? [(await getSettings(deps.db)).defaultStorageUrl ?? deps.storages.defaultUrl];
}

interface CopyPlace {
  storageUrl: string;
  storageKey: string;
}

/** Where a backup's archive is, primary first: its completed copies, or the row's own location. */
async function completedCopies(db: pg.Pool, backup: Backup): Promise<CopyPlace[]> {
  const copies = (await listBackupCopies(db, backup.id)).filter((copy) => copy.status === 'completed');
  if (copies.length) return copies;
  return backup.storageUrl && backup.storageKey
    ? [{ storageUrl: backup.storageUrl, storageKey: backup.storageKey }]
    : [];
}

function requireCompleted(backup: Backup): void {
  if (backup.status !== 'completed' || !backup.sha256) {
    throw new LifeboatError(
      'CONFLICT',
      `Backup ${backup.id} is ${backup.status}; only a completed backup can be read back.`,
    );
  }
}

function problemOf(place: CopyPlace, error: unknown): string {
  return `${place.storageUrl}: ${(error as Error).message}`;
}

/**
 * Opens the archive of the first copy that answers, in order. Rejects with STORAGE_UNAVAILABLE, listing
 * every copy's problem, when none does.
 */
export async function openFirstReachableCopy(
  deps: CopiesDeps,
  backup: Backup,
): Promise<{ stream: Readable; copy: CopyPlace }> {
  requireCompleted(backup);
  const problems: string[] = [];
  for (const place of await completedCopies(deps.db, backup)) {
    try {
      const stream = await deps.storages.open(place.storageUrl).get(place.storageKey);
      return { stream, copy: place };
    } catch (error) {
      problems.push(problemOf(place, error));
    }
  }
  throw new LifeboatError(
    'STORAGE_UNAVAILABLE',
    `No copy of backup ${backup.id} could be read: ${problems.join('; ') || 'it has no stored copy'}.`,
  );
}

/**
 * Removes every copy of the backup (archive and sidecars) from its storage. Tries all of them, then
 * rejects with the problems of those that failed: the caller keeps the catalog row and tries again later.
 */
export async function removeAllCopies(deps: CopiesDeps, backup: Backup): Promise<void> {
  const places = (await listBackupCopies(deps.db, backup.id)) as CopyPlace[];
  if (!places.length && backup.storageUrl && backup.storageKey) {
    places.push({ storageUrl: backup.storageUrl, storageKey: backup.storageKey });
  }
  const problems: string[] = [];
  for (const place of places) {
    try {
      await removeBackupObjects(deps.storages.open(place.storageUrl), place.storageKey);
    } catch (error) {
      problems.push(problemOf(place, error));
    }
  }
  if (problems.length) {
    throw new LifeboatError('STORAGE_UNAVAILABLE', `Could not remove every copy: ${problems.join('; ')}.`);
  }
}

function hashing(onBytes: ((bytes: number) => void) | undefined) {
  const hash = createHash('sha256');
  let sizeBytes = 0;
  const stage = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      sizeBytes += chunk.length;
      onBytes?.(sizeBytes);
      callback(null, chunk);
    },
  });
  return { stage, result: () => ({ sha256: hash.digest('hex'), sizeBytes }) };
}

/**
 * Downloads the archive of a completed backup into `file` (mode 0600), from the first copy that is
 * reachable and intact: the stored bytes must have the sha256 and size the catalog recorded. An encrypted
 * backup is decrypted on the way with `identities` (age private keys), so `file` always holds the plain
 * archive (tar, compressed as the manifest says). Rejects, leaving no file, with CHECKSUM_MISMATCH when no
 * copy is intact, DECRYPTION_FAILED when no identity opens it, STORAGE_UNAVAILABLE when none answers.
 */
export async function fetchBackupArchive(
  deps: CopiesDeps,
  request: {
    backupId: string;
    file: string;
    identities?: readonly string[];
    onBytes?: ((bytes: number) => void) | undefined;
    /** Read only the copy stored here (a drill proving one destination); default every copy in turn. */
    copyUrl?: string | undefined;
  },
): Promise<{ sizeBytes: number; sha256: string }> {
  const backup = await getBackup(deps.db, request.backupId);
  requireCompleted(backup);
  const identities = request.identities ?? [];
  if (backup.encrypted && !identities.length) {
    throw new LifeboatError(
      'DECRYPTION_FAILED',
      `Backup ${backup.id} is encrypted: restoring it needs the private key (an age identity) of one of its recipients.`,
    );
  }
  const problems: string[] = [];
  let mismatch = false;
  const places = (await completedCopies(deps.db, backup)).filter(
    (place) => request.copyUrl === undefined || place.storageUrl === request.copyUrl,
  );
  for (const place of places) {
    const stored = hashing(request.onBytes);
    try {
      const source = await deps.storages.open(place.storageUrl).get(place.storageKey);
      await pipeline(
        source,
        stored.stage,
        backup.encrypted ? decryptStream(identities) : new PassThrough(),
        createWriteStream(request.file, { mode: 0o600 }),
      );
    } catch (error) {
      await rm(request.file, { force: true });
      if (error instanceof LifeboatError && error.code === 'DECRYPTION_FAILED') {
        // A key that cannot open one copy cannot open the others, which hold the same bytes; a copy that
        // age cannot authenticate is damaged, and the next one may be intact.
        if (error.details?.reason === undefined) throw error;
        mismatch = true;
      }
      problems.push(problemOf(place, error));
      continue;
    }
    const digest = stored.result();
    if (
      digest.sha256 === backup.sha256 &&
      (backup.sizeBytes === null || digest.sizeBytes === backup.sizeBytes)
    ) {
      return digest;
    }
    await rm(request.file, { force: true });
    mismatch = true;
    problems.push(
      `${place.storageUrl}: sha256 ${digest.sha256} (${digest.sizeBytes} bytes), not the recorded ` +
        `${backup.sha256} (${backup.sizeBytes} bytes)`,
    );
  }
  throw new LifeboatError(
    mismatch ? 'CHECKSUM_MISMATCH' : 'STORAGE_UNAVAILABLE',
    mismatch
      ? `No intact copy of backup ${backup.id}: it was changed or damaged, and nothing was restored (${problems.join('; ')}).`
      : `No copy of backup ${backup.id} could be read: ${problems.join('; ') || 'it has no stored copy'}.`,
  );
}
