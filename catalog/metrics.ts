// The catalog figures that only /metrics needs: finished runs and copies by label, and restores.
import type pg from 'pg';

/** Finished backups (running ones aside) by target, status and trigger, trashed ones included. */
export async function finishedBackupCounts(
  db: pg.Pool,
): Promise<{ target: string; status: string; trigger: string; count: number }[]> {
  const { rows } = await db.query<{ target: string; status: string; trigger: string; count: string }>(
    `select t.name as target, b.status, b.trigger, count(*) as count
       from backups b join targets t on t.id = b.target_id
      where b.status <> 'running'
      group by t.name, b.status, b.trigger
      order by 1, 2, 3`,
  );
  return rows.map((row) => ({ ...row, count: Number(row.count) }));
}

/** Copies of the completed backups that are not in the trash, by target, storage URL and status. */
export async function backupCopyCounts(
  db: pg.Pool,
): Promise<{ target: string; storageUrl: string; status: string; count: number }[]> {
  const { rows } = await db.query<{ target: string; storage_url: string; status: string; count: string }>(
    `select t.name as target, c.storage_url, c.status, count(*) as count
       from backup_copies c
       join backups b on b.id = c.backup_id
       join targets t on t.id = b.target_id
      where b.status = 'completed' and b.trashed_at is null
      group by t.name, c.storage_url, c.status
      order by 1, 2, 3`,
  );
  return rows.map((row) => ({
    target: row.target,
    storageUrl: row.storage_url,
    status: row.status,
    count: Number(row.count),
  }));
}

/** Finished restore operations by the target they wrote to and how they ended. */
export async function finishedRestoreCounts(
  db: pg.Pool,
): Promise<{ target: string; status: string; count: number }[]> {
  const { rows } = await db.query<{ target: string; status: string; count: string }>(
    `select target_name as target, status, count(*) as count
       from restore_operations
      where finished_at is not null
      group by target_name, status
      order by 1, 2`,
  );
  return rows.map((row) => ({ ...row, count: Number(row.count) }));
}

/** Per target written to, the newest completed restore: when it finished and how long it ran. */
export async function lastRestoreSuccesses(
  db: pg.Pool,
): Promise<{ target: string; finishedAt: string; durationMs: number }[]> {
  const { rows } = await db.query<{ target: string; started_at: Date; finished_at: Date }>(
    `select distinct on (target_name) target_name as target, coalesce(started_at, created_at) as started_at,
            finished_at
       from restore_operations
      where status = 'completed' and finished_at is not null
      order by target_name, finished_at desc`,
  );
  return rows.map((row) => ({
    target: row.target,
    finishedAt: row.finished_at.toISOString(),
    durationMs: row.finished_at.getTime() - row.started_at.getTime(),
  }));
}
