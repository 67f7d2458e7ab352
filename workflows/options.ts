// Timeouts and retry policies of every activity the workflows call, in one place.
import { ActivityCancellationType, type ActivityOptions } from '@temporalio/workflow';
import { nonRetryableCodes } from '../domain/errors.ts';

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

/**
 * A drill's one long step, on any worker: it fetches, restores and checks on its own, so a worker that
 * stops heartbeating loses the attempt and another starts the drill over (its scratch database first).
 */
export const drillOptions: ActivityOptions = {
  startToCloseTimeout: '24h',
  heartbeatTimeout: '30s',
  retry: { ...retry, maximumAttempts: 3 },
};

/**
 * The steps of a restore by swap on the destination's server: short statements, each safe to repeat (the
 * swap reads where the databases are before it moves them). A database busy with sessions the restore may
 * not end, or renamed by someone else, is CONFLICT: final.
 */
export const swapOptions: ActivityOptions = {
  // Longer than the swap's 30 s lock timeout, short enough that a killed worker's attempt is soon retried.
  startToCloseTimeout: '1m',
  retry: { ...retry, maximumAttempts: 10, nonRetryableErrorTypes: nonRetryableCodes('CONFLICT') },
};

/**
 * The restore steps on the worker holding the archive. A cancellation waits for the activity to report
 * how it ended, so the workflow always knows whether the database was written. A failed pg_restore and a
 * full disk are final too: PostgreSQL rolled the attempt back, and another would fail the same way.
 */
export const restoreOnWorkerOptions: ActivityOptions = {
  ...onWorkerOptions,
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: {
    ...onWorkerOptions.retry,
    maximumAttempts: 3,
    nonRetryableErrorTypes: nonRetryableCodes('PG_RESTORE_FAILED', 'INSUFFICIENT_SPACE'),
  },
};

/**
 * Verification of a restored database: it counts every table's rows, which takes a while on a big one.
 * It heartbeats, so an attempt whose worker died is retried after `heartbeatTimeout`, not after the hour.
 */
export const verifyOptions: ActivityOptions = {
  startToCloseTimeout: '1h',
  heartbeatTimeout: '15s',
  retry: { ...bookkeepingOptions.retry, maximumAttempts: 3, nonRetryableErrorTypes: nonRetryableCodes() },
};

/** The preview reads the archive with pg_restore on any worker: it changes nothing, so one retry will do. */
export const previewOptions: ActivityOptions = {
  startToCloseTimeout: '1h',
  heartbeatTimeout: '30s',
  retry: { ...bookkeepingOptions.retry, maximumAttempts: 2 },
};

/**
 * What a notification's delivery reads and records in the catalog: quick, but worth waiting hours for,
 * since an event left unprepared is never told.
 */
export const notifyBookkeepingOptions: ActivityOptions = {
  startToCloseTimeout: '1m',
  scheduleToCloseTimeout: '12h',
  // No maximumAttempts: unlimited, within scheduleToCloseTimeout.
  retry: { ...retry, maximumInterval: '5m', nonRetryableErrorTypes: nonRetryableCodes() },
};

/**
 * Delivering one notification to one channel: retried with backoff for hours while the receiver is down;
 * a refusal no retry can fix (the activity marks it non-retryable) ends it at once. It heartbeats while it
 * sends, so the attempt of a worker that died is retried within `heartbeatTimeout`.
 */
export const notifyDeliveryOptions: ActivityOptions = {
  startToCloseTimeout: '2m',
  heartbeatTimeout: '15s',
  scheduleToCloseTimeout: '12h',
  retry: {
    initialInterval: '2s',
    backoffCoefficient: 2,
    maximumInterval: '10m',
    nonRetryableErrorTypes: nonRetryableCodes(),
  },
};

/** A channel's test from the API: one attempt, whose outcome the caller waits for. */
export const notifyTestOptions: ActivityOptions = {
  startToCloseTimeout: '1m',
  scheduleToCloseTimeout: '90s',
  heartbeatTimeout: '15s',
  retry: { maximumAttempts: 1 },
};
