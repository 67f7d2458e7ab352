// drillWorkflow: prove one backup restorable (plan → a place on the drill server → drill → record →
// notify); drillScheduleWorkflow: the nightly drills of each target's newest backup, and now and then an older one.
import { CancellationScope, log, proxyActivities, setHandler, sleep } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import type { DrillPlan } from '../activities/drill.ts';
import { drillEnding, type DrillEnding, type DrillResult } from '../domain/drill/checks.ts';
import { eventId } from '../domain/notifications/events.ts';
import { drillProgressQuery, drillProgressSignal, type DrillProgress } from './drill-messages.ts';
import { describeFailure } from './failure.ts';
import { emitEvent } from './notify.ts';
import { bookkeepingOptions, drillOptions } from './options.ts';
import { startAbandonedChild } from './start-abandoned.ts';

const bookkeeping = proxyActivities<Activities>(bookkeepingOptions);
const drilling = proxyActivities<Activities>(drillOptions);

export interface DrillWorkflowInput {
  drillId: string;
  /** The drilled backup's target, for the notification of a drill that could not even plan. */
  targetId: string;
}

/** How long a drill waits for a place on its drill server before it gives up as an error. */
const maxQueueMs = 6 * 60 * 60_000;
const queuePollMs = 30_000;

export async function drillWorkflow(input: DrillWorkflowInput): Promise<DrillEnding> {
  let progress: DrillProgress = { step: 'queued', bytes: 0 };
  setHandler(drillProgressQuery, () => progress);
  setHandler(drillProgressSignal, (update) => {
    progress = update;
  });
  let plan: DrillPlan | undefined;
  let result: DrillResult | undefined;
  let ending: DrillEnding;
  try {
    plan = await bookkeeping.prepareDrill({ drillId: input.drillId });
    const claimed = plan;
    for (let waitedMs = 0; !(await bookkeeping.claimDrillSlot({ plan: claimed })); waitedMs += queuePollMs) {
      if (waitedMs >= maxQueueMs) throw new Error('No place on the drill server came free within 6 hours.');
      await sleep(queuePollMs);
    }
    result = await drilling.runDrill({ plan });
    ending = drillEnding(result);
  } catch (error) {
    // The drill could not run: that proves nothing about the backup, and says so.
    const failure = describeFailure(error);
    ending = {
      status: 'error',
      checks: result?.checks ?? [],
      errorCode: failure.code,
      errorMessage: failure.message,
      rtoSeconds: null,
      checksSeconds: null,
      peakBytes: null,
    };
  }
  return CancellationScope.nonCancellable(async () => {
    if (plan) {
      const leftover = plan;
      await bookkeeping
        .dropDrillDatabase({ plan: leftover })
        .catch((error: unknown) =>
          log.warn('The scratch database stays for the sweep', { error: String(error) }),
        );
    }
    const brokenCopy =
      plan && result?.brokenCopy ? { storageUrl: plan.storageUrl, reason: result.brokenCopy } : null;
    await bookkeeping.recordDrillEnding({ drillId: input.drillId, ending, brokenCopy });
    progress = { step: 'done', bytes: progress.bytes };
    if (ending.status !== 'passed') {
      await emitEvent({
        id: eventId('drill.failed', input.drillId),
        kind: 'drill.failed',
        occurredAt: new Date().toISOString(),
        target: { id: input.targetId, name: plan?.targetName },
        backupId: plan?.backupId,
        error: {
          code: ending.errorCode ?? 'VERIFY_FAILED',
          message: ending.errorMessage ?? 'The drill failed.',
        },
      });
    }
    return ending;
  });
}

/** The drills a schedule run starts: recorded by an activity, each then its own workflow. */
export async function drillScheduleWorkflow(): Promise<{ started: string[] }> {
  const drills = await bookkeeping.planScheduledDrills();
  for (const drill of drills) {
    await startAbandonedChild(
      drillWorkflow,
      {
        workflowId: drill.workflowId,
        args: [{ drillId: drill.drillId, targetId: drill.targetId }],
        staticSummary: 'Scheduled drill',
      },
      'A scheduled drill could not start; the next run tries again',
    );
  }
  return { started: drills.map((drill) => drill.drillId) };
}
