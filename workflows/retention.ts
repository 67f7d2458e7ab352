// retentionSweepWorkflow: the daily pass that applies every target's retention policy and purges the trash.
import { log, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import type { PurgeOutcome, RetentionOutcome } from '../services/retention.ts';
import { bookkeepingOptions } from './options.ts';
import { emitRetentionRemoved } from './target-retention.ts';

const activities = proxyActivities<Activities>(bookkeepingOptions);

export interface RetentionSweepResult {
  targets: RetentionOutcome[];
  failedTargets: { targetId: string; error: string }[];
  /** The trashed backups removed for good; null when the purge itself failed (the next pass tries again). */
  purge: PurgeOutcome | null;
}

/** One target's trouble does not stop the others; the next day's pass tries again. */
export async function retentionSweepWorkflow(): Promise<RetentionSweepResult> {
  const result: RetentionSweepResult = { targets: [], failedTargets: [], purge: null };
  for (const targetId of await activities.listTargetIds()) {
    try {
      const outcome = await activities.applyRetention({ targetId });
      result.targets.push(outcome);
      await emitRetentionRemoved(outcome, `sweep-${workflowInfo().runId}`);
    } catch (error) {
      log.warn('Retention failed for a target', { targetId, error: String(error) });
      result.failedTargets.push({ targetId, error: String(error) });
    }
  }
  // The only place that removes stored objects: trashed backups whose grace period has passed.
  try {
    result.purge = await activities.purgeTrash();
  } catch (error) {
    log.warn('Purging the trash failed', { error: String(error) });
  }
  return result;
}
