// The retention activities: the daily sweep's list of targets, one target's plan applied, the trash purged.
import {
  applyRetention,
  listTargetIds,
  purgeTrash,
  type PurgeOutcome,
  type RetentionOutcome,
} from '../services/retention.ts';
import type { ActivityDeps } from './deps.ts';

export function createRetentionActivities(deps: ActivityDeps) {
  return {
    listTargetIds(): Promise<string[]> {
      return listTargetIds(deps.db);
    },

    applyRetention(request: { targetId: string }): Promise<RetentionOutcome> {
      return applyRetention(deps, request.targetId);
    },

    purgeTrash(): Promise<PurgeOutcome> {
      return purgeTrash(deps);
    },
  };
}
