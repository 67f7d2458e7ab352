// The audit log: who called which mutating endpoint, when, and how it ended; failed authentications counted.
import type pg from 'pg';

export interface AuditEntry {
  actor: string | null;
  role: string | null;
  method: string;
  path: string;
  action: string;
  resourceId: string | null;
  outcome: 'success' | 'denied' | 'failed';
  status: number;
  errorCode: string | null;
  remoteAddress: string | null;
  /** What the call asked beyond its path, when it matters later: e.g. the guards a forced delete overrode. */
  details?: Record<string, unknown> | null | undefined;
}

export async function recordAudit(db: pg.Pool, entry: AuditEntry): Promise<void> {
  await db.query(
    `insert into audit_log (actor, role, method, path, action, resource_id, outcome, status, error_code, remote_address,
       details)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
    [
      entry.actor,
      entry.role,
      entry.method,
      entry.path,
      entry.action,
      entry.resourceId,
      entry.outcome,
      entry.status,
      entry.errorCode,
      entry.remoteAddress,
      entry.details ? JSON.stringify(entry.details) : null,
    ],
  );
}

/**
 * Counts a refused authentication of `remoteAddress` on today's (UTC) row: one row per day and address,
 * however many guesses come, so that a flood of them cannot fill the catalog.
 */
export async function countAuthFailure(
  db: pg.Pool,
  remoteAddress: string,
  rateLimited: boolean,
): Promise<void> {
  await db.query(
    `insert into auth_failures (day, remote_address, failures, rate_limited)
     values ((now() at time zone 'utc')::date, $1, 1, $2)
     on conflict (day, remote_address) do update set failures = auth_failures.failures + 1,
       rate_limited = auth_failures.rate_limited + excluded.rate_limited, last_at = now()`,
    [remoteAddress, rateLimited ? 1 : 0],
  );
}

export async function listAudit(
  db: pg.Pool,
  limit: number,
): Promise<(AuditEntry & { id: number; at: string })[]> {
  const { rows } = await db.query<{
    id: string;
    at: Date;
    actor: string | null;
    role: string | null;
    method: string;
    path: string;
    action: string;
    resource_id: string | null;
    outcome: AuditEntry['outcome'];
    status: number;
    error_code: string | null;
    remote_address: string | null;
    details: Record<string, unknown> | null;
  }>('select * from audit_log order by id desc limit $1', [limit]);
  return rows.map((row) => ({
    id: Number(row.id),
    at: row.at.toISOString(),
    actor: row.actor,
    role: row.role,
    method: row.method,
    path: row.path,
    action: row.action,
    resourceId: row.resource_id,
    outcome: row.outcome,
    status: row.status,
    errorCode: row.error_code,
    remoteAddress: row.remote_address,
    details: row.details,
  }));
}
