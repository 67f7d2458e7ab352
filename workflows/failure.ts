// One description of a failure, read from a chain of Temporal failures: workflow-safe, used by the API too.
import { ActivityFailure, ApplicationFailure, TimeoutFailure } from '@temporalio/common';
import { isErrorCode, type ErrorCode } from '../domain/errors.ts';

export interface FailureDescription {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown> | undefined;
}

/**
 * The code, message and details of the innermost Lifeboat failure in `error`'s chain of causes (an
 * activity, child workflow, workflow or update failure). A timeout is INTERNAL; anything else without a
 * Lifeboat code is described with `fallback`: INTERNAL inside a workflow, TEMPORAL_UNAVAILABLE for a
 * client whose workflow did not answer.
 */
export function describeFailure(error: unknown, fallback: ErrorCode = 'INTERNAL'): FailureDescription {
  for (let current: unknown = error; current instanceof Error; current = current.cause) {
    if (current instanceof ApplicationFailure && isErrorCode(current.type)) {
      const details: unknown = current.details?.[0];
      return {
        code: current.type,
        message: current.message,
        details: details && typeof details === 'object' ? (details as Record<string, unknown>) : undefined,
      };
    }
    if (current instanceof TimeoutFailure) {
      return { code: 'INTERNAL', message: `A step timed out (${current.timeoutType ?? 'timeout'}).` };
    }
  }
  const message = error instanceof Error ? error.message : String(error);
  return {
    code: fallback,
    message: fallback === 'TEMPORAL_UNAVAILABLE' ? `The workflow did not answer: ${message}` : message,
  };
}

/**
 * True when an activity found no worker on the queue of the worker that holds the run's scratch files
 * within its schedule-to-start timeout: that worker is gone, and the run starts over on another one.
 */
export function isLostWorker(error: unknown): boolean {
  return (
    error instanceof ActivityFailure &&
    error.cause instanceof TimeoutFailure &&
    error.cause.timeoutType === 'SCHEDULE_TO_START'
  );
}

/** True when a step found its input on the worker's disk gone: the run starts over from its first step. */
export function isScratchMissing(error: unknown): boolean {
  return describeFailure(error).code === 'SCRATCH_MISSING';
}
