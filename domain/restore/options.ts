// A restore request in domain terms: modes, table names, options, the token binding and the lock key.
import { jsWhitespace } from '../pattern-parts.ts';
import type { RestoreMethod } from './swap.ts';

export const restoreModes = ['full', 'schema-only', 'data-only', 'tables'] as const;
export type RestoreMode = (typeof restoreModes)[number];

export interface TableName {
  schema: string;
  name: string;
}

/**
 * Where a restore writes. `target`: the database of a registered target (the backup's own or another).
 * `new-database`: a database created by the restore on the server of `targetId`, with its credentials.
 */
export interface RestoreDestination {
  kind: 'target' | 'new-database';
  targetId: string;
  targetName: string;
  database: string;
}

/** A restore's options after defaults: part of what a confirmation token is bound to. */
export interface RestoreOptions {
  mode: RestoreMode;
  /** The tables of mode `tables`, sorted; empty for the other modes. */
  tables: TableName[];
  /** Whether the documents tree is replaced by the backup's. */
  documents: boolean;
  /** Restore without ownership and grants (pg_restore --no-owner --no-privileges). */
  noOwner: boolean;
  /** End other sessions on the destination database before the restore takes its locks. */
  terminateConnections: boolean;
  /**
   * How a full restore into a target replaces its database: `auto` by swap where the server allows it.
   * Absent in restores asked for before swaps existed, which run in place.
   */
  method?: RestoreMethod | undefined;
}

export interface RestoreRequestOptions {
  mode: RestoreMode;
  tables?: string[] | undefined;
  documents?: boolean | undefined;
  noOwner?: boolean | undefined;
  terminateConnections?: boolean | undefined;
  method?: RestoreMethod | undefined;
}

/**
 * `conflict`: the request is well-formed but what it asks for is not there (documents the backup does not
 * hold, a destination without a documents directory), as the API's 409 says; otherwise it is bad input.
 */
export type Resolved<T> =
  { ok: true; value: T } | { ok: false; field: string; message: string; conflict?: boolean };

/**
 * The double-quoted identifier that starts at `text[start]`, a `"`: its name with `""` read as `"`, and the
 * index just past its closing quote. Undefined when it does not close.
 */
export function readQuotedIdentifier(text: string, start: number): { name: string; end: number } | undefined {
  let name = '';
  for (let index = start + 1; ;) {
    const quote = text.indexOf('"', index);
    if (quote < 0) return undefined;
    name += text.slice(index, quote);
    if (text[quote + 1] !== '"') return { name, end: quote + 1 };
    name += '"';
    index = quote + 2;
  }
}

/**
 * The texts parseTableName reads, as a pattern for the API and its document: white space around, one or two
 * parts apart by `.`, each bare (no `"`, `.` or white space) or double-quoted (`""` for a quote inside, not
 * empty); no NUL, which no catalog row can hold.
 */
export const tableNamePattern = (() => {
  const part = `(?:"(?:[^"\\x00]|"")+"|[^".\\x00${jsWhitespace}]+)`;
  return new RegExp(`^[${jsWhitespace}]*${part}(?:\\.${part})?[${jsWhitespace}]*$`);
})();

/** Reads `schema.name` (either part may be double-quoted); a bare name is in `public`. */
export function parseTableName(text: string): TableName | undefined {
  const parts: string[] = [];
  let rest = text.trim();
  while (rest.length) {
    let part: string;
    if (rest.startsWith('"')) {
      const quoted = readQuotedIdentifier(rest, 0);
      if (!quoted) return undefined;
      part = quoted.name;
      rest = rest.slice(quoted.end);
    } else {
      const match = /^[^".\s]+/.exec(rest);
      if (!match) return undefined;
      part = match[0];
      rest = rest.slice(part.length);
    }
    if (!part) return undefined;
    parts.push(part);
    if (!rest.length) break;
    if (!rest.startsWith('.')) return undefined;
    rest = rest.slice(1);
    if (!rest.length) return undefined;
  }
  if (parts.length === 1) return { schema: 'public', name: parts[0]! };
  if (parts.length === 2) return { schema: parts[0]!, name: parts[1]! };
  return undefined;
}

/** An identifier as PostgreSQL would print it: bare when it can be, double-quoted otherwise. */
export function quoteIdent(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) && !reservedWords.has(name)
    ? name
    : `"${name.replace(/"/g, '""')}"`;
}

// Enough of PostgreSQL's reserved words that a table could be named after one and still round-trip.
const reservedWords = new Set([
  'all', 'analyse', 'analyze', 'and', 'any', 'array', 'as', 'asc', 'asymmetric', 'both', 'case', 'cast',
  'check', 'collate', 'column', 'constraint', 'create', 'current_catalog', 'current_date', 'current_role',
  'current_time', 'current_timestamp', 'current_user', 'default', 'deferrable', 'desc', 'distinct', 'do',
  'else', 'end', 'except', 'false', 'fetch', 'for', 'foreign', 'from', 'grant', 'group', 'having', 'in',
  'initially', 'intersect', 'into', 'lateral', 'leading', 'limit', 'localtime', 'localtimestamp', 'not',
  'null', 'offset', 'on', 'only', 'or', 'order', 'placing', 'primary', 'references', 'returning', 'select',
  'session_user', 'some', 'symmetric', 'table', 'then', 'to', 'trailing', 'true', 'union', 'unique', 'user',
  'using', 'variadic', 'when', 'where', 'window', 'with',
  // Reserved as names of tables, though allowed for functions and types.
  'authorization', 'binary', 'collation', 'concurrently', 'cross', 'current_schema', 'freeze', 'full',
  'ilike', 'inner', 'is', 'isnull', 'join', 'left', 'like', 'natural', 'notnull', 'outer', 'overlaps',
  'right', 'similar', 'tablesample', 'verbose',
]); // prettier-ignore

export function qualifiedName(table: TableName): string {
  return `${quoteIdent(table.schema)}.${quoteIdent(table.name)}`;
}

/** An identifier for SQL text Lifeboat builds: always double-quoted, so no keyword can break it. */
export function sqlIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** `"schema"."name"`, for SQL text Lifeboat builds. */
export function sqlTableName(table: TableName): string {
  return `${sqlIdentifier(table.schema)}.${sqlIdentifier(table.name)}`;
}

export function tableKey(table: TableName): string {
  return JSON.stringify([table.schema, table.name]);
}

/** Orders tables by schema, then name. */
export function compareTables(a: TableName, b: TableName): number {
  return a.schema === b.schema
    ? a.name < b.name
      ? -1
      : a.name > b.name
        ? 1
        : 0
    : a.schema < b.schema
      ? -1
      : 1;
}

/**
 * The options of a restore request with their defaults, checked against what the backup holds and where
 * it goes. Documents are restored by default in mode full, when the backup has them and the destination
 * has a documents directory; asking for them when either is missing is an error.
 */
export function resolveRestoreOptions(
  request: RestoreRequestOptions,
  facts: { backupHasDocuments: boolean; destinationDocumentsDir: string | null },
): Resolved<RestoreOptions> {
  const tables: TableName[] = [];
  if (request.mode === 'tables') {
    if (!request.tables?.length) {
      return { ok: false, field: 'tables', message: 'mode "tables" needs at least one table' };
    }
    const seen = new Set<string>();
    for (const text of request.tables) {
      const table = parseTableName(text);
      if (!table) return { ok: false, field: 'tables', message: `"${text}" is not a schema.table name` };
      if (!seen.has(tableKey(table))) tables.push(table);
      seen.add(tableKey(table));
    }
    tables.sort(compareTables);
  } else if (request.tables?.length) {
    return { ok: false, field: 'tables', message: 'tables are only given with mode "tables"' };
  }
  const documentsPossible = facts.backupHasDocuments && facts.destinationDocumentsDir !== null;
  if (request.documents === true && !documentsPossible) {
    return {
      ok: false,
      field: 'documents',
      conflict: true,
      message: facts.backupHasDocuments
        ? 'the destination has no documents directory'
        : 'the backup holds no documents',
    };
  }
  return {
    ok: true,
    value: {
      mode: request.mode,
      tables,
      documents: request.documents ?? (request.mode === 'full' && documentsPossible),
      noOwner: request.noOwner ?? false,
      terminateConnections: request.terminateConnections ?? false,
      method: request.method ?? 'auto',
    },
  };
}

/** Where a destination is when the token is issued: a target edited after its preview no longer matches. */
export interface DestinationWhereabouts {
  host: string;
  port: number;
  /** The documents directory the restore writes, or null when it writes none. */
  documentsDir: string | null;
}

/**
 * The text a confirmation token is bound to: the backup, the destination with its server, database and
 * documents directory, the mode and every option, with keys in a fixed order so the same request always
 * gives the same text.
 */
export function confirmationBinding(
  backupId: string,
  destination: RestoreDestination,
  options: RestoreOptions,
  where: DestinationWhereabouts,
): string {
  return JSON.stringify([
    'lifeboat-restore-v2',
    backupId,
    destination.kind,
    destination.targetId,
    where.host.toLowerCase(),
    where.port,
    destination.database,
    where.documentsDir,
    options.mode,
    options.tables.map((t) => [t.schema, t.name]),
    options.documents,
    options.noOwner,
    options.terminateConnections,
    options.method ?? 'in-place',
  ]);
}

/** The lock key of a destination: one restore per database at a time, however it is named. */
export function destinationLockKey(connection: { host: string; port: number }, database: string): string {
  return `${connection.host.toLowerCase()}:${connection.port}/${database}`;
}

/** Whether a restore into this destination needs a safety backup: not into a new database. */
export function needsSafetyBackup(destination: RestoreDestination): boolean {
  return destination.kind === 'target';
}
