// Catalog functions for uploads in progress: the session lock that says their API is alive, and the claim that says where their objects go.
import pg from 'pg';
import type { Queryable } from './backups.ts';

/**
 * First key of every upload lock (the second is the backup id's hash): the two-integer key space is apart
 * from the single-bigint one the migrations lock in, and this namespace from anything else's.
 */
const uploadLockNamespace = 0x11feb0a8;

/**
 * A connection of its own, outside the pool, for the whole store of one upload: its session holds the
 * upload's lock for minutes, which a pooled connection would hold away from every other request (and with
 * a full pool, the upload's own completion would wait for itself). PostgreSQL drops the lock when the
 * session ends, whichever way the API ends.
 */
export async function openUploadSession(db: pg.Pool): Promise<pg.Client> {
  const session = new pg.Client(db.options);
  // A connection lost while the archive is being stored must not throw from an event without a listener; the
  // next query on the session rejects, and the upload fails there.
  session.on('error', (error) => console.error(`lifeboat: upload session lost: ${error.message}`));
  await session.connect();
  return session;
}

/** Closes the session, which releases its locks; a session already broken is left as it is. */
export async function closeUploadSession(session: pg.Client): Promise<void> {
  await session.end().catch(() => undefined);
}

/**
 * Takes the upload lock of `backupId` for `session` unless another session holds it; true when taken.
 * The uploader takes it before its row exists, the reconciler to learn that the uploader is gone.
 */
export async function tryLockUpload(session: Queryable, backupId: string): Promise<boolean> {
  const { rows } = await session.query<{ locked: boolean }>(
    'select pg_try_advisory_lock($1, hashtext($2)) as locked',
    [uploadLockNamespace, backupId],
  );
  return rows[0]?.locked === true;
}

export async function unlockUpload(session: Queryable, backupId: string): Promise<void> {
  await session.query('select pg_advisory_unlock($1, hashtext($2))', [uploadLockNamespace, backupId]);
}

export interface UploadClaim {
  backupId: string;
  storageKey: string;
  /** Every destination, primary first. */
  storageUrls: string[];
}

/** Inside the transaction that writes the upload's running row. */
export async function recordUploadClaim(session: Queryable, claim: UploadClaim): Promise<void> {
  await session.query(
    'insert into upload_claims (backup_id, storage_key, storage_urls) values ($1, $2, $3)',
    [claim.backupId, claim.storageKey, claim.storageUrls],
  );
}

/** Inside the transaction that completes the upload: a completed backup's places are its copies. */
export async function deleteUploadClaim(session: Queryable, backupId: string): Promise<void> {
  await session.query('delete from upload_claims where backup_id = $1', [backupId]);
}

export interface RunningUpload {
  backupId: string;
  targetId: string;
  targetName: string;
  startedAt: Date;
  /** Null for a row an API older than the claims wrote: where it stored has to be worked out. */
  claim: UploadClaim | null;
}

interface RunningUploadRow {
  id: string;
  target_id: string;
  target_name: string;
  started_at: Date;
  storage_key: string | null;
  storage_urls: string[] | null;
}

function toRunningUpload(row: RunningUploadRow): RunningUpload {
  return {
    backupId: row.id,
    targetId: row.target_id,
    targetName: row.target_name,
    startedAt: row.started_at,
    claim:
      row.storage_key && row.storage_urls
        ? { backupId: row.id, storageKey: row.storage_key, storageUrls: row.storage_urls }
        : null,
  };
}

const runningUploads = `select b.id, b.target_id, b.target_name, b.started_at, c.storage_key, c.storage_urls
  from backups b left join upload_claims c on c.backup_id = b.id
  where b.status = 'running' and b.trigger = 'upload'`;

/** Every upload row still running, oldest first, whether its uploader is alive or not. */
export async function listRunningUploads(db: Queryable): Promise<RunningUpload[]> {
  const { rows } = await db.query<RunningUploadRow>(`${runningUploads} order by b.created_at, b.id`);
  return rows.map(toRunningUpload);
}

/** The upload, if it is still running: read again once its lock is held, as it may have ended meanwhile. */
export async function findRunningUpload(db: Queryable, backupId: string): Promise<RunningUpload | undefined> {
  const { rows } = await db.query<RunningUploadRow>(`${runningUploads} and b.id = $1`, [backupId]);
  return rows[0] && toRunningUpload(rows[0]);
}

/** Deletes the row of an upload that never completed (its claim goes with it); false if it had ended. */
export async function deleteRunningUpload(db: Queryable, backupId: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `delete from backups where id = $1 and status = 'running' and trigger = 'upload'`,
    [backupId],
  );
  return Boolean(rowCount);
}
