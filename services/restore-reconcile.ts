// Reconciliation of restore operations that no workflow will ever finish: recorded by an API that died
// before it started the workflow, or left by a workflow terminated from outside. Each is recorded as failed
// (INTERRUPTED), which releases its database's lock and wipes its sealed identity.
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type pg from 'pg';
import {
  finishRestoreOperation,
  listUnfinishedRestores,
  type RestoreEnding,
  type RestoreOperation,
} from '../catalog/restores.ts';

/**
 * How old a row without a workflow must be before it counts as abandoned: the API records the operation
 * and then starts its workflow, so a younger row may be one whose start is still on its way.
 */
export const reconcileGraceMs = 2 * 60_000;

export interface ReconcileDeps {
  db: pg.Pool;
  temporal: Client;
}

export interface ReconcileOptions {
  /** Default: the clock; tests move it past the grace instead of waiting. */
  now?: Date | undefined;
  graceMs?: number | undefined;
}

/** What Temporal says of an operation's workflow; `unknown` when it cannot be asked (then nothing is decided). */
export type WorkflowState =
  { kind: 'running' } | { kind: 'closed'; status: string } | { kind: 'missing' } | { kind: 'unknown' };

export async function workflowState(client: Client, workflowId: string): Promise<WorkflowState> {
  try {
    const { status } = await client.workflow.getHandle(workflowId).describe();
    return status.name === 'RUNNING' ? { kind: 'running' } : { kind: 'closed', status: status.name };
  } catch (error) {
    return error instanceof WorkflowNotFoundError ? { kind: 'missing' } : { kind: 'unknown' };
  }
}

/**
 * How an unfinished operation is to be recorded given its workflow's state, or null to leave it alone: a
 * running workflow records its own ending; a missing one may still be starting within the grace; a closed
 * one can no longer write anything, whatever its age.
 */
export function interruptedEnding(
  operation: Pick<RestoreOperation, 'createdAt' | 'targetName' | 'workflowId' | 'safetyBackupId'>,
  state: WorkflowState,
  now: Date,
  graceMs: number,
): RestoreEnding | null {
  if (state.kind === 'missing') {
    if (now.getTime() - Date.parse(operation.createdAt) < graceMs) return null;
    return {
      status: 'failed',
      errorCode: 'INTERRUPTED',
      errorMessage:
        `The API stopped before the restore's workflow started: nothing was changed, and the lock on ` +
        `${operation.targetName} is released. Preview again to restore.`,
      rollback: { status: 'not_needed', code: null, message: 'Nothing had been changed.' },
      result: null,
    };
  }
  if (state.kind === 'closed') {
    // Whatever the workflow changed before it was stopped is unknown here, so the safety backup it took
    // stays protected: it is what the database may have to come back from.
    const safety = operation.safetyBackupId
      ? ` Safety backup ${operation.safetyBackupId} stays protected; check the database before releasing it.`
      : '';
    return {
      status: 'failed',
      errorCode: 'INTERRUPTED',
      errorMessage:
        `Its workflow ${operation.workflowId} ended (${state.status}) without recording how the restore ` +
        `went; the lock on ${operation.targetName} is released.${safety}`,
      rollback: null,
      result: null,
    };
  }
  return null;
}

/** Records one operation as interrupted if its workflow is gone; true when this call recorded it. */
export async function reconcileRestore(
  deps: ReconcileDeps,
  operation: RestoreOperation,
  options: ReconcileOptions = {},
): Promise<boolean> {
  if (operation.finishedAt) return false;
  const state = await workflowState(deps.temporal, operation.workflowId);
  const ending = interruptedEnding(
    operation,
    state,
    options.now ?? new Date(),
    options.graceMs ?? reconcileGraceMs,
  );
  return ending ? finishRestoreOperation(deps.db, operation.id, ending) : false;
}

export interface ReconciledRestore {
  operationId: string;
  workflowId: string;
  targetName: string;
}

/** One pass over every unfinished operation; the ones it recorded as interrupted. */
export async function reconcileRestores(
  deps: ReconcileDeps,
  options: ReconcileOptions = {},
): Promise<ReconciledRestore[]> {
  const reconciled: ReconciledRestore[] = [];
  for (const operation of await listUnfinishedRestores(deps.db)) {
    if (await reconcileRestore(deps, operation, options)) {
      reconciled.push({
        operationId: operation.id,
        workflowId: operation.workflowId,
        targetName: operation.targetName,
      });
    }
  }
  return reconciled;
}

/**
 * Runs a pass now and then every `intervalMs` (a pass still going is not overlapped) until `stop`; each
 * pass's outcome goes to `report`. The timer does not keep the process alive.
 */
export function startRestoreReconciler(
  deps: ReconcileDeps,
  intervalMs: number,
  report: (outcome: { reconciled: ReconciledRestore[] } | { error: unknown }) => void,
): { stop(): void } {
  let running = false;
  const pass = (): void => {
    if (running) return;
    running = true;
    reconcileRestores(deps)
      .then((reconciled) => report({ reconciled }))
      .catch((error: unknown) => report({ error }))
      .finally(() => {
        running = false;
      });
  };
  pass();
  const timer = setInterval(pass, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
