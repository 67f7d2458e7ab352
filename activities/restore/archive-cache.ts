// The archives this worker fetched, verified and extracted, one per backup: shared by the previews and the
// restores that hold them, and removed from the disk when the last holder lets go or its hold lapses.
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { extractArchive } from '../../archive/read.ts';
import { recipientOf } from '../../archive/encryption.ts';
import { getBackup, type Backup } from '../../catalog/backups.ts';
import { LifeboatError } from '../../domain/errors.ts';
import type { Manifest } from '../../domain/manifest.ts';
import { fetchBackupArchive, openFirstReachableCopy } from '../../services/backup-copies.ts';
import type { ActivityDeps } from '../deps.ts';
import { checkId } from './access.ts';

export interface ExtractedArchive {
  manifest: Manifest;
  /** Absolute paths of the extracted files, by their path in the archive. */
  files: Record<string, string>;
  archiveBytes: number;
}

export interface HoldRequest {
  backupId: string;
  /** Who holds the extraction: `restoreHolder(operationId)` or `previewHolder(previewId)`. */
  holder: string;
  /** The age identities of the holder, asked for only when the archive is fetched or first shared. */
  identities: () => Promise<string[]>;
  onBytes?: ((bytes: number) => void) | undefined;
  /** When the hold lapses (ms since the epoch); without it, it lasts until released. */
  untilMs?: number | undefined;
  /** A hold this one replaces: the preview's, taken over by the restore it confirmed. */
  takesOver?: string | undefined;
}

export interface Held {
  archive: ExtractedArchive;
  /** Whether this hold fetched the archive from storage, rather than sharing an extraction already here. */
  fetched: boolean;
}

export interface ArchiveCache {
  /**
   * The backup's archive, extracted on this worker. The first hold fetches it: the stored bytes must
   * have the catalog's sha256, every file its manifest's, and the manifest must be the catalog's; else
   * CHECKSUM_MISMATCH. A later holder shares the extraction once a stored copy still has the catalog's
   * sha256 and, for an encrypted archive, one of its identities is among the recipients; when either
   * check fails, the archive is fetched again to give the error a fresh fetch would give.
   */
  hold(request: HoldRequest): Promise<Held>;
  /** Lets go of every hold of `holder`; an extraction nobody holds any more is removed. */
  release(holder: string): Promise<void>;
}

/** The dump inside an extracted archive; CHECKSUM_MISMATCH when it has none. */
export function dumpFileOf(archive: ExtractedArchive): string {
  const entry = Object.keys(archive.files).find((name) => name.startsWith('database/'));
  if (!entry) throw new LifeboatError('CHECKSUM_MISMATCH', 'The archive holds no database dump.');
  return archive.files[entry]!;
}

export const restoreHolder = (operationId: string) => `restore:${operationId}`;
export const previewHolder = (previewId: string) => `preview:${previewId}`;

interface Entry {
  dir: string;
  archive: ExtractedArchive;
  /** The holders, each with the time its hold lapses (ms), or null for one that lasts until released. */
  holders: Map<string, number | null>;
  timer?: NodeJS.Timeout | undefined;
}

/**
 * Fetches the backup's archive into `dir` (replacing what is there) and extracts it: the stored bytes
 * must have the catalog's sha256, every file its manifest's, and the manifest must be the catalog's;
 * else CHECKSUM_MISMATCH. `copyUrl` reads that copy only (a drill proving one destination).
 */
export async function fetchAndExtract(
  deps: Pick<ActivityDeps, 'db' | 'storages'>,
  backup: Backup,
  dir: string,
  request: Pick<HoldRequest, 'identities' | 'onBytes'> & { copyUrl?: string | undefined },
): Promise<ExtractedArchive> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, 'archive');
  const fetched = await fetchBackupArchive(deps, {
    backupId: backup.id,
    file,
    identities: await request.identities(),
    onBytes: request.onBytes,
    copyUrl: request.copyUrl,
  });
  const extracted = await extractArchive({ file, destination: path.join(dir, 'files') });
  await rm(file, { force: true });
  // An upload whose id was taken is renumbered: its archive keeps the id the catalog recorded from it.
  const archivedId = backup.manifest?.backupId ?? backup.id;
  if (extracted.manifest.backupId !== archivedId) {
    throw new LifeboatError(
      'CHECKSUM_MISMATCH',
      `The archive of backup ${backup.id} holds the manifest of backup ${extracted.manifest.backupId}.`,
    );
  }
  // Compared field by field: the catalog keeps the manifest as jsonb, which orders keys its own way.
  const listing = (files: Manifest['files']) =>
    files.map((f) => `${f.path}\0${f.sizeBytes}\0${f.sha256}`).join('\n');
  if (backup.manifest && listing(backup.manifest.files) !== listing(extracted.manifest.files)) {
    throw new LifeboatError(
      'CHECKSUM_MISMATCH',
      `The manifest in the archive of backup ${backup.id} differs from the one the catalog recorded.`,
    );
  }
  return {
    manifest: extracted.manifest,
    files: Object.fromEntries(extracted.files),
    archiveBytes: fetched.sizeBytes,
  };
}

export function createArchiveCache(deps: ActivityDeps): ArchiveCache {
  const root = path.join(deps.workDir, 'archives');
  const entries = new Map<string, Entry>();
  const queues = new Map<string, Promise<unknown>>();

  /** Runs `work` after every earlier call for the same backup has settled. */
  function serialized<T>(backupId: string, work: () => Promise<T>): Promise<T> {
    const result = (queues.get(backupId) ?? Promise.resolve()).then(work);
    const settled = result.catch(() => undefined);
    queues.set(backupId, settled);
    void settled.then(() => {
      if (queues.get(backupId) === settled) queues.delete(backupId);
    });
    return result;
  }

  /** Drops lapsed holds; removes the extraction when none is left, else wakes up when the next one lapses. */
  async function prune(backupId: string, entry: Entry): Promise<void> {
    clearTimeout(entry.timer);
    const nowMs = Date.now();
    for (const [holder, untilMs] of entry.holders) {
      if (untilMs !== null && untilMs <= nowMs) entry.holders.delete(holder);
    }
    if (!entry.holders.size) {
      entries.delete(backupId);
      await rm(entry.dir, { recursive: true, force: true });
      return;
    }
    const lapses = [...entry.holders.values()].filter((untilMs): untilMs is number => untilMs !== null);
    if (!lapses.length) return;
    entry.timer = setTimeout(
      () => void serialized(backupId, () => prune(backupId, entry)).catch(() => undefined),
      Math.min(...lapses) - nowMs,
    );
    entry.timer.unref();
  }

  /** Whether the first reachable copy still has the catalog's sha256 and size: read, not decrypted or kept. */
  async function storedCopyIntact(backup: Backup, onBytes: HoldRequest['onBytes']): Promise<boolean> {
    const { stream } = await openFirstReachableCopy(deps, backup);
    const hash = createHash('sha256');
    let sizeBytes = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      hash.update(chunk);
      sizeBytes += chunk.length;
      onBytes?.(sizeBytes);
    }
    return (
      hash.digest('hex') === backup.sha256 && (backup.sizeBytes === null || sizeBytes === backup.sizeBytes)
    );
  }

  /** Whether a new holder may share the extraction; throws what a fresh fetch would when it may not. */
  async function checkShare(backup: Backup, archive: ExtractedArchive, request: HoldRequest): Promise<void> {
    const recipients = archive.manifest.archive.encryption?.recipients ?? [];
    const keyHeld = async () => {
      if (!backup.encrypted) return true;
      const own = await Promise.all((await request.identities()).map((identity) => recipientOf(identity)));
      return own.some((recipient) => recipients.includes(recipient));
    };
    const shareable = await Promise.all([storedCopyIntact(backup, request.onBytes), keyHeld()]).then(
      (checks) => checks.every(Boolean),
      () => false,
    );
    if (shareable) return;
    const file = path.join(root, `check-${randomUUID()}`);
    try {
      await fetchBackupArchive(deps, { backupId: backup.id, file, identities: await request.identities() });
    } finally {
      await rm(file, { force: true });
    }
  }

  return {
    hold(request) {
      const backupId = checkId(request.backupId, 'backup id');
      return serialized(backupId, async () => {
        const entry = entries.get(backupId);
        // A time that does not parse lapses at once rather than never.
        const untilMs =
          request.untilMs === undefined ? null : Number.isFinite(request.untilMs) ? request.untilMs : 0;
        if (entry?.holders.has(request.holder)) {
          const previous = entry.holders.get(request.holder) ?? null;
          entry.holders.set(
            request.holder,
            previous === null || untilMs === null ? null : Math.max(previous, untilMs),
          );
          return { archive: entry.archive, fetched: false };
        }
        const backup = await getBackup(deps.db, backupId);
        if (entry) {
          await checkShare(backup, entry.archive, request);
          entry.holders.set(request.holder, untilMs);
          if (request.takesOver) entry.holders.delete(request.takesOver);
          await prune(backupId, entry);
          return { archive: entry.archive, fetched: false };
        }
        const dir = path.join(root, backupId);
        let archive: ExtractedArchive;
        try {
          archive = await fetchAndExtract(deps, backup, dir, request);
        } catch (error) {
          await rm(dir, { recursive: true, force: true });
          throw error;
        }
        const created: Entry = { dir, archive, holders: new Map([[request.holder, untilMs]]) };
        entries.set(backupId, created);
        await prune(backupId, created);
        return { archive, fetched: true };
      });
    },

    async release(holder) {
      const held = [...entries].filter(([, entry]) => entry.holders.has(holder));
      await Promise.all(
        held.map(([backupId, entry]) =>
          serialized(backupId, async () => {
            entry.holders.delete(holder);
            if (entries.get(backupId) === entry) await prune(backupId, entry);
          }),
        ),
      );
    },
  };
}
