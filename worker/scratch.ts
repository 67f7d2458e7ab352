// A starting worker's scratch directory: what runs that ended left behind goes, what open runs need stays.
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { runningBackupIds, unfinishedRestoreIds } from '../catalog/scratch.ts';

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Removes the scratch files of runs that have ended and keeps those of runs still open, so that a worker
 * restarted under the same id (systemd, Kubernetes) resumes a backup's archive or upload step where its
 * files are. Backups keep `<backupId>/`, restores `restore-<operationId>/`; everything else goes, the
 * extracted-archive cache too (it lives in memory, and an open restore fetches and verifies its archive
 * again). `keep` names files that stay whatever they are (the workflow bundle built into the work dir).
 * Returns the names it kept.
 */
export async function sweepScratch(
  workDir: string,
  db: pg.Pool,
  keep: readonly string[] = [],
): Promise<string[]> {
  await mkdir(workDir, { recursive: true, mode: 0o700 });
  const names = await readdir(workDir);
  const backupIds = names.filter((name) => uuid.test(name));
  const operationIds = names
    .filter((name) => name.startsWith('restore-') && uuid.test(name.slice('restore-'.length)))
    .map((name) => name.slice('restore-'.length));
  const running = await runningBackupIds(db, backupIds);
  const unfinished = await unfinishedRestoreIds(db, operationIds);
  const kept = [
    ...keep.filter((name) => names.includes(name)),
    ...backupIds.filter((id) => running.has(id)),
    ...operationIds.filter((id) => unfinished.has(id)).map((id) => `restore-${id}`),
  ];
  for (const name of names) {
    if (!kept.includes(name)) await rm(path.join(workDir, name), { recursive: true, force: true });
  }
  return kept;
}
