// A target's retention plan, and applying it: storage first, then the catalog; a failing deletion stays listed.
import type pg from 'pg';
import { deleteBackup } from './backups.ts';
import { getBackup } from '../catalog/backups.ts';
import {
  listBackupsForRetention,
  markDeletionFailed,
  recordRetentionCategories,
} from '../catalog/retention.ts';
import { getSettings } from '../catalog/settings.ts';
import { getTarget, listTargets } from '../catalog/targets.ts';
import {
  effectivePolicy,
  planRetention,
  type RetentionPlan,
  type RetentionPolicy,
} from '../domain/retention.ts';
import type { StorageRegistry } from '../storage/registry.ts';

export interface RetentionDeps {
  db: pg.Pool;
  storages: StorageRegistry;
}

export interface RetentionOutcome {
  targetId: string;
  kept: number;
  removed: number;
  failed: { id: string; error: string }[];
}

/** The plan for one target under its effective policy (or `policy`, for a dry run). */
export async function planTarget(
  db: pg.Pool,
  targetId: string,
  now: Date,
  policy?: RetentionPolicy,
): Promise<{ plan: RetentionPlan; policy: RetentionPolicy }> {
  const target = await getTarget(db, targetId);
  const effective = policy ?? effectivePolicy((await getSettings(db)).retention, target.retention);
  const rows = await listBackupsForRetention(db, target.id);
  const plan = planRetention(
    rows.map((row) => ({
      id: row.id,
      time: row.startedAt,
      status: row.status,
      protected: row.protected,
      sizeBytes: row.sizeBytes,
      trigger: row.trigger,
    })),
    effective,
    now,
  );
  return { plan, policy: effective };
}

export async function listTargetIds(db: pg.Pool): Promise<string[]> {
  return (await listTargets(db)).map((target) => target.id);
}

/** Plans and applies retention for one target. Idempotent: a retry re-plans from what is left. */
export async function applyRetention(deps: RetentionDeps, targetId: string): Promise<RetentionOutcome> {
  const { plan } = await planTarget(deps.db, targetId, new Date());
  const rows = new Map((await listBackupsForRetention(deps.db, targetId)).map((row) => [row.id, row]));
  await recordRetentionCategories(
    deps.db,
    plan.keep.map((k) => ({ id: k.id, categories: k.reasons, expiresAt: k.expiresAt })),
  );
  const failed: RetentionOutcome['failed'] = [];
  let removed = 0;
  for (const doomed of plan.remove) {
    const row = rows.get(doomed.id);
    if (!row) continue;
    try {
      await deleteBackup(deps, await getBackup(deps.db, row.id));
      removed++;
    } catch (error) {
      const message = (error as Error).message;
      failed.push({ id: row.id, error: message });
      await markDeletionFailed(deps.db, row.id, message);
    }
  }
  return { targetId, kept: plan.keep.length, removed, failed };
}
