// Targets as people change them: checked input in, the catalog's rows out; passwords never returned.
import {
  createTarget as insertTarget,
  deleteTarget,
  getTarget,
  updateTarget,
  type Target,
} from '../catalog/targets.ts';
import { LifeboatError } from '../domain/errors.ts';
import { resolveTargetInput, type ResolvedTargetInput, type TargetInput } from '../domain/target.ts';
import type { ServiceDeps } from './deps.ts';

function resolveOrThrow(input: TargetInput): ResolvedTargetInput {
  const resolved = resolveTargetInput(input);
  if (!resolved.ok) {
    throw new LifeboatError('VALIDATION_FAILED', `${resolved.field}: ${resolved.message}`, {
      field: resolved.field,
    });
  }
  return resolved.value;
}

export async function createTarget(deps: ServiceDeps, input: TargetInput): Promise<Target> {
  return insertTarget(deps.db, deps.secrets, resolveOrThrow(input));
}

/** Replaces a target; without password, passwordEnv or a password in the URL, the stored one is kept. */
export async function replaceTarget(
  deps: ServiceDeps,
  idOrName: string,
  input: TargetInput,
): Promise<Target> {
  const existing = await getTarget(deps.db, idOrName);
  const resolved = resolveOrThrow(input);
  const keepPassword = !input.password && !input.passwordEnv && !input.url?.includes('@');
  return updateTarget(deps.db, deps.secrets, existing.id, resolved, keepPassword);
}

/** Deletes a target that has no backups left (CONFLICT otherwise). */
export async function removeTarget(deps: ServiceDeps, idOrName: string): Promise<void> {
  const existing = await getTarget(deps.db, idOrName);
  await deleteTarget(deps.db, existing.id);
}
