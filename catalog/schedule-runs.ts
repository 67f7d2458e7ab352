// What the catalog knows of a schedule's runs: each run's outcome, and when the last one succeeded.
import type pg from 'pg';
import type { BackupStatus } from './backups.ts';

/** Status and error code of the backups that these workflow runs made, by workflow id. */
export async function backupOutcomesByWorkflowId(
  db: pg.Pool,
  workflowIds: readonly string[],
): Promise<Map<string, { status: BackupStatus; errorCode: string | null }>> {
  const { rows } = await db.query<{ workflow_id: string; status: BackupStatus; error_code: string | null }>(
    'select workflow_id, status, error_code from backups where workflow_id = any($1)',
    [workflowIds],
  );
  return new Map(rows.map((row) => [row.workflow_id, { status: row.status, errorCode: row.error_code }]));
}

/** When the last completed backup asked for by `requestedBy` (e.g. `schedule:nightly`) finished. */
export async function lastCompletedBackupAt(db: pg.Pool, requestedBy: string): Promise<string | null> {
  const { rows } = await db.query<{ at: Date | null }>(
    `select max(finished_at) as at from backups where requested_by = $1 and status = 'completed'`,
    [requestedBy],
  );
  return rows[0]?.at?.toISOString() ?? null;
}
