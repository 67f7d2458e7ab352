// The preview of a restore: what it does to each table, what a person should know, and how long it takes.
import {
  qualifiedName,
  quoteIdent,
  tableKey,
  type RestoreDestination,
  type RestoreMode,
  type RestoreOptions,
  type TableName,
} from './options.ts';
import type { RestorePath } from './swap.ts';
import type { TableSelection, TocEntry } from './toc.ts';

/** What a person sees before confirming a restore, from the archive and the destination as they are. */
export interface RestorePreview {
  backup: {
    id: string;
    targetName: string;
    startedAt: string;
    ageSeconds: number;
    serverVersion: string;
    sizeBytes: number | null;
    dumpSizeBytes: number;
    pgDumpVersion: string;
    documents: { fileCount: number; totalBytes: number } | null;
  };
  destination: {
    kind: RestoreDestination['kind'];
    targetName: string;
    database: string;
    host: string;
    port: number;
    exists: boolean;
    serverVersion: string;
    sizeBytes: number;
    activeConnections: number;
    tables: (TableName & { rowEstimate: number; sizeBytes: number })[];
    documentsDir: string | null;
    documentFileCount: number | null;
  };
  mode: RestoreMode;
  options: RestoreOptions;
  tables: PreviewTable[];
  sequences: TableName[];
  safetyBackup: boolean;
  /** How the restore replaces the database, and why: by swap, or in place. */
  path: { kind: RestorePath; reasons: string[] };
  warnings: RestoreWarning[];
  estimatedDurationMs: number;
}

export type TableAction =
  'create' | 'drop-and-create' | 'replace-rows' | 'create-empty' | 'drop-and-create-empty';

export interface PreviewTable extends TableName {
  sizeBytes: number | null;
  rowEstimate: number | null;
  hasData: boolean;
  inDestination: boolean;
  action: TableAction;
}

/** What the restore does to one table, in the terms of the preview. */
export function tableAction(mode: RestoreMode, inDestination: boolean): TableAction {
  if (mode === 'schema-only') return inDestination ? 'drop-and-create-empty' : 'create-empty';
  if (mode === 'full') return inDestination ? 'drop-and-create' : 'create';
  return inDestination ? 'replace-rows' : 'create';
}

/**
 * The tables a restore writes, each with its size and row estimate from the manifest and what happens to
 * it: the selected ones in mode tables, those with rows in mode data-only, every table otherwise.
 */
export function previewTables(request: {
  mode: RestoreMode;
  selected: readonly TableName[];
  dumpTables: readonly (TableName & { hasData: boolean })[];
  destinationTables: readonly TableName[];
  manifestTables: readonly (TableName & { rowEstimate: number; sizeBytes: number })[];
}): PreviewTable[] {
  const inDestination = new Set(request.destinationTables.map(tableKey));
  const sizes = new Map(request.manifestTables.map((t) => [tableKey(t), t]));
  const selected = new Set(request.selected.map(tableKey));
  const scope =
    request.mode === 'tables'
      ? request.dumpTables.filter((t) => selected.has(tableKey(t)))
      : request.mode === 'data-only'
        ? request.dumpTables.filter((t) => t.hasData)
        : request.dumpTables;
  return scope.map((t) => ({
    schema: t.schema,
    name: t.name,
    sizeBytes: sizes.get(tableKey(t))?.sizeBytes ?? null,
    rowEstimate: sizes.get(tableKey(t))?.rowEstimate ?? null,
    hasData: t.hasData,
    inDestination: inDestination.has(tableKey(t)),
    action: tableAction(request.mode, inDestination.has(tableKey(t))),
  }));
}

/** The schemas a dump creates or fills: its SCHEMA entries and the schemas of its tables. */
export function dumpSchemas(entries: readonly TocEntry[], dumpTables: readonly TableName[]): string[] {
  return [
    ...new Set(entries.filter((e) => e.desc === 'SCHEMA').map((e) => e.name)),
    ...new Set(dumpTables.map((t) => t.schema)),
  ];
}

/**
 * Throughputs behind the estimate, measured on the 2-core development machine and rounded down: replaying
 * a 111 MB custom-format dump (1 M rows and an index) through pg_restore | psql took 3.45 s, 32 MB/s;
 * Lifeboat's own backups run at 79–86 MB/s of database size (bench/RESULTS.md), the safety backup's pace.
 */
export const restoreThroughput = {
  fetchBytesPerSecond: 150e6,
  restoreBytesPerSecond: 30e6,
  backupBytesPerSecond: 75e6,
  documentsBytesPerSecond: 100e6,
  fixedOverheadMs: 5_000,
} as const;

export function estimateRestoreDurationMs(facts: {
  archiveBytes: number;
  dumpBytes: number;
  documentsBytes: number;
  /** The destination's current size when a safety backup is taken, else 0. */
  safetyBackupBytes: number;
  mode: RestoreMode;
}): number {
  const t = restoreThroughput;
  const restored = facts.mode === 'schema-only' ? Math.min(facts.dumpBytes, 1e6) : facts.dumpBytes;
  const seconds =
    facts.archiveBytes / t.fetchBytesPerSecond +
    restored / t.restoreBytesPerSecond +
    facts.safetyBackupBytes / t.backupBytesPerSecond +
    // Documents are copied into place, and the safety backup reads the current ones.
    (2 * facts.documentsBytes) / t.documentsBytesPerSecond;
  return Math.round(t.fixedOverheadMs + seconds * 1000);
}

export interface RestoreWarning {
  code:
    | 'objects-dropped'
    | 'tables-replaced'
    | 'data-replaced'
    | 'server-version-differs'
    | 'active-connections'
    | 'documents-replaced'
    | 'missing-roles'
    | 'tables-missing'
    | 'tables-unknown'
    | 'documents-not-restored'
    | 'needs-superuser'
    | 'new-database';
  message: string;
  objects?: string[] | undefined;
}

export interface PreviewFacts {
  mode: RestoreMode;
  destinationKind: RestoreDestination['kind'];
  destinationExists: boolean;
  backupServerVersionNum: number;
  backupServerVersion: string;
  destinationServerVersionNum: number;
  destinationServerVersion: string;
  /** Tables in the dump (restore scope for modes other than tables). */
  dumpTables: readonly TableName[];
  destinationTables: readonly TableName[];
  /** Other schemas of the destination, for the objects-dropped warning. */
  destinationSchemas: readonly string[];
  dumpSchemas: readonly string[];
  selection?: TableSelection | undefined;
  activeConnections: number;
  /** Whether the target's role is a superuser on the destination server. */
  superuser: boolean;
  missingRoles: readonly string[];
  noOwner: boolean;
  documents: boolean;
  backupHasDocuments: boolean;
  destinationDocumentFiles: number;
  backupDocumentFiles: number;
}

/** What a person should know before confirming: what is dropped or replaced and what may go wrong. */
export function restoreWarnings(facts: PreviewFacts): RestoreWarning[] {
  const warnings: RestoreWarning[] = [];
  const inDump = new Set(facts.dumpTables.map(tableKey));
  const inDestination = new Set(facts.destinationTables.map(tableKey));
  const names = (tables: readonly TableName[]) => tables.map(qualifiedName);
  if (facts.destinationKind === 'new-database') {
    warnings.push({
      code: 'new-database',
      message:
        'The database is created by the restore; no safety backup is taken of a database that did not exist.',
    });
  }
  const wipes = facts.mode === 'full' || facts.mode === 'schema-only';
  if (wipes && facts.destinationExists) {
    const dropped = facts.destinationTables.filter((t) => !inDump.has(tableKey(t)));
    const droppedSchemas = facts.destinationSchemas.filter(
      (s) => s !== 'public' && !facts.dumpSchemas.includes(s),
    );
    if (dropped.length || droppedSchemas.length) {
      warnings.push({
        code: 'objects-dropped',
        message:
          'These objects exist in the destination but not in the backup; the restore drops them for good ' +
          '(the safety backup keeps them).',
        objects: [...droppedSchemas.map((s) => `schema ${quoteIdent(s)}`), ...names(dropped)],
      });
    }
    const replaced = facts.destinationTables.filter((t) => inDump.has(tableKey(t)));
    if (replaced.length) {
      warnings.push({
        code: 'tables-replaced',
        message:
          facts.mode === 'schema-only'
            ? 'These tables are dropped and re-created empty: their rows are lost.'
            : 'These tables are dropped and re-created with the rows of the backup.',
        objects: names(replaced),
      });
    }
  }
  if (facts.mode === 'data-only') {
    const replaced = facts.dumpTables.filter((t) => inDestination.has(tableKey(t)));
    const missing = facts.dumpTables.filter((t) => !inDestination.has(tableKey(t)));
    if (replaced.length) {
      warnings.push({
        code: 'data-replaced',
        message: 'The rows of these tables (and all large objects) are replaced by those of the backup.',
        objects: names(replaced),
      });
    }
    if (missing.length) {
      warnings.push({
        code: 'tables-missing',
        message: 'A data-only restore needs these tables in the destination, which lacks them: it will fail.',
        objects: names(missing),
      });
    }
  }
  if (facts.mode === 'tables' && facts.selection) {
    if (facts.selection.replaced.length) {
      warnings.push({
        code: 'data-replaced',
        message:
          "The rows of these tables and the positions of their sequences are replaced by the backup's.",
        objects: names(facts.selection.replaced),
      });
    }
    if (facts.selection.unknown.length) {
      warnings.push({
        code: 'tables-unknown',
        message: 'The backup has no such tables.',
        objects: names(facts.selection.unknown),
      });
    }
  }
  if ((facts.mode === 'data-only' || facts.mode === 'tables') && !facts.superuser) {
    warnings.push({
      code: 'needs-superuser',
      message:
        'Loading rows into existing tables turns off their triggers and foreign-key checks for the load ' +
        "(session_replication_role), which needs a superuser; the target's role is not one, so the restore " +
        'will fail and change nothing.',
    });
  }
  if (facts.backupServerVersionNum !== facts.destinationServerVersionNum) {
    warnings.push({
      code: 'server-version-differs',
      message: `The backup comes from PostgreSQL ${facts.backupServerVersion}; the destination runs ${facts.destinationServerVersion}.`,
    });
  }
  if (facts.activeConnections > 0) {
    warnings.push({
      code: 'active-connections',
      message:
        `${facts.activeConnections} other session(s) are connected to the destination. The restore waits up to ` +
        'two minutes for their locks and fails if they keep them; set terminateConnections to end them first.',
    });
  }
  if (facts.missingRoles.length && !facts.noOwner) {
    warnings.push({
      code: 'missing-roles',
      message:
        'Objects in the backup belong to roles the destination server lacks: the restore will fail and change ' +
        'nothing. Create the roles, or restore with noOwner.',
      objects: [...facts.missingRoles],
    });
  }
  if (facts.documents) {
    warnings.push({
      code: 'documents-replaced',
      message:
        `The documents directory (${facts.destinationDocumentFiles} files now) is replaced by the backup's ` +
        `${facts.backupDocumentFiles} files; the current tree is kept until the restore succeeds.`,
    });
  } else if (facts.backupHasDocuments) {
    warnings.push({
      code: 'documents-not-restored',
      message: 'The backup holds documents; they are not restored.',
    });
  }
  return warnings;
}
