// The objects one backup owns in storage: the archive and its two sidecars.
import { manifestSidecarKey, md5SidecarKey } from '../domain/naming.ts';
import type { Storage } from './storage.ts';

/** Removes the archive first and its sidecars after; idempotent, so a retry finishes the job. */
export async function removeBackupObjects(storage: Storage, archiveKey: string): Promise<void> {
  await storage.delete(archiveKey);
  await storage.delete(manifestSidecarKey(archiveKey));
  await storage.delete(md5SidecarKey(archiveKey));
}
