// Which runs a worker's scratch directories belong to are still open: those it must not remove at start.
import type pg from 'pg';

/** Of these backup ids, the backups still running. */
export async function runningBackupIds(db: pg.Pool, ids: readonly string[]): Promise<Set<string>> {
  const { rows } = await db.query<{ id: string }>(
    `select id from backups where id = any($1::uuid[]) and status = 'running'`,
    [ids],
  );
  return new Set(rows.map((row) => row.id));
}

/** Of these restore operation ids, the operations not finished yet. */
export async function unfinishedRestoreIds(db: pg.Pool, ids: readonly string[]): Promise<Set<string>> {
  const { rows } = await db.query<{ id: string }>(
    'select id from restore_operations where id = any($1::uuid[]) and finished_at is null',
    [ids],
  );
  return new Set(rows.map((row) => row.id));
}
