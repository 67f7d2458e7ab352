// Timeouts and retry policies of the backup activities, in one place.
import type { ActivityOptions } from '@temporalio/workflow';

const retry = {
  initialInterval: '2s',
  backoffCoefficient: 2,
  maximumInterval: '1m',
} as const;

/** Catalog and storage bookkeeping: quick, on any worker. */
export const bookkeepingOptions: ActivityOptions = {
  startToCloseTimeout: '2m',
  retry: { ...retry, maximumAttempts: 10 },
};

/**
 * Steps on the worker that holds the scratch files. A worker that stops heartbeating loses the attempt
 * after `heartbeatTimeout`; one that does not come back within `scheduleToStartTimeout` sends the
 * workflow to another worker from the dump on.
 */
export const onWorkerOptions: ActivityOptions = {
  startToCloseTimeout: '24h',
  scheduleToStartTimeout: '2m',
  heartbeatTimeout: '15s',
  retry: { ...retry, maximumAttempts: 5 },
};

/** Cleanup of scratch files: short, and not worth blocking the workflow for long. */
export const cleanupOptions: ActivityOptions = {
  startToCloseTimeout: '1m',
  scheduleToStartTimeout: '2m',
  retry: { ...retry, maximumAttempts: 3 },
};

/** Removing a failed backup's objects from storage: a few tries, then the leftovers are recorded for later. */
export const discardOptions: ActivityOptions = {
  startToCloseTimeout: '2m',
  retry: { ...retry, maximumAttempts: 3 },
};

/** How many times the workflow starts over on another worker when the one holding its files is gone. */
export const maxWorkerClaims = 3;
