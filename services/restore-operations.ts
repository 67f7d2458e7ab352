// Restores under way and ended, as the API shows and steers them: live progress, cancel, approve.
import { currentOrLastRestores, getRestoreOperation, type RestoreOperation } from '../catalog/restores.ts';
import { LifeboatError } from '../domain/errors.ts';
import type { ApprovalResult } from '../workflows/restore-messages.ts';
import { approveUpdate, restoreProgressQuery } from '../workflows/restore-messages.ts';
import type { ServiceDeps } from './deps.ts';
import { queryWithin } from './live-progress.ts';
import { lifeboatErrorOf } from './restores.ts';

/** The operation with live progress from its workflow; null once it ended or when it cannot answer in time. */
async function withProgress(deps: ServiceDeps, operation: RestoreOperation) {
  const progress = operation.finishedAt
    ? null
    : await queryWithin(deps, operation.workflowId, restoreProgressQuery);
  return { ...operation, progress };
}

export async function describeRestore(deps: ServiceDeps, operationId: string) {
  return withProgress(deps, await getRestoreOperation(deps.db, operationId));
}

/** Per target, the restore in progress (with live progress) or the last one. */
export async function restoresByTarget(deps: ServiceDeps, target: string | undefined) {
  const operations = await currentOrLastRestores(deps.db, target);
  return Promise.all(operations.map((operation) => withProgress(deps, operation)));
}

/** Asks a running restore to cancel; its workflow rolls back what it changed. */
export async function cancelRestore(deps: ServiceDeps, operationId: string): Promise<RestoreOperation> {
  const operation = await getRestoreOperation(deps.db, operationId);
  if (operation.finishedAt) {
    throw new LifeboatError('CONFLICT', `Restore ${operation.id} has already ended (${operation.status}).`);
  }
  await deps.temporal.workflow.getHandle(operation.workflowId).cancel();
  return operation;
}

/** Approves a restore that waits for approval; the workflow refuses the admin who asked for it. */
export async function approveRestore(
  deps: ServiceDeps,
  operationId: string,
  approver: string,
): Promise<ApprovalResult> {
  const operation = await getRestoreOperation(deps.db, operationId);
  if (operation.status !== 'awaiting_approval') {
    throw new LifeboatError(
      'CONFLICT',
      `Restore ${operation.id} is ${operation.status}, not awaiting approval.`,
    );
  }
  try {
    return await deps.temporal.workflow
      .getHandle(operation.workflowId)
      .executeUpdate(approveUpdate, { args: [{ approver }] });
  } catch (error) {
    throw lifeboatErrorOf(error);
  }
}
