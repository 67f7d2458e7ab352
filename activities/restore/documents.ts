// The documents tree: the backup's staged beside it and swapped in, the previous kept until the end or put back.
import { existsSync } from 'node:fs';
import { chmod, chown, copyFile, mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { allowedDocumentsDir } from '../../archive/documents-dir.ts';
import { listDocuments } from '../../archive/write.ts';
import { restorePercent, type RestoreProgressUpdate } from '../../domain/restore/progress.ts';
import { restoreProgressSignal } from '../../workflows/restore-messages.ts';
import type { ActivityDeps } from '../deps.ts';
import { startPulse } from '../pulse.ts';
import { operationIdentities } from './access.ts';
import { restoreHolder, type ArchiveCache, type ExtractedArchive } from './archive-cache.ts';

/** Sibling paths of a documents directory, on its file system so that renames are atomic. */
function documentPaths(documentsDir: string, operationId: string) {
  const parent = path.dirname(documentsDir);
  const base = path.basename(documentsDir);
  return {
    staged: path.join(parent, `.${base}.lifeboat-staged-${operationId}`),
    old: path.join(parent, `.${base}.lifeboat-old-${operationId}`),
    discarded: path.join(parent, `.${base}.lifeboat-discarded-${operationId}`),
  };
}

/** Copies the documents of an unpacked archive into `staged`, owned and permitted like `like`. */
async function stageDocuments(
  extracted: ExtractedArchive,
  staged: string,
  like: string | null,
): Promise<number> {
  const reference = like && existsSync(like) ? await stat(like) : undefined;
  const dirMode = reference ? reference.mode & 0o7777 : 0o755;
  const fileMode = dirMode & 0o666;
  const owner =
    reference && process.getuid?.() === 0 ? { uid: reference.uid, gid: reference.gid } : undefined;
  await rm(staged, { recursive: true, force: true });
  await mkdir(staged, { mode: dirMode });
  const made = new Set([staged]);
  let count = 0;
  for (const [name, source] of Object.entries(extracted.files)) {
    if (!name.startsWith('documents/')) continue;
    const target = path.join(staged, ...name.slice('documents/'.length).split('/'));
    const parents: string[] = [];
    for (let dir = path.dirname(target); !made.has(dir); dir = path.dirname(dir)) parents.unshift(dir);
    for (const dir of parents) {
      await mkdir(dir, { mode: dirMode });
      if (owner) await chown(dir, owner.uid, owner.gid);
      made.add(dir);
    }
    await copyFile(source, target);
    await chmod(target, fileMode);
    if (owner) await chown(target, owner.uid, owner.gid);
    count++;
  }
  await chmod(staged, dirMode);
  if (owner) await chown(staged, owner.uid, owner.gid);
  return count;
}

export function createDocumentRestoreActivities(deps: ActivityDeps, archives: ArchiveCache) {
  return {
    /**
     * Stages the backup's documents beside the documents directory, then swaps: the current tree is
     * renamed aside (kept until the restore succeeds) and the staged one takes its place. A retry after
     * a swap that got halfway finishes it instead of starting over.
     */
    async restoreDocuments(request: {
      operationId: string;
      workflowId: string;
      backupId: string;
      documentsDir: string;
    }): Promise<{ files: number }> {
      const { documentsDir, operationId } = request;
      // Checked again where the files are written: the policy may have changed since the API's check.
      allowedDocumentsDir(documentsDir, deps.documents);
      const paths = documentPaths(documentsDir, operationId);
      if (existsSync(paths.old)) {
        if (!existsSync(documentsDir)) await rename(paths.staged, documentsDir);
        return { files: (await listDocuments(documentsDir, deps.documents)).length };
      }
      const stopPulse = startPulse(
        deps,
        request.workflowId,
        restoreProgressSignal,
        (): RestoreProgressUpdate => ({
          step: 'restore-documents',
          bytes: 0,
          percent: restorePercent('restore-documents', 0.5),
        }),
        { restoreId: operationId },
      );
      try {
        const { archive } = await archives.hold({
          backupId: request.backupId,
          holder: restoreHolder(operationId),
          identities: operationIdentities(deps, operationId),
        });
        const files = await stageDocuments(archive, paths.staged, documentsDir);
        if (existsSync(documentsDir)) await rename(documentsDir, paths.old);
        await rename(paths.staged, documentsDir);
        return { files };
      } finally {
        stopPulse();
      }
    },

    /**
     * Puts the documents back as they were before the restore: the tree kept aside when there is one,
     * else (it vanished) the safety backup's documents. Idempotent.
     */
    async rollbackDocuments(request: {
      operationId: string;
      workflowId: string;
      documentsDir: string;
      safetyBackupId: string | null;
    }): Promise<{ outcome: 'previous-tree' | 'safety-backup' | 'nothing-to-undo' }> {
      const { documentsDir, operationId } = request;
      const paths = documentPaths(documentsDir, operationId);
      await rm(paths.staged, { recursive: true, force: true });
      if (existsSync(paths.old)) {
        if (existsSync(documentsDir)) await rename(documentsDir, paths.discarded);
        await rename(paths.old, documentsDir);
        await rm(paths.discarded, { recursive: true, force: true });
        return { outcome: 'previous-tree' };
      }
      if (!request.safetyBackupId) return { outcome: 'nothing-to-undo' };
      const { archive } = await archives.hold({
        backupId: request.safetyBackupId,
        holder: restoreHolder(operationId),
        identities: operationIdentities(deps, operationId),
      });
      await stageDocuments(archive, paths.staged, documentsDir);
      if (existsSync(documentsDir)) await rename(documentsDir, paths.discarded);
      await rename(paths.staged, documentsDir);
      await rm(paths.discarded, { recursive: true, force: true });
      return { outcome: 'safety-backup' };
    },

    /** Removes the documents tree kept aside, once the restore has succeeded. */
    async finishDocuments(request: { operationId: string; documentsDir: string }): Promise<void> {
      const paths = documentPaths(request.documentsDir, request.operationId);
      await rm(paths.old, { recursive: true, force: true });
      await rm(paths.staged, { recursive: true, force: true });
    },
  };
}
