// Catalog functions for restore drills: recorded when asked for, claimed under the drill server's limit,
// finished with their checks; the newest verdict per backup, per target, and the copies found broken.
import type pg from 'pg';
import type { DrillCheck, DrillEnding, DrillStatus } from '../domain/drill/checks.ts';

export type DrillTrigger = 'after_backup' | 'schedule' | 'manual';

export interface Drill {
  id: string;
  backupId: string;
  targetId: string;
  targetName: string;
  workflowId: string;
  trigger: DrillTrigger;
  requestedBy: string | null;
  storageUrl: string | null;
  serverTargetId: string | null;
  scratchDatabase: string | null;
  status: DrillStatus;
  checks: DrillCheck[];
  errorCode: string | null;
  errorMessage: string | null;
  rtoSeconds: number | null;
  checksSeconds: number | null;
  peakBytes: number | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

interface Row {
  id: string;
  backup_id: string;
  target_id: string;
  target_name: string;
  workflow_id: string;
  trigger: DrillTrigger;
  requested_by: string | null;
  storage_url: string | null;
  server_target_id: string | null;
  scratch_database: string | null;
  status: DrillStatus;
  checks: DrillCheck[];
  error_code: string | null;
  error_message: string | null;
  rto_seconds: number | null;
  checks_seconds: number | null;
  peak_bytes: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

const columns = `d.id, d.backup_id, d.target_id, t.name as target_name, d.workflow_id, d.trigger, d.requested_by,
  d.storage_url, d.server_target_id, d.scratch_database, d.status, d.checks, d.error_code, d.error_message,
  d.rto_seconds, d.checks_seconds, d.peak_bytes, d.created_at, d.started_at, d.finished_at`;
const from = 'drills d join targets t on t.id = d.target_id';

function fromRow(row: Row): Drill {
  return {
    id: row.id,
    backupId: row.backup_id,
    targetId: row.target_id,
    targetName: row.target_name,
    workflowId: row.workflow_id,
    trigger: row.trigger,
    requestedBy: row.requested_by,
    storageUrl: row.storage_url,
    serverTargetId: row.server_target_id,
    scratchDatabase: row.scratch_database,
    status: row.status,
    checks: row.checks,
    errorCode: row.error_code,
    errorMessage: row.error_message,
    rtoSeconds: row.rto_seconds,
    checksSeconds: row.checks_seconds,
    peakBytes: row.peak_bytes === null ? null : Number(row.peak_bytes),
    createdAt: row.created_at.toISOString(),
    startedAt: row.started_at?.toISOString() ?? null,
    finishedAt: row.finished_at?.toISOString() ?? null,
  };
}

export async function createDrill(
  db: pg.Pool,
  drill: Pick<Drill, 'id' | 'backupId' | 'targetId' | 'workflowId' | 'trigger' | 'requestedBy'>,
): Promise<void> {
  await db.query(
    `insert into drills (id, backup_id, target_id, workflow_id, trigger, requested_by)
     values ($1, $2, $3, $4, $5, $6) on conflict (id) do nothing`,
    [drill.id, drill.backupId, drill.targetId, drill.workflowId, drill.trigger, drill.requestedBy],
  );
}

export async function findDrill(db: pg.Pool, id: string): Promise<Drill | undefined> {
  const { rows } = await db.query<Row>(`select ${columns} from ${from} where d.id = $1`, [id]);
  return rows[0] ? fromRow(rows[0]) : undefined;
}

export async function listDrills(
  db: pg.Pool,
  filter: { backupId?: string; targetId?: string; status?: DrillStatus; limit: number; offset: number },
): Promise<{ items: Drill[]; total: number }> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.backupId) where.push(`d.backup_id = $${params.push(filter.backupId)}`);
  if (filter.targetId) where.push(`d.target_id = $${params.push(filter.targetId)}`);
  if (filter.status) where.push(`d.status = $${params.push(filter.status)}`);
  const clause = where.length ? `where ${where.join(' and ')}` : '';
  const total = await db.query<{ n: string }>(`select count(*) as n from ${from} ${clause}`, params);
  const { rows } = await db.query<Row>(
    `select ${columns} from ${from} ${clause} order by d.created_at desc, d.id
      limit $${params.push(filter.limit)} offset $${params.push(filter.offset)}`,
    params,
  );
  return { items: rows.map(fromRow), total: Number(total.rows[0]?.n ?? 0) };
}

/**
 * Starts the drill when its drill server runs fewer than `concurrency` drills: true then. Serialized per
 * drill server by a transaction-level advisory lock, so that two drills never both take the last place.
 */
export async function claimDrillSlot(
  db: pg.Pool,
  claim: {
    drillId: string;
    serverTargetId: string;
    concurrency: number;
    storageUrl: string;
    scratchDatabase: string;
  },
): Promise<boolean> {
  const client = await db.connect();
  try {
    await client.query('begin');
    await client.query(`select pg_advisory_xact_lock(hashtext('lifeboat-drill-server'), hashtext($1))`, [
      claim.serverTargetId,
    ]);
    const { rows } = await client.query<{ status: DrillStatus }>('select status from drills where id = $1', [
      claim.drillId,
    ]);
    if (rows[0]?.status === 'running') {
      await client.query('commit');
      return true;
    }
    const running = await client.query<{ n: string }>(
      `select count(*) as n from drills where server_target_id = $1 and status = 'running'`,
      [claim.serverTargetId],
    );
    if (Number(running.rows[0]?.n ?? 0) >= claim.concurrency) {
      await client.query('commit');
      return false;
    }
    await client.query(
      `update drills set status = 'running', started_at = now(), server_target_id = $2, storage_url = $3,
         scratch_database = $4 where id = $1`,
      [claim.drillId, claim.serverTargetId, claim.storageUrl, claim.scratchDatabase],
    );
    await client.query('commit');
    return true;
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** Records how the drill ended; a drill ends once (a retried step finds it ended and changes nothing). */
export async function finishDrill(db: pg.Pool, id: string, ending: DrillEnding): Promise<void> {
  await db.query(
    `update drills set status = $2, checks = $3, error_code = $4, error_message = $5, rto_seconds = $6,
       checks_seconds = $7, peak_bytes = $8, finished_at = now()
     where id = $1 and finished_at is null`,
    [
      id,
      ending.status,
      JSON.stringify(ending.checks),
      ending.errorCode,
      ending.errorMessage,
      ending.rtoSeconds,
      ending.checksSeconds,
      ending.peakBytes,
    ],
  );
}

/** When each copy of the target's backups was last drilled, by storage URL: the rotation's input. */
export async function lastDrilledCopies(db: pg.Pool, targetId: string): Promise<Map<string, string>> {
  const { rows } = await db.query<{ storage_url: string; at: Date }>(
    `select storage_url, max(created_at) as at from drills
      where target_id = $1 and storage_url is not null group by storage_url`,
    [targetId],
  );
  return new Map(rows.map((row) => [row.storage_url, row.at.toISOString()]));
}

/** Marks the copy of the backup at `storageUrl` broken, with the drill's reason. */
export async function markCopyBroken(db: pg.Pool, backupId: string, storageUrl: string, reason: string) {
  await db.query(
    `update backup_copies set broken_at = coalesce(broken_at, now()), broken_reason = $3
      where backup_id = $1 and storage_url = $2`,
    [backupId, storageUrl, reason],
  );
}

/** The drill servers' scratch databases still open in the catalog: the sweep leaves these alone. */
export async function unfinishedDrillIds(db: pg.Pool): Promise<Set<string>> {
  const { rows } = await db.query<{ id: string }>(
    `select id from drills where status in ('queued', 'running')`,
  );
  return new Set(rows.map((row) => row.id));
}

/** Ids of the backups whose newest finished drill passed, among `backupIds`. */
export async function verifiedBackupIds(db: pg.Pool, backupIds: readonly string[]): Promise<Set<string>> {
  if (!backupIds.length) return new Set();
  const { rows } = await db.query<{ backup_id: string; status: DrillStatus }>(
    `select distinct on (backup_id) backup_id, status from drills
      where backup_id = any($1) and status in ('passed', 'failed') order by backup_id, finished_at desc`,
    [backupIds],
  );
  return new Set(rows.filter((row) => row.status === 'passed').map((row) => row.backup_id));
}

/** The newest finished drill of each backup among `backupIds`: what a backup shows as its verification. */
export async function latestDrills(db: pg.Pool, backupIds: readonly string[]): Promise<Map<string, Drill>> {
  if (!backupIds.length) return new Map();
  const { rows } = await db.query<Row>(
    `select distinct on (d.backup_id) ${columns} from ${from}
      where d.backup_id = any($1) and d.finished_at is not null order by d.backup_id, d.finished_at desc`,
    [backupIds],
  );
  return new Map(rows.map((row) => [row.backup_id, fromRow(row)]));
}

/** Per target: when a drill last passed and its restore time, for the metrics. */
export async function drillMetricsByTarget(
  db: pg.Pool,
): Promise<{ targetName: string; lastSuccessAt: string | null; lastRtoSeconds: number | null }[]> {
  const { rows } = await db.query<{ name: string; at: Date | null; rto: number | null }>(
    `select distinct on (t.name) t.name, d.finished_at as at, d.rto_seconds as rto
       from drills d join targets t on t.id = d.target_id
      where d.status = 'passed' order by t.name, d.finished_at desc`,
  );
  return rows.map((row) => ({
    targetName: row.name,
    lastSuccessAt: row.at?.toISOString() ?? null,
    lastRtoSeconds: row.rto,
  }));
}
