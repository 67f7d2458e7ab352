// How activity errors reach Temporal: Lifeboat codes become typed failures, permanent ones non-retryable.
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { toActivityFailure } from '../../activities/index.ts';
import { LifeboatError } from '../../domain/errors.ts';

describe('toActivityFailure', () => {
  const env = new MockActivityEnvironment();

  it('makes a permanent code a non-retryable failure of that type', async () => {
    const failure = await env.run(() =>
      Promise.resolve(toActivityFailure(new LifeboatError('AUTH_FAILED', 'wrong password', { user: 'app' }))),
    );
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({
      type: 'AUTH_FAILED',
      message: 'wrong password',
      nonRetryable: true,
      details: [{ user: 'app' }],
    });
  });

  it('keeps a transient code retryable', async () => {
    const failure = await env.run(() =>
      Promise.resolve(toActivityFailure(new LifeboatError('CONNECTION_FAILED', 'refused'))),
    );
    expect(failure).toMatchObject({ type: 'CONNECTION_FAILED', nonRetryable: false });
  });

  it('makes any other error a retryable INTERNAL failure that keeps its message and cause', async () => {
    const original = new RangeError('Invalid time value');
    const failure = await env.run(() => Promise.resolve(toActivityFailure(original)));
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({
      type: 'INTERNAL',
      message: 'Unexpected RangeError: Invalid time value',
      nonRetryable: false,
      cause: original,
    });
  });

  it('passes an ApplicationFailure an activity made itself through untouched', async () => {
    const own = ApplicationFailure.create({ type: 'PG_RESTORE_FAILED', details: [{ rolledBack: true }] });
    expect(await env.run(() => Promise.resolve(toActivityFailure(own)))).toBe(own);
  });

  it('answers with the cancellation itself once the activity is cancelled', async () => {
    const cancelled = new MockActivityEnvironment();
    const result = cancelled.run(async () => {
      cancelled.cancel();
      await new Promise((resolve) => setTimeout(resolve, 10));
      return toActivityFailure(new LifeboatError('PG_DUMP_FAILED', 'killed'));
    });
    const failure = await result;
    expect(failure).not.toBeInstanceOf(ApplicationFailure);
    expect((failure as Error).name).toBe('CancelledFailure');
  });
});
