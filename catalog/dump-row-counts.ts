// Catalog functions for the row counts of a backup's dump: kept once counted, for the archive they came from.
import type pg from 'pg';
import type { ExpectedTable } from '../domain/restore/verify.ts';

/** The counts for the backup's archive with this sha256, when they were counted before. */
export async function findDumpRowCounts(
  db: pg.Pool,
  backupId: string,
  archiveSha256: string,
): Promise<ExpectedTable[] | undefined> {
  const { rows } = await db.query<{ counts: ExpectedTable[] }>(
    'select counts from dump_row_counts where backup_id = $1 and archive_sha256 = $2',
    [backupId, archiveSha256],
  );
  return rows[0]?.counts;
}

export async function saveDumpRowCounts(
  db: pg.Pool,
  backupId: string,
  archiveSha256: string,
  counts: readonly ExpectedTable[],
): Promise<void> {
  await db.query(
    `insert into dump_row_counts (backup_id, archive_sha256, counts) values ($1, $2, $3)
     on conflict (backup_id) do update set archive_sha256 = excluded.archive_sha256, counts = excluded.counts,
       counted_at = now()`,
    [backupId, archiveSha256, JSON.stringify(counts)],
  );
}
