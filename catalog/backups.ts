// Catalog functions for backups: one row per backup, running until the workflow records how it ended.
import type pg from 'pg';
import { LifeboatError } from '../domain/errors.ts';
import type { BackupLabels } from '../domain/backup.ts';
import type { Manifest } from '../domain/manifest.ts';

export type BackupStatus = 'running' | 'completed' | 'failed' | 'cancelled';

/** The pool, or one session of it: an upload writes its row through the session that holds its lock. */
export type Queryable = Pick<pg.ClientBase, 'query'>;

export interface Backup extends BackupLabels {
  id: string;
  targetId: string;
  targetName: string;
  workflowId: string;
  status: BackupStatus;
  storageUrl: string | null;
  storageKey: string | null;
  sizeBytes: number | null;
  sha256: string | null;
  md5: string | null;
  manifest: Manifest | null;
  errorCode: string | null;
  errorMessage: string | null;
  startedAt: string;
  finishedAt: string | null;
  durationsMs: { dump: number | null; archive: number | null; upload: number | null };
  /** The retention tiers that keep this backup, and when the policy is projected to release it. */
  categories: string[];
  expiresAt: string | null;
  /** Set while a deletion the policy asked for keeps failing; it is retried on the next pass. */
  deletionError: string | null;
  /** Completed with its primary copy while a secondary copy failed after its retries. */
  degraded: boolean;
  /** The archive is encrypted to the target's age recipients; restoring it needs a private key. */
  encrypted: boolean;
  /** In the trash since then, by whom (`retention` for the policy); null while the backup is live. */
  trashedAt: string | null;
  trashedBy: string | null;
  /** When the retention sweep removes a trashed backup for good; until then it can be undeleted. */
  purgeAfter: string | null;
}

interface BackupRow {
  id: string;
  target_id: string;
  target_name: string;
  workflow_id: string;
  status: BackupStatus;
  trigger: string;
  requested_by: string | null;
  display_name: string | null;
  description: string | null;
  tags: string[];
  protected: boolean;
  storage_url: string | null;
  storage_key: string | null;
  size_bytes: string | null;
  sha256: string | null;
  md5: string | null;
  manifest: Manifest | null;
  error_code: string | null;
  error_message: string | null;
  started_at: Date;
  finished_at: Date | null;
  dump_ms: number | null;
  archive_ms: number | null;
  upload_ms: number | null;
  categories: string[];
  expires_at: Date | null;
  deletion_error: string | null;
  degraded: boolean;
  encrypted: boolean;
  trashed_at: Date | null;
  trashed_by: string | null;
  purge_after: Date | null;
}

function toBackup(row: BackupRow): Backup {
  return {
    id: row.id,
    targetId: row.target_id,
    targetName: row.target_name,
    workflowId: row.workflow_id,
    status: row.status,
    trigger: row.trigger,
    requestedBy: row.requested_by,
    displayName: row.display_name,
    description: row.description,
    tags: row.tags,
    protected: row.protected,
    storageUrl: row.storage_url,
    storageKey: row.storage_key,
    sizeBytes: row.size_bytes === null ? null : Number(row.size_bytes),
    sha256: row.sha256,
    md5: row.md5,
    manifest: row.manifest,
    errorCode: row.error_code,
    errorMessage: row.error_message,
    startedAt: row.started_at.toISOString(),
    finishedAt: row.finished_at?.toISOString() ?? null,
    durationsMs: { dump: row.dump_ms, archive: row.archive_ms, upload: row.upload_ms },
    categories: row.categories,
    expiresAt: row.expires_at?.toISOString() ?? null,
    deletionError: row.deletion_error,
    degraded: row.degraded,
    encrypted: row.encrypted,
    trashedAt: row.trashed_at?.toISOString() ?? null,
    trashedBy: row.trashed_by,
    purgeAfter: row.purge_after?.toISOString() ?? null,
  };
}

/** A backup's row as it starts: what was asked for, before anything is known of its outcome. */
export type NewBackup = BackupLabels &
  Pick<Backup, 'id' | 'targetId' | 'targetName' | 'workflowId' | 'startedAt'>;

/**
 * Idempotent under retry: the workflow's first activity writes it (an upload claims its id with it). True
 * when this call wrote the row, false when a row of that id existed.
 */
export async function insertRunningBackup(db: Queryable, backup: NewBackup): Promise<boolean> {
  const { rowCount } = await db.query(
    `insert into backups (id, target_id, target_name, workflow_id, status, trigger, requested_by, display_name,
       description, tags, protected, started_at)
     values ($1, $2, $3, $4, 'running', $5, $6, $7, $8, $9, $10, $11)
     on conflict (id) do nothing`,
    [
      backup.id,
      backup.targetId,
      backup.targetName,
      backup.workflowId,
      backup.trigger,
      backup.requestedBy,
      backup.displayName,
      backup.description,
      backup.tags,
      backup.protected,
      backup.startedAt,
    ],
  );
  return Boolean(rowCount);
}

export interface CompletedBackup {
  storageUrl: string;
  storageKey: string;
  sizeBytes: number;
  sha256: string;
  md5: string;
  finishedAt: string;
  dumpMs: number;
  archiveMs: number;
  uploadMs: number;
  degraded: boolean;
}

/**
 * Marks the backup completed. Its manifest was recorded by `recordBackupManifest` when the archive was
 * built, so that an encrypted backup's full manifest lives only in the catalog, never in plain storage.
 */
export async function markBackupCompleted(db: Queryable, id: string, done: CompletedBackup): Promise<void> {
  const { rowCount } = await db.query(
    `update backups set status = 'completed', storage_url = $2, storage_key = $3, size_bytes = $4, sha256 = $5,
       md5 = $6, degraded = $7, finished_at = $8, dump_ms = $9, archive_ms = $10, upload_ms = $11,
       error_code = null, error_message = null
     where id = $1`,
    [
      id,
      done.storageUrl,
      done.storageKey,
      done.sizeBytes,
      done.sha256,
      done.md5,
      done.degraded,
      done.finishedAt,
      done.dumpMs,
      done.archiveMs,
      done.uploadMs,
    ],
  );
  if (!rowCount) throw new LifeboatError('NOT_FOUND', `No backup ${id} in the catalog.`);
}

/** The archive's manifest, and whether the archive is encrypted, recorded once the archive is built. */
export async function recordBackupManifest(
  db: Queryable,
  id: string,
  manifest: Manifest,
  encrypted: boolean,
): Promise<void> {
  const { rowCount } = await db.query('update backups set manifest = $2, encrypted = $3 where id = $1', [
    id,
    JSON.stringify(manifest),
    encrypted,
  ]);
  if (!rowCount) throw new LifeboatError('NOT_FOUND', `No backup ${id} in the catalog.`);
}

export interface BackupCopy {
  position: number;
  storageUrl: string;
  storageKey: string;
  status: 'completed' | 'failed';
  sizeBytes: number | null;
  errorCode: string | null;
  errorMessage: string | null;
  recordedAt: string;
}

/** Records how one copy of a backup ended; idempotent, the last word wins. */
export async function recordBackupCopy(
  db: Queryable,
  backupId: string,
  copy: Omit<BackupCopy, 'recordedAt'>,
): Promise<void> {
  await db.query(
    `insert into backup_copies (backup_id, position, storage_url, storage_key, status, size_bytes, error_code,
       error_message)
     values ($1, $2, $3, $4, $5, $6, $7, $8)
     on conflict (backup_id, position) do update set storage_url = excluded.storage_url,
       storage_key = excluded.storage_key, status = excluded.status, size_bytes = excluded.size_bytes,
       error_code = excluded.error_code, error_message = excluded.error_message, recorded_at = now()`,
    [
      backupId,
      copy.position,
      copy.storageUrl,
      copy.storageKey,
      copy.status,
      copy.sizeBytes,
      copy.errorCode,
      copy.errorMessage,
    ],
  );
}

/** A backup's copies, primary first. */
export async function listBackupCopies(db: pg.Pool, backupId: string): Promise<BackupCopy[]> {
  const { rows } = await db.query<{
    position: number;
    storage_url: string;
    storage_key: string;
    status: 'completed' | 'failed';
    size_bytes: string | null;
    error_code: string | null;
    error_message: string | null;
    recorded_at: Date;
  }>('select * from backup_copies where backup_id = $1 order by position', [backupId]);
  return rows.map((row) => ({
    position: row.position,
    storageUrl: row.storage_url,
    storageKey: row.storage_key,
    status: row.status,
    sizeBytes: row.size_bytes === null ? null : Number(row.size_bytes),
    errorCode: row.error_code,
    errorMessage: row.error_message,
    recordedAt: row.recorded_at.toISOString(),
  }));
}

export async function markBackupEnded(
  db: pg.Pool,
  id: string,
  ended: { status: 'failed' | 'cancelled'; errorCode: string; errorMessage: string; finishedAt: string },
): Promise<void> {
  await db.query(
    `update backups set status = $2, error_code = $3, error_message = $4, finished_at = $5,
       storage_url = null, storage_key = null, size_bytes = null, sha256 = null, md5 = null, degraded = false
     where id = $1 and status <> 'completed'`,
    [id, ended.status, ended.errorCode, ended.errorMessage, ended.finishedAt],
  );
  // Whatever copies reached storage were removed by the workflow before it recorded the ending.
  await db.query(
    `delete from backup_copies c using backups b where c.backup_id = b.id and b.id = $1 and b.status <> 'completed'`,
    [id],
  );
}

export async function findBackup(db: pg.Pool, id: string): Promise<Backup | undefined> {
  if (!/^[0-9a-f-]{36}$/i.test(id)) return undefined;
  const { rows } = await db.query<BackupRow>('select * from backups where id = $1', [id]);
  return rows[0] ? toBackup(rows[0]) : undefined;
}

/** The oldest completed backup whose archive has this sha256: the same archive, already registered. */
export async function findCompletedBackupBySha256(
  db: pg.Pool,
  sha256: string,
): Promise<{ id: string; targetName: string } | undefined> {
  const { rows } = await db.query<{ id: string; target_name: string }>(
    `select id, target_name from backups where sha256 = $1 and status = 'completed' order by started_at limit 1`,
    [sha256],
  );
  return rows[0] && { id: rows[0].id, targetName: rows[0].target_name };
}

export async function getBackup(db: pg.Pool, id: string): Promise<Backup> {
  const backup = await findBackup(db, id);
  if (!backup) throw new LifeboatError('NOT_FOUND', `No backup ${id}.`);
  return backup;
}

export interface BackupFilters {
  target?: string | undefined;
  status?: BackupStatus | undefined;
  trigger?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  search?: string | undefined;
  /** True: only the backups in the trash; otherwise only the live ones. */
  trashed?: boolean | undefined;
  limit: number;
  offset: number;
}

/** A page of backups, newest first, and how many match in all. */
export async function listBackups(
  db: pg.Pool,
  filters: BackupFilters,
): Promise<{ items: Backup[]; total: number }> {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (clause: (placeholder: string) => string, value: unknown) => {
    params.push(value);
    where.push(clause(`$${params.length}`));
  };
  if (filters.target) add((p) => `(target_name = ${p} or target_id::text = ${p})`, filters.target);
  if (filters.status) add((p) => `status = ${p}`, filters.status);
  if (filters.trigger) add((p) => `trigger = ${p}`, filters.trigger);
  if (filters.from) add((p) => `started_at >= ${p}`, filters.from);
  if (filters.to) add((p) => `started_at < ${p}`, filters.to);
  if (filters.search) {
    add(
      (p) =>
        `(coalesce(display_name, '') ilike ${p} or coalesce(description, '') ilike ${p} or exists (select 1 from unnest(tags) tag where tag ilike ${p}))`,
      `%${filters.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`,
    );
  }
  where.push(filters.trashed ? 'trashed_at is not null' : 'trashed_at is null');
  const clause = `where ${where.join(' and ')}`;
  const total = await db.query<{ count: string }>(`select count(*) from backups ${clause}`, params);
  const { rows } = await db.query<BackupRow>(
    `select * from backups ${clause} order by started_at desc, id limit $${params.length + 1} offset $${params.length + 2}`,
    [...params, filters.limit, filters.offset],
  );
  return { items: rows.map(toBackup), total: Number(total.rows[0]?.count ?? 0) };
}

export async function deleteBackupRow(db: pg.Pool, id: string): Promise<void> {
  await db.query('delete from backups where id = $1', [id]);
}

/** Moves a live backup to the trash until `purgeAfter`; false when it was already there (or is gone). */
export async function trashBackupRow(
  db: pg.Pool,
  id: string,
  trash: { by: string; purgeAfter: Date },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `update backups set trashed_at = now(), trashed_by = $2, purge_after = $3
     where id = $1 and trashed_at is null`,
    [id, trash.by, trash.purgeAfter.toISOString()],
  );
  return Boolean(rowCount);
}

/** Brings a trashed backup back; false when it was not in the trash. */
export async function untrashBackupRow(db: pg.Pool, id: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `update backups set trashed_at = null, trashed_by = null, purge_after = null, deletion_error = null
     where id = $1 and trashed_at is not null`,
    [id],
  );
  return Boolean(rowCount);
}

/** The id of the target's newest completed backup that is not in the trash. */
export async function newestCompletedBackupId(db: pg.Pool, targetId: string): Promise<string | undefined> {
  const { rows } = await db.query<{ id: string }>(
    `select id from backups where target_id = $1 and status = 'completed' and trashed_at is null
     order by started_at desc, id limit 1`,
    [targetId],
  );
  return rows[0]?.id;
}

/** Trashed backups whose grace has passed (of one target, or all), oldest first: what the sweep removes. */
export async function listBackupsToPurge(db: pg.Pool, now: Date, targetId?: string): Promise<Backup[]> {
  const { rows } = await db.query<BackupRow>(
    `select * from backups where purge_after <= $1 and ($2::uuid is null or target_id = $2)
     order by purge_after, id`,
    [now.toISOString(), targetId ?? null],
  );
  return rows.map(toBackup);
}
