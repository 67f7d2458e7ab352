// Reading a finished backup back from storage: the archive, checked against the catalog, into a local file.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { LifeboatError } from '../domain/errors.ts';
import { getBackup } from './catalog/backups.ts';
import type { Storage } from './storage/index.ts';

export interface FetchDeps {
  db: pg.Pool;
  storage: Storage;
}

/**
 * Downloads the archive of a completed backup into `file` (created with mode 0600) and checks the stored
 * bytes against the sha256 and size the catalog recorded: CHECKSUM_MISMATCH when they differ, before the
 * caller touches anything. `file` then holds the plain archive (tar, compressed as the manifest says).
 */
export async function fetchBackupArchive(
  deps: FetchDeps,
  request: { backupId: string; file: string; onBytes?: (bytes: number) => void },
): Promise<{ sizeBytes: number; sha256: string }> {
  const backup = await getBackup(deps.db, request.backupId);
  if (backup.status !== 'completed' || !backup.storageKey || !backup.sha256) {
    throw new LifeboatError(
      'VALIDATION_FAILED',
      `Backup ${backup.id} is ${backup.status}, not a completed backup.`,
    );
  }
  const hash = createHash('sha256');
  let sizeBytes = 0;
  await pipeline(
    await deps.storage.get(backup.storageKey),
    new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        sizeBytes += chunk.length;
        request.onBytes?.(sizeBytes);
        callback(null, chunk);
      },
    }),
    createWriteStream(request.file, { mode: 0o600 }),
  );
  const digest = { sha256: hash.digest('hex'), sizeBytes };
  if (
    digest.sha256 !== backup.sha256 ||
    (backup.sizeBytes !== null && digest.sizeBytes !== backup.sizeBytes)
  ) {
    throw new LifeboatError(
      'CHECKSUM_MISMATCH',
      `The stored archive of backup ${backup.id} has sha256 ${digest.sha256} (${digest.sizeBytes} bytes), not the ` +
        `recorded ${backup.sha256} (${backup.sizeBytes} bytes): it was changed or damaged, and nothing was restored.`,
    );
  }
  return digest;
}
