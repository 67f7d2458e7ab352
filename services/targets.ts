// Targets as people change them: checked input in, the catalog's rows out; passwords never returned.
import {
  createTarget as insertTarget,
  deleteTarget,
  getTarget,
  updateTarget,
  type Target,
} from '../catalog/targets.ts';
import { allowedDocumentsDir, realPathOf } from '../archive/documents-dir.ts';
import { envNameProblem, type AccessPolicy } from '../domain/access-policy.ts';
import { LifeboatError } from '../domain/errors.ts';
import { isLocalStorageUrl, storageUrlEnvNames } from '../domain/storage-url.ts';
import { resolveTargetInput, type ResolvedTargetInput, type TargetInput } from '../domain/target.ts';
import type { ServiceDeps } from './deps.ts';

function refuse(field: string, message: string): never {
  throw new LifeboatError('VALIDATION_FAILED', `${field}: ${message}`, { field });
}

/** Refuses (VALIDATION_FAILED on `field`) a storage URL whose *Env parameters name variables the policy does not allow. */
export function checkStorageCredentialNames(access: AccessPolicy, url: string, field: string): void {
  for (const { parameter, name } of storageUrlEnvNames(url)) {
    const problem = envNameProblem(name, access.storageEnv);
    if (problem) refuse(field, `${parameter}: ${problem}`);
  }
}

/**
 * The input checked in full: complete, and pointing only where the policy allows — credentials in
 * variables with the configured prefixes, documents under the allowed roots (links resolved).
 */
function resolveOrThrow(input: TargetInput, access: AccessPolicy): ResolvedTargetInput {
  const resolved = resolveTargetInput(input);
  if (!resolved.ok) refuse(resolved.field, resolved.message);
  const target = resolved.value;
  if (target.password.kind === 'env') {
    const problem = envNameProblem(target.password.name, access.targetEnv);
    if (problem) refuse('passwordEnv', problem);
  }
  for (const url of target.destinations ?? []) checkStorageCredentialNames(access, url, 'destinations');
  if (target.documentsDir !== null) {
    // Nor the target's own local destinations: its backups would archive, or a restore replace, themselves.
    const destinations = (target.destinations ?? [])
      .filter(isLocalStorageUrl)
      .map((url) => realPathOf(decodeURIComponent(new URL(url).pathname)));
    allowedDocumentsDir(target.documentsDir, {
      ...access.documents,
      own: [...access.documents.own, ...destinations],
    });
  }
  return target;
}

export async function createTarget(deps: ServiceDeps, input: TargetInput): Promise<Target> {
  return insertTarget(deps.db, deps.secrets, resolveOrThrow(input, deps.access));
}

/**
 * Replaces a target. Without password, passwordEnv or a password in the URL, the stored one is kept —
 * unless the host, port or user changed (updateTarget decides in the same statement): a password is never
 * sent to a server it was not given for, so it is dropped then and has to be given again.
 */
export async function replaceTarget(
  deps: ServiceDeps,
  idOrName: string,
  input: TargetInput,
): Promise<Target> {
  const existing = await getTarget(deps.db, idOrName);
  const resolved = resolveOrThrow(input, deps.access);
  return updateTarget(deps.db, deps.secrets, existing.id, resolved, resolved.password.kind === 'none');
}

/** Deletes a target that has no backups left (CONFLICT otherwise). */
export async function removeTarget(deps: ServiceDeps, idOrName: string): Promise<void> {
  const existing = await getTarget(deps.db, idOrName);
  await deleteTarget(deps.db, existing.id);
}
