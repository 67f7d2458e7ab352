// How big the worker's two Temporal Workers may grow: slots, pollers and the workflow cache of a backup worker.
import type { WorkerOptions } from '@temporalio/worker';

type Tuning = Pick<
  WorkerOptions,
  | 'maxCachedWorkflows'
  | 'maxConcurrentWorkflowTaskExecutions'
  | 'maxConcurrentWorkflowTaskPolls'
  | 'maxConcurrentActivityTaskExecutions'
  | 'maxConcurrentActivityTaskPolls'
  | 'maxConcurrentLocalActivityExecutions'
  | 'workflowThreadPoolSize'
>;

/**
 * The shared queue: workflow tasks (backups, restores, retention, notifications, drills) and the
 * activities that run anywhere: catalog bookkeeping, notification deliveries and drills. The SDK's
 * defaults for slots and the workflow cache stay: a worker with many open workflows (deliveries retrying
 * for hours against a dead receiver) replays them all from their histories on its one workflow thread when
 * the cache is small, and with few slots their deliveries queue a backup's first step (which POST /backups
 * waits for) behind them. In the fuzz run, with a cache of 64 and 4 or 8 workflow tasks, POST /backups
 * took 10 to 15 s; idle slots and an unfilled cache cost no memory.
 */
export const sharedQueueTuning = {
  maxConcurrentWorkflowTaskPolls: 2,
  maxConcurrentActivityTaskPolls: 2,
  maxConcurrentLocalActivityExecutions: 4,
  workflowThreadPoolSize: 1,
} as const satisfies Tuning;

/**
 * The worker's own queue: the scratch-file steps (dump, archive, upload, restore), each streaming a
 * database. `stepSlots` bounds how many run at once, and so the stream buffers and child processes in
 * memory; a step beyond it waits on the queue (its schedule-to-start timeout sends it elsewhere). No
 * workflows are polled here, so this Worker has no workflow thread and no cache.
 */
export function ownQueueTuning(stepSlots: number) {
  return {
    maxConcurrentActivityTaskExecutions: stepSlots,
    maxConcurrentActivityTaskPolls: Math.min(2, stepSlots),
    maxConcurrentLocalActivityExecutions: 1,
  } as const satisfies Tuning;
}
