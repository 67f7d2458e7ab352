// Starts a backup: a catalog row first (so it is visible at once), then the workflow that owns it.
import { randomUUID } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { insertRunningBackup, markBackupEnded } from '../catalog/backups.ts';
import type { Target } from '../catalog/targets.ts';
import { LifeboatError } from '../domain/errors.ts';
import { backupWorkflowId } from '../domain/naming.ts';
import { statusAttribute, targetAttribute, triggerAttribute } from '../domain/search-attributes.ts';
import type { backupWorkflow, BackupWorkflowInput } from '../workflows/backup.ts';
import type { ApiDeps } from '../api/context.ts';

export interface BackupOrder {
  target: Target;
  trigger: 'manual';
  requestedBy: string;
  displayName: string | null;
  description: string | null;
  tags: string[];
  protected: boolean;
}

export async function startBackup(
  deps: ApiDeps,
  order: BackupOrder,
): Promise<{ backupId: string; workflowId: string }> {
  const backupId = randomUUID();
  const startedAt = new Date();
  const workflowId = backupWorkflowId(order.target.name, startedAt, backupId);
  const input: BackupWorkflowInput = {
    backupId,
    targetId: order.target.id,
    trigger: order.trigger,
    requestedBy: order.requestedBy,
    displayName: order.displayName,
    description: order.description,
    tags: order.tags,
    protected: order.protected,
    startedAt: startedAt.toISOString(),
  };
  await insertRunningBackup(deps.db, {
    ...input,
    id: backupId,
    startedAt: startedAt.toISOString(),
    targetName: order.target.name,
    workflowId,
  });
  try {
    await deps.temporal.workflow.start<typeof backupWorkflow>('backupWorkflow', {
      taskQueue: deps.taskQueue,
      workflowId,
      args: [input],
      typedSearchAttributes: [
        { key: targetAttribute, value: order.target.name },
        { key: triggerAttribute, value: order.trigger },
        { key: statusAttribute, value: 'running' },
      ],
      staticSummary: `Backup of ${order.target.name} (${order.trigger})`,
    });
  } catch (error) {
    const message =
      error instanceof WorkflowExecutionAlreadyStartedError
        ? 'A backup with this id is already running.'
        : `Temporal did not accept the backup: ${(error as Error).message}`;
    await markBackupEnded(deps.db, backupId, {
      status: 'failed',
      errorCode: 'TEMPORAL_UNAVAILABLE',
      errorMessage: message,
      finishedAt: new Date().toISOString(),
    });
    throw new LifeboatError('TEMPORAL_UNAVAILABLE', message);
  }
  return { backupId, workflowId };
}
