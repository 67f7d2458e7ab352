// Previews and starts restores: resolves the request against the catalog, issues and checks confirmation
// tokens, records the operation (which takes the database's lock) and starts the workflow that owns it.
import { randomUUID } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { getBackup, type Backup } from '../catalog/backups.ts';
import { closePreview, consumedPreview, issueConfirmationToken } from '../catalog/restore-tokens.ts';
import {
  createRestoreOperation,
  finishRestoreOperation,
  findUnfinishedRestore,
  type RestoreOperation,
} from '../catalog/restores.ts';
import { getSettings } from '../catalog/settings.ts';
import { getTarget, type Target } from '../catalog/targets.ts';
import type { TokenIdentity } from '../catalog/tokens.ts';
import { allowedDocumentsDir } from '../archive/documents-dir.ts';
import { restoreDestinationProblem } from '../domain/access-policy.ts';
import { LifeboatError } from '../domain/errors.ts';
import { describeFailure } from '../workflows/failure.ts';
import { compactUtcTimestamp } from '../domain/naming.ts';
import {
  confirmationBinding,
  destinationLockKey,
  resolveRestoreOptions,
  type RestoreDestination,
  type RestoreMode,
  type RestoreOptions,
} from '../domain/restore/options.ts';
import type { RestorePreview } from '../domain/restore/preview.ts';
import type { RestoreMethod } from '../domain/restore/swap.ts';
import { statusAttribute, targetAttribute, triggerAttribute } from '../domain/search-attributes.ts';
import type { restorePreviewWorkflow } from '../workflows/restore-preview.ts';
import type { restoreWorkflow, RestoreWorkflowInput } from '../workflows/restore.ts';
import type { ServiceDeps } from './deps.ts';
import { reconcileRestore } from './restore-reconcile.ts';

export interface RestoreRequestBody {
  mode: RestoreMode;
  tables?: string[] | undefined;
  /** Default: the backup's own target. `database` alone: a new database on that target's server. */
  destination?: { target?: string | undefined; database?: string | undefined } | undefined;
  documents?: boolean | undefined;
  noOwner?: boolean | undefined;
  terminateConnections?: boolean | undefined;
  /** How a full restore into a target replaces its database; default auto (by swap where possible). */
  method?: RestoreMethod | undefined;
  /** An age identity for an encrypted backup; sealed at once, never stored or sent in clear. */
  identity?: string | undefined;
}

interface ResolvedRestore {
  backup: Backup;
  target: Target;
  destination: RestoreDestination;
  options: RestoreOptions;
  documentsDir: string | null;
  binding: string;
  lockKey: string;
}

/** The request in catalog terms, with its defaults, and the text a confirmation token is bound to. */
async function resolveRestore(
  deps: ServiceDeps,
  backupId: string,
  body: RestoreRequestBody,
): Promise<ResolvedRestore> {
  const backup = await getBackup(deps.db, backupId);
  if (backup.status !== 'completed') {
    throw new LifeboatError(
      'CONFLICT',
      `Backup ${backup.id} is ${backup.status}; only a completed backup can be restored.`,
    );
  }
  if (backup.trashedAt) {
    throw new LifeboatError('CONFLICT', `Backup ${backup.id} is in the trash; undelete it to restore it.`);
  }
  const target = await getTarget(deps.db, body.destination?.target ?? backup.targetId);
  const newDatabase = body.destination?.database;
  if (newDatabase !== undefined && !/^[^\0]{1,63}$/.test(newDatabase)) {
    throw new LifeboatError('VALIDATION_FAILED', 'destination.database: 1 to 63 characters.', {
      field: 'destination.database',
    });
  }
  const destination: RestoreDestination =
    newDatabase !== undefined && newDatabase !== target.connection.database
      ? { kind: 'new-database', targetId: target.id, targetName: target.name, database: newDatabase }
      : {
          kind: 'target',
          targetId: target.id,
          targetName: target.name,
          database: target.connection.database,
        };
  const refused = restoreDestinationProblem(
    { host: target.connection.host, port: target.connection.port, database: destination.database },
    deps.access.catalog,
  );
  if (refused) {
    throw new LifeboatError('VALIDATION_FAILED', `destination: ${refused}.`, { field: 'destination' });
  }
  const documentsDir = destination.kind === 'target' ? target.documentsDir : null;
  const resolved = resolveRestoreOptions(body, {
    backupHasDocuments: (backup.manifest?.documents?.fileCount ?? 0) > 0,
    destinationDocumentsDir: documentsDir,
  });
  if (!resolved.ok) {
    // Documents the backup does not hold are a conflict with what is there, not malformed input.
    throw new LifeboatError(
      resolved.conflict ? 'CONFLICT' : 'VALIDATION_FAILED',
      `${resolved.field}: ${resolved.message}`,
      {
        field: resolved.field,
      },
    );
  }
  const restoredDocumentsDir = resolved.value.documents ? documentsDir : null;
  // Documents are written only where the policy allows now, whatever it allowed when the target was made.
  if (restoredDocumentsDir !== null) allowedDocumentsDir(restoredDocumentsDir, deps.access.documents);
  return {
    backup,
    target,
    destination,
    options: resolved.value,
    documentsDir: restoredDocumentsDir,
    binding: confirmationBinding(backup.id, destination, resolved.value, {
      host: target.connection.host,
      port: target.connection.port,
      documentsDir: restoredDocumentsDir,
    }),
    lockKey: destinationLockKey(target.connection, destination.database),
  };
}

/** The Lifeboat error inside a workflow or update failure, with its code, else TEMPORAL_UNAVAILABLE. */
export function lifeboatErrorOf(error: unknown): LifeboatError {
  const failure = describeFailure(error, 'TEMPORAL_UNAVAILABLE');
  return new LifeboatError(failure.code, failure.message, failure.details);
}

export type PreviewResponse = RestorePreview & { confirmationToken: string; expiresAt: string };

/**
 * How long past its token's expiry the preview's worker keeps the extracted archive: a restore confirmed
 * at the last moment still finds it there when its first step arrives.
 */
const archiveGraceMs = 2 * 60_000;

/**
 * Runs the preview on a worker and issues a confirmation token bound to exactly this request. The token
 * is stored before the preview runs (so the worker can read the sealed identity it carries) and dropped
 * again when the preview fails; when it succeeds, it keeps the worker that holds the extracted archive.
 */
export async function previewRestore(
  deps: ServiceDeps,
  backupId: string,
  body: RestoreRequestBody,
  caller: TokenIdentity,
): Promise<PreviewResponse> {
  const resolved = await resolveRestore(deps, backupId, body);
  const issued = await issueConfirmationToken(deps.db, {
    backupId: resolved.backup.id,
    binding: resolved.binding,
    createdBy: caller.name,
    identityCiphertext: body.identity ? deps.secrets.seal(body.identity) : null,
  });
  let described: Awaited<ReturnType<typeof restorePreviewWorkflow>>;
  try {
    described = await deps.temporal.workflow.execute<typeof restorePreviewWorkflow>(
      'restorePreviewWorkflow',
      {
        taskQueue: deps.taskQueue,
        workflowId: `restore-preview/${resolved.destination.targetName}/${issued.previewId}`,
        // A preview older than its token's 10 minutes is worth nothing; nor is an answer that never comes
        // because no worker polls.
        workflowExecutionTimeout: '10m',
        args: [
          {
            previewId: issued.previewId,
            backupId: resolved.backup.id,
            destination: resolved.destination,
            options: resolved.options,
            documentsDir: resolved.documentsDir,
            keepArchiveUntil: new Date(Date.parse(issued.expiresAt) + archiveGraceMs).toISOString(),
          },
        ],
        staticSummary: `Restore preview of backup ${resolved.backup.id} into ${resolved.destination.targetName}`,
      },
    );
  } catch (error) {
    await closePreview(deps.db, issued.previewId, { succeeded: false });
    throw lifeboatErrorOf(error);
  }
  await closePreview(deps.db, issued.previewId, { succeeded: true, archiveQueue: described.archiveQueue });
  return { ...described.preview, confirmationToken: issued.token, expiresAt: issued.expiresAt };
}

/** `restore/<target>/<UTC time>-<id8>`: sorts by time in the Web UI, like the backups' ids. */
export function restoreWorkflowId(targetName: string, at: Date, operationId: string): string {
  return `restore/${targetName}/${compactUtcTimestamp(at)}-${operationId.replace(/-/g, '').slice(0, 8)}`;
}

/**
 * Records the operation with the token consumed, then starts its workflow. A lock held by an operation
 * that no workflow will finish (its API died before the start, or its workflow was terminated from the
 * Web UI) is released first, once, as reconciliation would: recorded as INTERRUPTED.
 */
export async function startRestore(
  deps: ServiceDeps,
  backupId: string,
  body: RestoreRequestBody & { confirmationToken?: string | undefined },
  caller: TokenIdentity,
): Promise<{ operationId: string; workflowId: string }> {
  if (!body.confirmationToken) {
    throw new LifeboatError(
      'CONFIRMATION_INVALID',
      'A restore needs the confirmationToken of a preview of exactly this request.',
      { reason: 'missing' },
    );
  }
  const resolved = await resolveRestore(deps, backupId, body);
  const settings = await getSettings(deps.db);
  const approval = settings.restoreApproval;
  const approvalApplies =
    approval.required &&
    (approval.targets === null || approval.targets.includes(resolved.destination.targetName));
  const operationId = randomUUID();
  const now = new Date();
  const workflowId = restoreWorkflowId(resolved.destination.targetName, now, operationId);
  const record = () =>
    createRestoreOperation(deps.db, body.confirmationToken!, resolved.binding, {
      id: operationId,
      workflowId,
      backupId: resolved.backup.id,
      sourceTargetName: resolved.backup.targetName,
      destination: resolved.destination,
      lockKey: resolved.lockKey,
      options: resolved.options,
      requestedBy: caller.owner,
      identityCiphertext: body.identity ? deps.secrets.seal(body.identity) : null,
    });
  let operation: RestoreOperation;
  try {
    operation = await record();
  } catch (error) {
    const holder =
      error instanceof LifeboatError && error.code === 'CONFLICT'
        ? await findUnfinishedRestore(deps.db, resolved.lockKey)
        : undefined;
    if (!holder || !(await reconcileRestore(deps, holder))) throw error;
    operation = await record();
  }
  const input: RestoreWorkflowInput = {
    operationId: operation.id,
    backupId: resolved.backup.id,
    destination: resolved.destination,
    options: resolved.options,
    documentsDir: resolved.documentsDir,
    // The workflow refuses an approver equal to this: both are token owners, not token names.
    requestedBy: caller.owner,
    approval: approvalApplies
      ? { required: true, timeoutMs: Math.round(approval.timeoutMinutes * 60_000) }
      : null,
    preview: (await consumedPreview(deps.db, operation.id)) ?? null,
    keepAsideHours: settings.safetyRetentionHours,
  };
  try {
    await deps.temporal.workflow.start<typeof restoreWorkflow>('restoreWorkflow', {
      taskQueue: deps.taskQueue,
      workflowId,
      args: [input],
      typedSearchAttributes: [
        { key: targetAttribute, value: resolved.destination.targetName },
        { key: triggerAttribute, value: 'restore' },
        { key: statusAttribute, value: 'running' },
      ],
      staticSummary: `Restore of backup ${resolved.backup.id} into ${resolved.destination.targetName} (${resolved.options.mode})`,
    });
  } catch (error) {
    const message =
      error instanceof WorkflowExecutionAlreadyStartedError
        ? 'A restore with this id is already running.'
        : `Temporal did not accept the restore: ${(error as Error).message}`;
    await finishRestoreOperation(deps.db, operation.id, {
      status: 'failed',
      errorCode: 'TEMPORAL_UNAVAILABLE',
      errorMessage: message,
      rollback: null,
      result: null,
    });
    throw new LifeboatError('TEMPORAL_UNAVAILABLE', message);
  }
  return { operationId: operation.id, workflowId };
}
