// Reconciliation of uploads whose API died while storing them: their objects are removed from every
// destination and their running row deleted, as the upload's own failure path does; and at an API's start,
// the staging directories that dead processes left behind are removed.
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { archiveKey, compressions } from '../domain/naming.ts';
import { findTarget } from '../catalog/targets.ts';
import {
  deleteRunningUpload,
  findRunningUpload,
  listRunningUploads,
  tryLockUpload,
  unlockUpload,
  type RunningUpload,
} from '../catalog/upload-claims.ts';
import { removeBackupObjects } from '../storage/backup-objects.ts';
import type { StorageRegistry } from '../storage/registry.ts';
import { destinationsOf } from './backup-copies.ts';
import { stagingDirOwnerPid, stagingDirPrefix } from './upload.ts';

export interface UploadReconcileDeps {
  db: pg.Pool;
  storages: StorageRegistry;
}

export interface ReconciledUpload {
  backupId: string;
  targetName: string;
  /** The storage URLs the upload's objects were removed from. */
  removedFrom: string[];
}

export interface UnreconciledUpload {
  backupId: string;
  targetName: string;
  /** Why its objects could not all be removed; the row stays for the next pass. */
  problem: string;
}

/** The storage URLs and keys an upload may have written to. */
async function placesOf(
  deps: UploadReconcileDeps,
  upload: RunningUpload,
): Promise<{ storageUrl: string; storageKey: string }[]> {
  if (upload.claim) {
    const { storageKey } = upload.claim;
    return upload.claim.storageUrls.map((storageUrl) => ({ storageUrl, storageKey }));
  }
  // A row from an API older than the claims: its key is one of the archive names the row implies (the
  // compression is known only to the manifest it never recorded), in the target's destinations of today.
  const target = await findTarget(deps.db, upload.targetId);
  const urls = target ? await destinationsOf(deps, target) : [deps.storages.defaultUrl];
  return urls.flatMap((storageUrl) =>
    compressions.map((compression) => ({
      storageUrl,
      storageKey: archiveKey(upload.targetName, upload.startedAt, upload.backupId, compression),
    })),
  );
}

/** Removes everything the upload stored, then its row; holds its lock, so the uploader is known gone. */
async function clearAbandoned(
  deps: UploadReconcileDeps,
  session: pg.PoolClient,
  upload: RunningUpload,
): Promise<ReconciledUpload | UnreconciledUpload> {
  const problems: string[] = [];
  const removedFrom = new Set<string>();
  for (const place of await placesOf(deps, upload)) {
    try {
      await removeBackupObjects(deps.storages.open(place.storageUrl), place.storageKey);
      removedFrom.add(place.storageUrl);
    } catch (error) {
      problems.push(`${place.storageUrl}: ${(error as Error).message}`);
    }
  }
  const base = { backupId: upload.backupId, targetName: upload.targetName };
  // The row stays while an object may remain: it is what the next pass finds the objects by.
  if (problems.length) return { ...base, problem: problems.join('; ') };
  await deleteRunningUpload(session, upload.backupId);
  return { ...base, removedFrom: [...removedFrom] };
}

/**
 * Reconciles one running upload if its uploader is gone: its lock can be taken only when the session that
 * held it has ended. Undefined when the upload is alive or ended meanwhile.
 */
export async function reconcileUpload(
  deps: UploadReconcileDeps,
  backupId: string,
): Promise<ReconciledUpload | UnreconciledUpload | undefined> {
  const session = await deps.db.connect();
  let broken: Error | undefined;
  try {
    if (!(await tryLockUpload(session, backupId))) return undefined;
    try {
      const upload = await findRunningUpload(session, backupId);
      return upload && (await clearAbandoned(deps, session, upload));
    } finally {
      await unlockUpload(session, backupId);
    }
  } catch (error) {
    broken = error as Error;
    throw error;
  } finally {
    // A session whose unlock may not have run must not go back to the pool still holding the lock.
    session.release(broken);
  }
}

/** One pass over every running upload: those reconciled, and those whose objects could not all be removed. */
export async function reconcileUploads(
  deps: UploadReconcileDeps,
): Promise<{ reconciled: ReconciledUpload[]; unreconciled: UnreconciledUpload[] }> {
  const reconciled: ReconciledUpload[] = [];
  const unreconciled: UnreconciledUpload[] = [];
  for (const { backupId } of await listRunningUploads(deps.db)) {
    const outcome = await reconcileUpload(deps, backupId);
    if (outcome && 'problem' in outcome) unreconciled.push(outcome);
    else if (outcome) reconciled.push(outcome);
  }
  return { reconciled, unreconciled };
}

/** Whether a process of that pid exists (EPERM: it does, under another user). */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the staging directories in `stagingDir` that no live upload owns; the names of those removed.
 * Called as the API starts, before it serves: none of this process's own can be live then, and a directory
 * named after a pid that exists is another API's (sharing the directory on one host) and stays. API
 * processes in different pid namespaces (containers) must not share the directory.
 */
export async function removeAbandonedStagingDirs(
  stagingDir: string,
  isAlive: (pid: number) => boolean = processExists,
): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(stagingDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(stagingDirPrefix)) continue;
    const pid = stagingDirOwnerPid(name);
    if (pid !== undefined && pid !== process.pid && isAlive(pid)) continue;
    await rm(path.join(stagingDir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}
