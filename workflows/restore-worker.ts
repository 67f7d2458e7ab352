// The restore's steps on the worker that holds its archive: the preview's worker first, another once it is gone.
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import { isLostWorker } from './failure.ts';
import { bookkeepingOptions, cleanupOptions, maxWorkerClaims, restoreOnWorkerOptions } from './options.ts';

export interface WorkerSteps {
  /**
   * Runs `call` on the worker holding the restore's files. That is first `archiveQueue`, the worker that
   * extracted the archive for the preview; once a worker is gone (it does not pick the step up in time),
   * another one claimed from the shared queue, which fetches the archive again: every step brings what
   * it needs.
   */
  run<T>(call: (activities: Activities) => Promise<T>): Promise<T>;
  /** Runs `call` with the cleanup options on the last worker a step went to, if any; best effort. */
  cleanUp(call: (activities: Activities) => Promise<unknown>): Promise<void>;
}

export function workerSteps(archiveQueue: string | null): WorkerSteps {
  const bookkeeping = proxyActivities<Activities>(bookkeepingOptions);
  let preferred = archiveQueue;
  let workerQueue: string | undefined;
  return {
    async run(call) {
      for (let claim = 1; ; claim++) {
        workerQueue ??= preferred ?? (await bookkeeping.claimRestoreWorker());
        preferred = null;
        const activities = proxyActivities<Activities>({ ...restoreOnWorkerOptions, taskQueue: workerQueue });
        try {
          return await call(activities);
        } catch (error) {
          if (!isLostWorker(error) || claim >= maxWorkerClaims) throw error;
          workerQueue = undefined;
        }
      }
    },

    async cleanUp(call) {
      if (!workerQueue) return;
      const cleanup = proxyActivities<Activities>({ ...cleanupOptions, taskQueue: workerQueue });
      await call(cleanup).catch(() => undefined);
    },
  };
}
