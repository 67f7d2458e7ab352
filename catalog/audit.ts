// The audit log: who called which mutating endpoint, when, and how it ended.
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
}

export async function recordAudit(db: pg.Pool, entry: AuditEntry): Promise<void> {
  await db.query(
    `insert into audit_log (actor, role, method, path, action, resource_id, outcome, status, error_code, remote_address)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
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
    ],
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
  }));
}
