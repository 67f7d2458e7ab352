// createActivities(deps): every activity, with Lifeboat errors turned into Temporal failures by code.
import { ApplicationFailure, Context } from '@temporalio/activity';
import { isPermanent, LifeboatError } from '../domain/errors.ts';
import { createBackupRecordActivities } from './backup/record.ts';
import { createBackupStepActivities } from './backup/steps.ts';
import type { ActivityDeps } from './deps.ts';
import { createArchiveCache } from './restore/archive-cache.ts';
import { createRestoreArchiveActivities } from './restore/archive.ts';
import { createRestoreBookkeepingActivities } from './restore/bookkeeping.ts';
import { createDatabaseRestoreActivities } from './restore/database.ts';
import { createDocumentRestoreActivities } from './restore/documents.ts';
import { createRestorePreviewActivities } from './restore/preview.ts';
import { createSwapRestoreActivities } from './restore/swap.ts';
import { createDrillActivities } from './drill.ts';
import { createRestoreVerifyActivities } from './restore/verify.ts';
import { createNotifyActivities } from './notify.ts';
import { createRetentionActivities } from './retention.ts';

export type { ActivityDeps } from './deps.ts';

/**
 * A LifeboatError becomes an ApplicationFailure whose type is the code, non-retryable when no retry
 * can fix it; any other error (a bug, a library's surprise) becomes a retryable INTERNAL one with its
 * message, so that every failure the workflows and the API read carries a code. After a cancellation
 * request the SDK's own cancellation error is rethrown.
 */
export function toActivityFailure(error: unknown): unknown {
  const signal = Context.current().cancellationSignal;
  if (signal.aborted) return signal.reason as unknown;
  if (error instanceof LifeboatError) {
    return ApplicationFailure.create({
      type: error.code,
      message: error.message,
      nonRetryable: isPermanent(error.code),
      details: error.details ? [error.details] : [],
    });
  }
  if (error instanceof ApplicationFailure) return error;
  return ApplicationFailure.create({
    type: 'INTERNAL',
    message: `Unexpected ${error instanceof Error ? error.name : 'error'}: ${error instanceof Error ? error.message : String(error)}`,
    nonRetryable: false,
    cause: error instanceof Error ? error : undefined,
  });
}

function withFailureMapping<T extends Record<string, (...args: never[]) => Promise<unknown>>>(
  activities: T,
): T {
  const wrapped: Record<string, (...args: never[]) => Promise<unknown>> = {};
  for (const [name, activity] of Object.entries(activities)) {
    wrapped[name] = {
      async [name](...args: never[]) {
        try {
          return await activity(...args);
        } catch (error) {
          throw toActivityFailure(error);
        }
      },
    }[name]!;
  }
  return wrapped as T;
}

export function createActivities(deps: ActivityDeps) {
  // One per worker: the archives its previews and restores fetched and extracted, shared between them.
  const archives = createArchiveCache(deps);
  return withFailureMapping({
    ...createBackupRecordActivities(deps),
    ...createBackupStepActivities(deps),
    ...createRetentionActivities(deps),
    ...createRestoreBookkeepingActivities(deps),
    ...createRestoreArchiveActivities(deps, archives),
    ...createDatabaseRestoreActivities(deps, archives),
    ...createDocumentRestoreActivities(deps, archives),
    ...createRestoreVerifyActivities(deps),
    ...createSwapRestoreActivities(deps),
    ...createDrillActivities(deps),
    ...createRestorePreviewActivities(deps, archives),
    ...createNotifyActivities(deps),
  });
}

export type Activities = ReturnType<typeof createActivities>;
