// Names people read: backup ids, workflow ids, archive object keys. Pure and deterministic.

/** The names of targets and schedules: they become object keys, workflow ids and Temporal schedule ids. */
export const targetNamePattern = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export const targetNameRule =
  'lower-case letters, digits, "-" and "_", starting with a letter or digit, at most 63';

export function isValidTargetName(name: string): boolean {
  return targetNamePattern.test(name);
}

/** `20261122_110315` in UTC: sorts as text in time order. */
export function compactUtcTimestamp(at: Date): string {
  const iso = at.toISOString(); // 2026-11-22T11:03:15.123Z
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}_${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}`;
}

/** The first 8 hex digits of a uuid: enough to tell two backups of one second apart. */
function shortId(backupId: string): string {
  return backupId.replace(/-/g, '').slice(0, 8);
}

export function backupWorkflowId(targetName: string, startedAt: Date, backupId: string): string {
  return `backup/${targetName}/${compactUtcTimestamp(startedAt)}-${shortId(backupId)}`;
}

export const compressions = ['zstd', 'gzip', 'none'] as const;
export type Compression = (typeof compressions)[number];

const compressionSuffix: Record<Compression, string> = { zstd: '.tar.zst', gzip: '.tar.gz', none: '.tar' };

/**
 * File name of the archive: `<target>_backup_YYYYMMDD_HHMMSS_<id8>.tar[.zst|.gz][.age]`, `.age` when it is
 * encrypted, so that the name says which tools open it.
 */
export function archiveFileName(
  targetName: string,
  startedAt: Date,
  backupId: string,
  compression: Compression,
  encrypted = false,
): string {
  const suffix = `${compressionSuffix[compression]}${encrypted ? '.age' : ''}`;
  return `${targetName}_backup_${compactUtcTimestamp(startedAt)}_${shortId(backupId)}${suffix}`;
}

/** Object key of the archive in storage; everything of one target lives under its name. */
export function archiveKey(...name: Parameters<typeof archiveFileName>): string {
  return `${name[0]}/${archiveFileName(...name)}`;
}

export function manifestSidecarKey(archiveObjectKey: string): string {
  return `${archiveObjectKey}.manifest.json`;
}

export function md5SidecarKey(archiveObjectKey: string): string {
  return `${archiveObjectKey}.md5`;
}

/** Path of the dump inside the archive, `database/<db>.dump`, with the name made safe for a path. */
export function dumpEntryName(databaseName: string): string {
  return `database/${databaseName.replace(/[^A-Za-z0-9._-]/g, '_')}.dump`;
}

/**
 * Path of one part of a dump written as a sequence of tar entries, `database/<db>.dump.000000`: six digits,
 * so that the parts sort by name in their order and `cat database/<db>.dump.*` joins them into the dump.
 */
export function dumpPartEntryName(databaseName: string, index: number): string {
  return `${dumpEntryName(databaseName)}.${String(index).padStart(6, '0')}`;
}

/** Splits a part's path into the dump it belongs to and its index; undefined for any other path. */
export function parseDumpPartEntryName(entryName: string): { dumpPath: string; index: number } | undefined {
  const match = /^(database\/[A-Za-z0-9._-]+\.dump)\.(\d{6})$/.exec(entryName);
  return match ? { dumpPath: match[1]!, index: Number(match[2]) } : undefined;
}
