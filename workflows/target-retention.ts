// targetRetentionWorkflow: one target's retention, started after each of its backups and left to run alone.
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import type { RetentionOutcome } from '../services/retention.ts';
import { bookkeepingOptions } from './options.ts';

const activities = proxyActivities<Activities>(bookkeepingOptions);

export interface TargetRetentionInput {
  targetId: string;
  /** The backup whose completion started this pass, for the reader of the history. */
  afterBackupId: string;
}

/** Plans and applies the target's policy; a failure ends this workflow as failed, with its code. */
export async function targetRetentionWorkflow(input: TargetRetentionInput): Promise<RetentionOutcome> {
  return activities.applyRetention({ targetId: input.targetId });
}
