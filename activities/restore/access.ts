// What the restore activities share: checked ids, the destination's credentials, the identities at hand.
import path from 'node:path';
import { readIdentityFile } from '../../archive/identity-file.ts';
import { recipientOf } from '../../archive/encryption.ts';
import { sealedRestoreIdentity } from '../../catalog/restores.ts';
import { getTarget, targetPassword } from '../../catalog/targets.ts';
import { LifeboatError } from '../../domain/errors.ts';
import { needsSafetyBackup, type RestoreDestination } from '../../domain/restore/options.ts';
import type { ActivityDeps } from '../deps.ts';

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `id` when it is a UUID (it names directories); VALIDATION_FAILED otherwise. */
export function checkId(id: string, what: string): string {
  if (!uuidPattern.test(id)) throw new LifeboatError('VALIDATION_FAILED', `Bad ${what} ${id}.`);
  return id;
}

/** The operation's own scratch directory on this worker. */
export function operationDir(deps: Pick<ActivityDeps, 'workDir'>, operationId: string): string {
  return path.join(deps.workDir, `restore-${checkId(operationId, 'operation id')}`);
}

/** The target a destination belongs to, its password, and the connection to the destination database. */
export async function destinationAccess(deps: ActivityDeps, destination: RestoreDestination) {
  const target = await getTarget(deps.db, destination.targetId);
  const password = await targetPassword(deps.db, deps.secrets, target.id, deps.readEnv);
  return { target, password, connection: { ...target.connection, database: destination.database } };
}

/**
 * The age identities that may open an encrypted archive: the one the request brought (sealed in the
 * catalog while the operation runs), then the worker's identity file, which a safety backup may need.
 */
export async function identities(deps: ActivityDeps, sealed: Promise<string | null>): Promise<string[]> {
  const given = await sealed;
  return [...(given ? [deps.secrets.open(given)] : []), ...(await readIdentityFile(deps.identityFile))];
}

/** The identities of a restore operation, read only when an archive is to be opened. */
export function operationIdentities(deps: ActivityDeps, operationId: string): () => Promise<string[]> {
  return () => identities(deps, sealedRestoreIdentity(deps.db, operationId));
}

/**
 * A restore into a target whose backups are encrypted can only be rolled back if one of the identities
 * at hand opens its safety backup: refused up front (DECRYPTION_FAILED) rather than found out while
 * rolling back.
 */
export async function requireSafetyBackupKey(
  deps: ActivityDeps,
  destination: RestoreDestination,
  available: string[],
): Promise<void> {
  if (!needsSafetyBackup(destination)) return;
  const target = await getTarget(deps.db, destination.targetId);
  const recipients = target.encryptionRecipients ?? [];
  if (!recipients.length) return;
  const opened = await Promise.all(available.map((identity) => recipientOf(identity)));
  if (opened.some((recipient) => recipients.includes(recipient))) return;
  throw new LifeboatError(
    'DECRYPTION_FAILED',
    `Target ${target.name} encrypts its backups, and none of the identities at hand (the request's, or ` +
      `LIFEBOAT_AGE_IDENTITY_FILE on the worker) belongs to its recipients: the safety backup taken before ` +
      'the restore could not be read back to roll it back. Give the identity of one of its recipients.',
  );
}
