// targetRetentionWorkflow: one target's retention, started after each of its backups and left to run alone.
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import { eventId } from '../domain/notifications/events.ts';
import type { RetentionOutcome } from '../services/retention.ts';
import { emitEvent } from './notify.ts';
import { bookkeepingOptions } from './options.ts';

const activities = proxyActivities<Activities>(bookkeepingOptions);

export interface TargetRetentionInput {
  targetId: string;
  /** The backup whose completion started this pass, for the reader of the history. */
  afterBackupId: string;
}

/** Plans and applies the target's policy; a failure ends this workflow as failed, with its code. */
export async function targetRetentionWorkflow(input: TargetRetentionInput): Promise<RetentionOutcome> {
  const outcome = await activities.applyRetention({ targetId: input.targetId });
  await emitRetentionRemoved(outcome, input.afterBackupId);
  return outcome;
}

/** retention.removed, when a pass moved backups to the trash; `pass` names the pass (a backup, a sweep). */
export async function emitRetentionRemoved(outcome: RetentionOutcome, pass: string): Promise<void> {
  if (outcome.removed === 0) return;
  await emitEvent({
    id: eventId('retention.removed', outcome.targetId, pass),
    kind: 'retention.removed',
    occurredAt: new Date().toISOString(),
    target: { id: outcome.targetId },
    counts: { removed: outcome.removed, kept: outcome.kept, failedRemovals: outcome.failed.length },
  });
}
