// A target's retention plan, and applying it: the backups it removes go to the trash, like a person's
// delete; the sweep's purge removes trashed backups whose grace has passed (storage first, then the
// catalog), and a removal that fails leaves the backup listed in the trash for the next sweep.
import type pg from 'pg';
import { deleteBackup, purgeAfterFromNow } from './backups.ts';
import { listBackupsToPurge, trashBackupRow } from '../catalog/backups.ts';
import { unfinishedRestoresHolding } from '../catalog/restores.ts';
import {
  listBackupsForRetention,
  markDeletionFailed,
  recordRetentionCategories,
} from '../catalog/retention.ts';
import { verifiedBackupIds } from '../catalog/drills.ts';
import { drillServerOf, getSettings } from '../catalog/settings.ts';
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
  /** Moved to the trash: their objects stay until the sweep purges them after `deleteGraceDays`. */
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
  const settings = await getSettings(db);
  const effective = policy ?? effectivePolicy(settings.retention, target.retention);
  const rows = await listBackupsForRetention(db, target.id);
  // Drills in use for the target: the newest proven backup is kept, and an unproven newest one is marked.
  const drilled = drillServerOf(settings.drills, target.name) !== null;
  const verified = drilled
    ? await verifiedBackupIds(
        db,
        rows.map((row) => row.id),
      )
    : undefined;
  const plan = planRetention(
    rows.map((row) => ({
      id: row.id,
      time: row.startedAt,
      status: row.status,
      protected: row.protected,
      sizeBytes: row.sizeBytes,
      trigger: row.trigger,
      ...(verified ? { verified: verified.has(row.id) } : {}),
    })),
    effective,
    now,
  );
  return { plan, policy: effective };
}

export async function listTargetIds(db: pg.Pool): Promise<string[]> {
  return (await listTargets(db)).map((target) => target.id);
}

/**
 * Plans and applies retention for one target: what the plan removes goes to the trash, so that nothing
 * but the sweep's purge, after the grace period, removes objects. Idempotent: a retry re-plans from what
 * is left (trashed backups are no longer planned).
 */
export async function applyRetention(deps: RetentionDeps, targetId: string): Promise<RetentionOutcome> {
  const now = new Date();
  const { plan } = await planTarget(deps.db, targetId, now);
  const purgeAfter = await purgeAfterFromNow(deps.db, now);
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
      await trashBackupRow(deps.db, row.id, { by: 'retention', purgeAfter });
      removed++;
    } catch (error) {
      const message = (error as Error).message;
      failed.push({ id: row.id, error: message });
      await markDeletionFailed(deps.db, row.id, message);
    }
  }
  return { targetId, kept: plan.keep.length, removed, failed };
}

export interface PurgeOutcome {
  purged: number;
  failed: { id: string; error: string }[];
}

/**
 * Removes for good every trashed backup (of `targetId`, or of every target) whose grace has passed by
 * `now`. One that a restore still uses waits for the next sweep; one whose objects cannot be removed
 * (storage down, an object under lock) stays in the trash, marked with the reason. Only the daily sweep
 * calls it, never the API; and no setting makes `purgeAfter` sooner than `minDeleteGraceDays` after the delete.
 */
export async function purgeTrash(
  deps: RetentionDeps,
  scope: { now?: Date; targetId?: string } = {},
): Promise<PurgeOutcome> {
  const outcome: PurgeOutcome = { purged: 0, failed: [] };
  for (const backup of await listBackupsToPurge(deps.db, scope.now ?? new Date(), scope.targetId)) {
    if ((await unfinishedRestoresHolding(deps.db, backup.id)).length) continue;
    try {
      await deleteBackup(deps, backup);
      outcome.purged++;
    } catch (error) {
      const message = (error as Error).message;
      outcome.failed.push({ id: backup.id, error: message });
      await markDeletionFailed(deps.db, backup.id, message);
    }
  }
  return outcome;
}
