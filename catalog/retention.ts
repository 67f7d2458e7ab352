// Catalog functions for retention: what it plans from, and what it records on the backups it keeps.
import type pg from 'pg';
import type { BackupStatus } from './backups.ts';

export interface RetentionRow {
  id: string;
  startedAt: Date;
  status: BackupStatus;
  protected: boolean;
  sizeBytes: number;
  trigger: string;
  storageKey: string | null;
}

/** Every backup of a target outside the trash, with what retention needs to plan. */
export async function listBackupsForRetention(db: pg.Pool, targetId: string): Promise<RetentionRow[]> {
  const { rows } = await db.query<{
    id: string;
    started_at: Date;
    status: BackupStatus;
    protected: boolean;
    size_bytes: string | null;
    trigger: string;
    storage_key: string | null;
  }>(
    `select id, started_at, status, protected, size_bytes, trigger, storage_key from backups
     where target_id = $1 and trashed_at is null order by started_at desc`,
    [targetId],
  );
  return rows.map((row) => ({
    id: row.id,
    startedAt: row.started_at,
    status: row.status,
    protected: row.protected,
    sizeBytes: Number(row.size_bytes ?? 0),
    trigger: row.trigger,
    storageKey: row.storage_key,
  }));
}

/** Stores what the plan says of kept backups: their categories and projected expiry. */
export async function recordRetentionCategories(
  db: pg.Pool,
  kept: { id: string; categories: string[]; expiresAt: Date | null }[],
): Promise<void> {
  if (!kept.length) return;
  await db.query(
    `update backups b set categories = k.categories, expires_at = k.expires_at
       from jsonb_to_recordset($1::jsonb) as k(id uuid, categories text[], expires_at timestamptz)
      where b.id = k.id`,
    [
      JSON.stringify(
        kept.map((k) => ({
          id: k.id,
          categories: k.categories,
          expires_at: k.expiresAt?.toISOString() ?? null,
        })),
      ),
    ],
  );
}

/** Leaves the backup listed, marked with why its deletion failed, for the next pass to retry. */
export async function markDeletionFailed(db: pg.Pool, id: string, error: string): Promise<void> {
  await db.query(
    `update backups set deletion_attempts = deletion_attempts + 1, deletion_error = $2, deletion_failed_at = now()
     where id = $1`,
    [id, error],
  );
}
