// Catalog functions for restore operations: their steps, and the lock that lets one restore at a time
// write to a database.
import type pg from 'pg';
import { LifeboatError } from '../domain/errors.ts';
import type { RestoreDestination, RestoreMode, RestoreOptions } from '../domain/restore/options.ts';
import type { RestoreStatus, RestoreStep } from '../domain/restore/progress.ts';
import { consumeConfirmationToken } from './restore-tokens.ts';

export interface RestoreStepRecord {
  step: RestoreStep;
  status: 'started' | 'completed' | 'failed' | 'skipped' | 'waiting';
  code: string | null;
  message: string | null;
  at: string;
}

/** How a failed or cancelled restore put the destination back, if it had to. */
export interface RestoreRollback {
  status: 'not_needed' | 'completed' | 'failed';
  code: string | null;
  message: string | null;
}

export interface RestoreOperation {
  id: string;
  workflowId: string;
  backupId: string;
  sourceTargetName: string;
  targetId: string | null;
  targetName: string;
  destination: RestoreDestination;
  mode: RestoreMode;
  options: RestoreOptions;
  status: RestoreStatus;
  requestedBy: string;
  approvedBy: string | null;
  approvedAt: string | null;
  safetyBackupId: string | null;
  steps: RestoreStepRecord[];
  result: unknown;
  errorCode: string | null;
  errorMessage: string | null;
  rollback: RestoreRollback | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

interface RestoreRow {
  id: string;
  workflow_id: string;
  backup_id: string;
  source_target_name: string;
  target_id: string | null;
  target_name: string;
  destination: RestoreDestination;
  mode: RestoreMode;
  options: RestoreOptions;
  status: RestoreStatus;
  requested_by: string;
  approved_by: string | null;
  approved_at: Date | null;
  safety_backup_id: string | null;
  steps: RestoreStepRecord[];
  result: unknown;
  error_code: string | null;
  error_message: string | null;
  rollback_status: 'not_needed' | 'completed' | 'failed' | null;
  rollback_error_code: string | null;
  rollback_error_message: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

// Every column but the sealed identity, which never leaves the catalog through these functions.
const columns = `id, workflow_id, backup_id, source_target_name, target_id, target_name, destination, mode, options,
  status, requested_by, approved_by, approved_at, safety_backup_id, steps, result, error_code, error_message,
  rollback_status, rollback_error_code, rollback_error_message, created_at, started_at, finished_at`;

function toOperation(row: RestoreRow): RestoreOperation {
  return {
    id: row.id,
    workflowId: row.workflow_id,
    backupId: row.backup_id,
    sourceTargetName: row.source_target_name,
    targetId: row.target_id,
    targetName: row.target_name,
    destination: row.destination,
    mode: row.mode,
    options: row.options,
    status: row.status,
    requestedBy: row.requested_by,
    approvedBy: row.approved_by,
    approvedAt: row.approved_at?.toISOString() ?? null,
    safetyBackupId: row.safety_backup_id,
    steps: row.steps,
    result: row.result,
    errorCode: row.error_code,
    errorMessage: row.error_message,
    rollback: row.rollback_status
      ? { status: row.rollback_status, code: row.rollback_error_code, message: row.rollback_error_message }
      : null,
    createdAt: row.created_at.toISOString(),
    startedAt: row.started_at?.toISOString() ?? null,
    finishedAt: row.finished_at?.toISOString() ?? null,
  };
}

export interface NewRestoreOperation {
  id: string;
  workflowId: string;
  backupId: string;
  sourceTargetName: string;
  destination: RestoreDestination;
  lockKey: string;
  options: RestoreOptions;
  requestedBy: string;
  identityCiphertext: string | null;
}

/**
 * In one transaction: consumes the confirmation token (unused, unexpired, for this backup and exactly
 * these options) and records the operation, which takes the destination's lock. A bad token is
 * CONFIRMATION_INVALID and a restore already writing to that database is CONFLICT; either way nothing
 * is kept, the token included.
 */
export async function createRestoreOperation(
  db: pg.Pool,
  token: string,
  binding: string,
  operation: NewRestoreOperation,
): Promise<RestoreOperation> {
  const client = await db.connect();
  try {
    await client.query('begin');
    await consumeConfirmationToken(client, {
      token,
      backupId: operation.backupId,
      binding,
      operationId: operation.id,
    });
    let rows: RestoreRow[];
    try {
      ({ rows } = await client.query<RestoreRow>(
        `insert into restore_operations (id, workflow_id, backup_id, source_target_name, target_id, target_name,
           destination, lock_key, mode, options, status, requested_by, identity_ciphertext)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', $11, $12) returning ${columns}`,
        [
          operation.id,
          operation.workflowId,
          operation.backupId,
          operation.sourceTargetName,
          operation.destination.targetId,
          operation.destination.targetName,
          JSON.stringify(operation.destination),
          operation.lockKey,
          operation.options.mode,
          JSON.stringify(operation.options),
          operation.requestedBy,
          operation.identityCiphertext,
        ],
      ));
    } catch (error) {
      if ((error as { code?: string }).code !== '23505') throw error;
      await client.query('rollback');
      const holder = await findUnfinishedRestore(db, operation.lockKey);
      throw new LifeboatError(
        'CONFLICT',
        `Another restore is already writing to ${operation.destination.targetName}` +
          `${holder ? ` (operation ${holder.id}, ${holder.status})` : ''}; one restore per database at a time.`,
        holder ? { operationId: holder.id } : undefined,
      );
    }
    await client.query('commit');
    return toOperation(rows[0]!);
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

export async function findUnfinishedRestore(
  db: pg.Pool,
  lockKey: string,
): Promise<RestoreOperation | undefined> {
  const { rows } = await db.query<RestoreRow>(
    `select ${columns} from restore_operations where lock_key = $1 and finished_at is null`,
    [lockKey],
  );
  return rows[0] ? toOperation(rows[0]) : undefined;
}

/**
 * Every unfinished restore, oldest first, at most `limit`: what reconciliation compares with Temporal.
 * There are few: one per database at a time.
 */
export async function listUnfinishedRestores(db: pg.Pool, limit = 500): Promise<RestoreOperation[]> {
  const { rows } = await db.query<RestoreRow>(
    `select ${columns} from restore_operations where finished_at is null order by created_at, id limit $1`,
    [limit],
  );
  return rows.map(toOperation);
}

/**
 * The unfinished restores (pending, awaiting approval, running or rolling back) that read `backupId` or
 * took it as their safety backup: while one holds it, the backup cannot be deleted.
 */
export async function unfinishedRestoresHolding(db: pg.Pool, backupId: string): Promise<RestoreOperation[]> {
  const { rows } = await db.query<RestoreRow>(
    `select ${columns} from restore_operations
      where (backup_id = $1 or safety_backup_id = $1) and finished_at is null order by created_at`,
    [backupId],
  );
  return rows.map(toOperation);
}

export async function findRestoreOperation(db: pg.Pool, id: string): Promise<RestoreOperation | undefined> {
  if (!/^[0-9a-f-]{36}$/i.test(id)) return undefined;
  const { rows } = await db.query<RestoreRow>(`select ${columns} from restore_operations where id = $1`, [
    id,
  ]);
  return rows[0] ? toOperation(rows[0]) : undefined;
}

export async function getRestoreOperation(db: pg.Pool, id: string): Promise<RestoreOperation> {
  const operation = await findRestoreOperation(db, id);
  if (!operation) throw new LifeboatError('NOT_FOUND', `No restore operation ${id}.`);
  return operation;
}

export async function listRestoreOperations(
  db: pg.Pool,
  filters: { target?: string | undefined; status?: RestoreStatus | undefined; limit: number; offset: number },
): Promise<{ items: RestoreOperation[]; total: number }> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filters.target) {
    params.push(filters.target);
    where.push(`(target_name = $${params.length} or target_id::text = $${params.length})`);
  }
  if (filters.status) {
    params.push(filters.status);
    where.push(`status = $${params.length}`);
  }
  const clause = where.length ? `where ${where.join(' and ')}` : '';
  const total = await db.query<{ count: string }>(
    `select count(*) from restore_operations ${clause}`,
    params,
  );
  const { rows } = await db.query<RestoreRow>(
    `select ${columns} from restore_operations ${clause} order by created_at desc, id
      limit $${params.length + 1} offset $${params.length + 2}`,
    [...params, filters.limit, filters.offset],
  );
  return { items: rows.map(toOperation), total: Number(total.rows[0]?.count ?? 0) };
}

/** Per destination target (or for one), the unfinished restore if there is one, else the latest. */
export async function currentOrLastRestores(db: pg.Pool, target?: string): Promise<RestoreOperation[]> {
  const { rows } = await db.query<RestoreRow>(
    `select distinct on (target_name) ${columns} from restore_operations
      where $1::text is null or target_name = $1 or target_id::text = $1
      order by target_name, (finished_at is null) desc, created_at desc`,
    [target ?? null],
  );
  return rows.map(toOperation);
}

export async function setRestoreStatus(db: pg.Pool, id: string, status: RestoreStatus): Promise<void> {
  await db.query(
    `update restore_operations set status = $2, started_at = coalesce(started_at, case when $2 = 'running' then now() end)
      where id = $1 and finished_at is null`,
    [id, status],
  );
}

export async function appendRestoreStep(
  db: pg.Pool,
  id: string,
  step: Omit<RestoreStepRecord, 'at'>,
): Promise<void> {
  await db.query(`update restore_operations set steps = steps || $2::jsonb where id = $1`, [
    id,
    JSON.stringify([{ ...step, at: new Date().toISOString() }]),
  ]);
}

export async function recordRestoreApproval(db: pg.Pool, id: string, approvedBy: string): Promise<void> {
  await db.query(
    `update restore_operations set approved_by = $2, approved_at = coalesce(approved_at, now()) where id = $1`,
    [id, approvedBy],
  );
}

export async function recordSafetyBackup(db: pg.Pool, id: string, backupId: string): Promise<void> {
  await db.query('update restore_operations set safety_backup_id = $2 where id = $1', [id, backupId]);
}

/** The lock key an operation took when it was recorded. */
export async function restoreLockKey(db: pg.Pool, id: string): Promise<string> {
  const { rows } = await db.query<{ lock_key: string }>(
    'select lock_key from restore_operations where id = $1',
    [id],
  );
  if (!rows[0]) throw new LifeboatError('NOT_FOUND', `No restore operation ${id}.`);
  return rows[0].lock_key;
}

/** The sealed identity of an unfinished operation, for the worker that fetches an encrypted archive. */
export async function sealedRestoreIdentity(db: pg.Pool, id: string): Promise<string | null> {
  const { rows } = await db.query<{ identity_ciphertext: string | null }>(
    'select identity_ciphertext from restore_operations where id = $1 and finished_at is null',
    [id],
  );
  return rows[0]?.identity_ciphertext ?? null;
}

export interface RestoreEnding {
  status: 'completed' | 'failed' | 'cancelled';
  errorCode: string | null;
  errorMessage: string | null;
  rollback: RestoreRollback | null;
  result: unknown;
}

/**
 * Records how the operation ended, which releases its lock and wipes its sealed identity. Idempotent: false
 * when it had already ended, and then nothing changes.
 */
export async function finishRestoreOperation(
  db: pg.Pool,
  id: string,
  ending: RestoreEnding,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `update restore_operations set status = $2, error_code = $3, error_message = $4, rollback_status = $5,
       rollback_error_code = $6, rollback_error_message = $7, result = $8, identity_ciphertext = null,
       finished_at = now()
      where id = $1 and finished_at is null`,
    [
      id,
      ending.status,
      ending.errorCode,
      ending.errorMessage,
      ending.rollback?.status ?? null,
      ending.rollback?.code ?? null,
      ending.rollback?.message ?? null,
      ending.result === undefined ? null : JSON.stringify(ending.result),
    ],
  );
  return (rowCount ?? 0) > 0;
}

/**
 * Protects or releases a safety backup. Released, retention's rule for safety backups
 * (`safetyRetentionDays`) decides how long it stays.
 */
export async function setSafetyBackupProtected(
  db: pg.Pool,
  backupId: string,
  protect: boolean,
): Promise<void> {
  await db.query(`update backups set protected = $2 where id = $1 and trigger = 'pre_restore'`, [
    backupId,
    protect,
  ]);
}
