// retentionSweepWorkflow: the daily pass that applies every target's retention policy.
import { log, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import type { RetentionOutcome } from '../services/retention.ts';
import { bookkeepingOptions } from './options.ts';

const activities = proxyActivities<Activities>(bookkeepingOptions);

export interface RetentionSweepResult {
  targets: RetentionOutcome[];
  failedTargets: { targetId: string; error: string }[];
}

/** One target's trouble does not stop the others; the next day's pass tries again. */
export async function retentionSweepWorkflow(): Promise<RetentionSweepResult> {
  const result: RetentionSweepResult = { targets: [], failedTargets: [] };
  for (const targetId of await activities.listTargetIds()) {
    try {
      result.targets.push(await activities.applyRetention({ targetId }));
    } catch (error) {
      log.warn('Retention failed for a target', { targetId, error: String(error) });
      result.failedTargets.push({ targetId, error: String(error) });
    }
  }
  return result;
}
