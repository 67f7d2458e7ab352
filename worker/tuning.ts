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
 * defaults (40 workflow tasks, 100 activities, a cache sized from the heap limit) are sized for a busy
 * application worker. Every cached workflow is kept in the one reused V8 context of one workflow thread
 * (about 1 MB each by the SDK's own measure); one that falls out of the cache is replayed from its history.
 * Activity slots cost nothing while idle, and most of these activities wait on a server: 64, so that
 * deliveries waiting out a receiver's timeout do not leave a backup's first bookkeeping step (which
 * POST /backups waits for) queued behind them.
 */
export const sharedQueueTuning = {
  maxCachedWorkflows: 64,
  maxConcurrentWorkflowTaskExecutions: 8,
  maxConcurrentWorkflowTaskPolls: 2,
  maxConcurrentActivityTaskExecutions: 64,
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
