// Backups as the API and the activities both handle them: start, describe, cancel, trash and undelete,
// and delete everywhere (which only the retention sweep does, once a trashed backup's grace has passed).
import { randomUUID } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type pg from 'pg';
import {
  deleteBackupRow,
  getBackup,
  listBackupCopies,
  newestCompletedBackupId,
  trashBackupRow,
  untrashBackupRow,
  type Backup,
  type BackupCopy,
} from '../catalog/backups.ts';
import { unfinishedRestoresHolding } from '../catalog/restores.ts';
import { getSettings } from '../catalog/settings.ts';
import type { TokenIdentity } from '../catalog/tokens.ts';
import type { Target } from '../catalog/targets.ts';
import { LifeboatError } from '../domain/errors.ts';
import { backupWorkflowId } from '../domain/naming.ts';
import type { BackupProgress } from '../domain/progress.ts';
import { statusAttribute, targetAttribute, triggerAttribute } from '../domain/search-attributes.ts';
import type { StorageRegistry } from '../storage/registry.ts';
import type { backupWorkflow, BackupWorkflowInput } from '../workflows/backup.ts';
import { progressQuery, recordedUpdate } from '../workflows/messages.ts';
import { removeAllCopies } from './backup-copies.ts';
import type { ServiceDeps } from './deps.ts';
import { withVerification, type Verification } from './drills.ts';
import { queryWithin } from './live-progress.ts';

export interface BackupOrder {
  target: Target;
  trigger: 'manual';
  requestedBy: string;
  displayName: string | null;
  description: string | null;
  tags: string[];
  protected: boolean;
}

/** How long a start waits for the workflow to record its row before answering anyway. */
const recordedWaitMs = 15_000;

/**
 * Starts a backup workflow and waits until its first step has written the catalog row, so that the
 * backup is listed when the caller hears of it. The workflow is the row's only writer; if Temporal
 * refuses the start, nothing is recorded. With no worker polling, the answer comes after
 * `recordedWaitMs` and the row appears when a worker takes the run.
 */
export async function startBackup(
  deps: ServiceDeps,
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
  let handle;
  try {
    handle = await deps.temporal.workflow.start<typeof backupWorkflow>('backupWorkflow', {
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
    throw new LifeboatError('TEMPORAL_UNAVAILABLE', message);
  }
  let timer: NodeJS.Timeout | undefined;
  // A run that fails before its row exists ends in Temporal with its reason; the caller sees it there.
  await Promise.race([
    handle.executeUpdate(recordedUpdate).catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, recordedWaitMs);
    }),
  ]).finally(() => clearTimeout(timer));
  return { backupId, workflowId };
}

export interface BackupDetail extends Backup {
  copies: BackupCopy[];
  warnings: string[];
  /** Live progress while it runs; null when it ended or cannot answer in time. */
  progress: BackupProgress | null;
  /** Its newest finished restore drill; null when it was never drilled. */
  verification: Verification | null;
}

/** One warning per failed copy, each saying how many of the destinations hold the backup. */
export function copyWarnings(copies: readonly BackupCopy[]): string[] {
  const held = copies.filter((copy) => copy.status === 'completed').length;
  return copies
    .filter((copy) => copy.status === 'failed')
    .map(
      (copy) =>
        `The copy to ${copy.storageUrl} failed (${copy.errorCode}): ${copy.errorMessage} Only ` +
        `${held} of ${copies.length} destinations hold this backup.`,
    );
}

/** One backup with its copies, what is missing from them, and live progress while it runs. */
export async function describeBackup(deps: ServiceDeps, id: string): Promise<BackupDetail> {
  const backup = await getBackup(deps.db, id);
  const copies = await listBackupCopies(deps.db, backup.id);
  const warnings = copyWarnings(copies);
  const progress =
    backup.status === 'running' ? await queryWithin(deps, backup.workflowId, progressQuery) : null;
  const [verified] = await withVerification(deps.db, [backup]);
  return { ...verified!, copies, warnings, progress };
}

/** Asks a running backup's workflow to cancel; the workflow cleans up and records the ending. */
export async function cancelBackup(deps: ServiceDeps, id: string): Promise<Backup> {
  const backup = await getBackup(deps.db, id);
  if (backup.status !== 'running')
    throw new LifeboatError('CONFLICT', `Backup ${backup.id} is already ${backup.status}.`);
  await deps.temporal.workflow.getHandle(backup.workflowId).cancel();
  return backup;
}

/**
 * Removes a backup everywhere: every copy from storage first, then its catalog row, so that a failure
 * half-way (a locked object, storage down) leaves a row that still points at what is left. The one
 * function that removes a backup; its only caller is the retention sweep's purge of the trash.
 */
export async function deleteBackup(
  deps: { db: pg.Pool; storages: StorageRegistry },
  backup: Backup,
): Promise<void> {
  await removeAllCopies(deps, backup);
  await deleteBackupRow(deps.db, backup.id);
}

const dayMs = 86_400_000;

/** When a backup trashed now is purged: `deleteGraceDays` of the settings from now. */
export async function purgeAfterFromNow(db: pg.Pool, now: Date): Promise<Date> {
  return new Date(now.getTime() + (await getSettings(db, now)).deleteGraceDays * dayMs);
}

/** The guards a forced delete overrode, for the audit log. */
export type OverriddenGuard = 'protected' | 'newest';

/**
 * A person's request to delete: moves the backup to the trash, from where `undeleteBackup` brings it back
 * until the retention sweep purges it. Refused: for an operator unless `allowOperatorDelete`; a running
 * backup; one an unfinished restore reads or took as its safety backup (drills, when they come, hold
 * their backup the same way); and, unless an admin passes `force`, a protected backup (PROTECTED) or the
 * target's newest completed one (CONFLICT). Trashing a trashed backup changes nothing.
 */
export async function trashBackupOnRequest(
  deps: ServiceDeps,
  id: string,
  request: { caller: TokenIdentity | undefined; force: boolean; now?: Date },
): Promise<{ backup: Backup; overridden: OverriddenGuard[] }> {
  const now = request.now ?? new Date();
  const backup = await getBackup(deps.db, id);
  const settings = await getSettings(deps.db, now);
  const isAdmin = request.caller?.role === 'admin';
  if (!isAdmin && !settings.allowOperatorDelete) {
    throw new LifeboatError(
      'FORBIDDEN',
      'Only an admin may delete backups; the settings can allow operators (allowOperatorDelete).',
    );
  }
  if (backup.trashedAt) return { backup, overridden: [] };
  if (backup.status === 'running') {
    throw new LifeboatError('CONFLICT', 'The backup is still running; cancel it first.');
  }
  const holders = await unfinishedRestoresHolding(deps.db, backup.id);
  if (holders.length) {
    throw new LifeboatError(
      'CONFLICT',
      `Restore ${holders[0]!.id} (${holders[0]!.status}) uses this backup; it can be deleted once that restore has ended.`,
      { reason: 'in-use', restoreId: holders[0]!.id },
    );
  }
  const overridden: OverriddenGuard[] = [];
  const guard = (name: OverriddenGuard, error: LifeboatError) => {
    if (!request.force) throw error;
    if (!isAdmin) throw new LifeboatError('FORBIDDEN', `Only an admin may force this: ${error.message}`);
    overridden.push(name);
  };
  if (backup.protected) {
    guard(
      'protected',
      new LifeboatError('PROTECTED', 'The backup is protected; an admin may delete it with force=true.'),
    );
  }
  if (
    backup.status === 'completed' &&
    (await newestCompletedBackupId(deps.db, backup.targetId)) === backup.id
  ) {
    guard(
      'newest',
      new LifeboatError(
        'CONFLICT',
        `This is the newest completed backup of ${backup.targetName}; an admin may delete it with force=true.`,
        { reason: 'newest' },
      ),
    );
  }
  await trashBackupRow(deps.db, backup.id, {
    by: request.caller?.name ?? 'unknown',
    purgeAfter: await purgeAfterFromNow(deps.db, now),
  });
  return { backup: await getBackup(deps.db, backup.id), overridden };
}

/** Takes a backup out of the trash, as it was; CONFLICT when it is not there, NOT_FOUND once purged. */
export async function undeleteBackup(deps: ServiceDeps, id: string): Promise<Backup> {
  const backup = await getBackup(deps.db, id);
  if (!(await untrashBackupRow(deps.db, backup.id))) {
    throw new LifeboatError('CONFLICT', `Backup ${backup.id} is not in the trash.`);
  }
  return getBackup(deps.db, backup.id);
}
