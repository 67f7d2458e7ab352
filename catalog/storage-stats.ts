// What the catalog knows about stored backups: counts, bytes per destination and target, quota use.
import type pg from 'pg';

export interface StorageStats {
  countsByStatus: Record<string, number>;
  /** Completed backups one of whose secondary copies failed. */
  degradedBackups: number;
  destinations: { url: string; backups: number; bytes: number }[];
  targets: {
    name: string;
    backups: number;
    bytes: number;
    newestCompletedAt: string | null;
    /** Whether any completed backup of the target has a completed copy off this machine (not file://). */
    offMachineCopy: boolean;
  }[];
  totalBytes: number;
  quota: { maxStorageBytes: number; usedBytes: number; usedFraction: number } | null;
  recommendations: { code: string; message: string }[];
}

/** Above this share of the quota, statistics recommend acting before backups start failing. */
export const quotaWarningFraction = 0.8;

export async function storageStats(db: pg.Pool, maxStorageBytes: number | null): Promise<StorageStats> {
  const statuses = await db.query<{ status: string; count: string }>(
    'select status, count(*) from backups group by status order by status',
  );
  const destinations = await db.query<{ url: string; backups: string; bytes: string }>(
    `select c.storage_url as url, count(*) as backups, coalesce(sum(c.size_bytes), 0) as bytes
       from backup_copies c join backups b on b.id = c.backup_id
      where b.status = 'completed' and c.status = 'completed' group by c.storage_url order by c.storage_url`,
  );
  const degraded = await db.query<{ count: string }>(
    `select count(*) from backups where status = 'completed' and degraded`,
  );
  const targets = await db.query<{
    name: string;
    backups: string;
    bytes: string;
    newest: Date | null;
    off_machine: boolean;
  }>(
    `select t.name, count(b.id) filter (where b.status = 'completed') as backups,
            coalesce(sum(b.size_bytes) filter (where b.status = 'completed'), 0) as bytes,
            max(b.finished_at) filter (where b.status = 'completed') as newest,
            exists (select 1 from backup_copies c join backups cb on cb.id = c.backup_id
                     where cb.target_id = t.id and cb.status = 'completed' and c.status = 'completed'
                       and c.storage_url not like 'file:%') as off_machine
       from targets t left join backups b on b.target_id = t.id group by t.id, t.name order by t.name`,
  );
  const totalBytes = destinations.rows.reduce((sum, row) => sum + Number(row.bytes), 0);
  const stats: StorageStats = {
    countsByStatus: Object.fromEntries(statuses.rows.map((row) => [row.status, Number(row.count)])),
    degradedBackups: Number(degraded.rows[0]?.count ?? 0),
    destinations: destinations.rows.map((row) => ({
      url: row.url,
      backups: Number(row.backups),
      bytes: Number(row.bytes),
    })),
    targets: targets.rows.map((row) => ({
      name: row.name,
      backups: Number(row.backups),
      bytes: Number(row.bytes),
      newestCompletedAt: row.newest?.toISOString() ?? null,
      offMachineCopy: row.off_machine,
    })),
    totalBytes,
    quota: maxStorageBytes
      ? { maxStorageBytes, usedBytes: totalBytes, usedFraction: totalBytes / maxStorageBytes }
      : null,
    recommendations: [],
  };
  stats.recommendations = recommend(stats);
  return stats;
}

/** Pure: what a careful operator would want to hear about these figures. */
export function recommend(stats: Omit<StorageStats, 'recommendations'>): StorageStats['recommendations'] {
  const advice: StorageStats['recommendations'] = [];
  if (stats.quota && stats.quota.usedFraction >= 1) {
    advice.push({
      code: 'QUOTA_EXCEEDED',
      message: 'Backups use more than maxStorageBytes: tighten retention or raise the quota.',
    });
  } else if (stats.quota && stats.quota.usedFraction >= quotaWarningFraction) {
    const percent = Math.round(stats.quota.usedFraction * 100);
    advice.push({ code: 'QUOTA_NEARLY_FULL', message: `Backups use ${percent}% of maxStorageBytes.` });
  }
  const localOnly = stats.targets.filter((target) => target.backups > 0 && !target.offMachineCopy);
  if (localOnly.length) {
    advice.push({
      code: 'NO_OFF_MACHINE_COPY',
      message:
        `${localOnly.map((target) => target.name).join(', ')}: every backup is on local disk only; add an S3 ` +
        'or SFTP destination so that one lost machine cannot take the data and its backups together.',
    });
  }
  for (const target of stats.targets) {
    if (target.backups === 0) {
      advice.push({
        code: 'TARGET_WITHOUT_BACKUP',
        message: `Target ${target.name} has no completed backup.`,
      });
    }
  }
  if (stats.degradedBackups > 0) {
    advice.push({
      code: 'COPIES_DEGRADED',
      message: `${stats.degradedBackups} backup(s) are missing a secondary copy: see each backup's copies and warnings.`,
    });
  }
  if ((stats.countsByStatus.failed ?? 0) > 0) {
    advice.push({
      code: 'FAILED_BACKUPS',
      message: `${stats.countsByStatus.failed} backup(s) failed; see their error codes.`,
    });
  }
  return advice;
}
