// Restores, pure: modes and options, the confirmation binding, progress, the pg_restore table of contents
// and what a mode selects from it, the SQL around pg_restore's output, verification and estimates.

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
}

export interface RestoreRequestOptions {
  mode: RestoreMode;
  tables?: string[] | undefined;
  documents?: boolean | undefined;
  noOwner?: boolean | undefined;
  terminateConnections?: boolean | undefined;
}

export type Resolved<T> = { ok: true; value: T } | { ok: false; field: string; message: string };

/** Reads `schema.name` (either part may be double-quoted); a bare name is in `public`. */
export function parseTableName(text: string): TableName | undefined {
  const parts: string[] = [];
  let rest = text.trim();
  while (rest.length) {
    let part: string;
    if (rest.startsWith('"')) {
      let end = 1;
      part = '';
      for (;;) {
        const quote = rest.indexOf('"', end);
        if (quote < 0) return undefined;
        part += rest.slice(end, quote);
        if (rest[quote + 1] === '"') {
          part += '"';
          end = quote + 2;
        } else {
          rest = rest.slice(quote + 1);
          break;
        }
      }
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
]); // prettier-ignore

export function qualifiedName(table: TableName): string {
  return `${quoteIdent(table.schema)}.${quoteIdent(table.name)}`;
}

export function tableKey(table: TableName): string {
  return JSON.stringify([table.schema, table.name]);
}

function compareTables(a: TableName, b: TableName): number {
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
    },
  };
}

/**
 * The text a confirmation token is bound to: the backup, the destination, the mode and every option,
 * with keys in a fixed order so the same request always gives the same text.
 */
export function confirmationBinding(
  backupId: string,
  destination: RestoreDestination,
  options: RestoreOptions,
): string {
  return JSON.stringify([
    'lifeboat-restore-v1',
    backupId,
    destination.kind,
    destination.targetId,
    destination.database,
    options.mode,
    options.tables.map((t) => [t.schema, t.name]),
    options.documents,
    options.noOwner,
    options.terminateConnections,
  ]);
}

/** The lock key of a destination: one restore per database at a time, however it is named. */
export function destinationLockKey(connection: { host: string; port: number }, database: string): string {
  return `${connection.host.toLowerCase()}:${connection.port}/${database}`;
}

// ---------------------------------------------------------------------------------------------------
// Progress

export const restoreSteps = [
  'approval',
  'validate',
  'lock',
  'safety-backup',
  'restore-database',
  'restore-documents',
  'verify',
  'finish',
  'rollback',
  'done',
] as const;
export type RestoreStep = (typeof restoreSteps)[number];

export type RestoreStatus =
  'pending' | 'awaiting_approval' | 'running' | 'rolling_back' | 'completed' | 'failed' | 'cancelled';

export interface RestoreProgress {
  step: RestoreStep;
  percent: number;
  currentTable: string | null;
  status: RestoreStatus;
}

/** What an activity reports while it works, sent to the workflow as the `progress` signal. */
export interface RestoreProgressUpdate {
  step: RestoreStep;
  percent: number;
  bytes: number;
  currentTable?: string | null | undefined;
}

/** Share of the whole restore reached at the start and end of each step. */
const stepRange: Record<RestoreStep, [number, number]> = {
  approval: [0, 0],
  validate: [0, 10],
  lock: [10, 11],
  'safety-backup': [11, 30],
  'restore-database': [30, 80],
  'restore-documents': [80, 88],
  verify: [88, 97],
  finish: [97, 100],
  // A rollback starts over: it is a restore of the safety backup.
  rollback: [0, 100],
  done: [100, 100],
};

/** Percent for a step with `fraction` of it done (0..1). */
export function restorePercent(step: RestoreStep, fraction: number): number {
  const [start, end] = stepRange[step];
  const clamped = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  return Math.round(start + (end - start) * clamped);
}

// ---------------------------------------------------------------------------------------------------
// pg_restore's table of contents

export interface TocEntry {
  /** pg_restore's dump id, what `-L` lists name. */
  id: number;
  /** The catalog OID of the object; for TABLE DATA the table's. 0 when it has none. */
  oid: number;
  desc: string;
  schema: string | null;
  name: string;
  owner: string | null;
  deps: number[];
}

/** Entries whose bodies are data, left out of the header pass so that it reads no table data. */
const bulkDataDescs = ['TABLE DATA', 'BLOBS', 'BLOB DATA', 'LARGE OBJECTS'];

/**
 * Reads `pg_restore --list`: the id, OID and description of every entry. Returns the full text of the
 * lines without bulk data (the list for the header pass) and the bulk-data entries themselves.
 */
export function splitTocList(list: string): {
  headerList: string;
  dataEntries: { id: number; oid: number; desc: string }[];
} {
  const headerLines: string[] = [];
  const dataEntries: { id: number; oid: number; desc: string }[] = [];
  for (const line of list.split('\n')) {
    const match = /^(\d+); (\d+) (\d+) (.*)$/.exec(line);
    if (!match) continue;
    const rest = match[4]!;
    const bulk = bulkDataDescs.find((desc) => rest.startsWith(`${desc} `) || rest === desc);
    if (bulk) dataEntries.push({ id: Number(match[1]), oid: Number(match[3]), desc: bulk });
    else headerLines.push(line);
  }
  return { headerList: `${headerLines.join('\n')}\n`, dataEntries };
}

/**
 * Reads the entry headers that `pg_restore --verbose --file=-` prints before each object:
 *
 *     -- TOC entry 224 (class 1259 OID 16443)
 *     -- Dependencies: 225
 *     -- Name: documents_meta_id_seq; Type: SEQUENCE; Schema: public; Owner: lifeboat
 */
export function parseTocHeaders(text: string): TocEntry[] {
  const entries: TocEntry[] = [];
  let current: { id: number; oid: number; deps: number[] } | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith('-- ')) continue;
    const entry = /^-- TOC entry (\d+) \(class \d+ OID (\d+)\)$/.exec(line);
    if (entry) {
      current = { id: Number(entry[1]), oid: Number(entry[2]), deps: [] };
      continue;
    }
    if (!current) continue;
    const deps = /^-- Dependencies: ([\d ]+)$/.exec(line);
    if (deps) {
      current.deps = deps[1]!.trim().split(/\s+/).map(Number);
      continue;
    }
    const name = /^-- (?:Data for )?Name: (.*); Type: (.*); Schema: (.*); Owner: (.*)$/.exec(line);
    if (name) {
      entries.push({
        ...current,
        name: name[1]!,
        desc: name[2]!,
        schema: name[3] === '-' ? null : name[3]!,
        owner: name[4] === '-' || name[4] === '' ? null : name[4]!,
      });
      current = undefined;
    }
  }
  return entries;
}

/** The tables (and partitioned tables) of a table of contents, and whether the dump carries their rows. */
export function tocTables(
  entries: readonly TocEntry[],
  dataEntries: readonly { id: number; oid: number; desc: string }[],
): (TableName & { id: number; hasData: boolean })[] {
  const withData = new Set(dataEntries.filter((e) => e.desc === 'TABLE DATA').map((e) => e.oid));
  return entries
    .filter((e) => e.desc === 'TABLE' && e.schema !== null)
    .map((e) => ({ id: e.id, schema: e.schema!, name: e.name, hasData: withData.has(e.oid) }))
    .sort(compareTables);
}

/** Owners named in the table of contents, for the preview's check that the destination has them. */
export function tocOwners(entries: readonly TocEntry[]): string[] {
  return [...new Set(entries.map((e) => e.owner).filter((o): o is string => o !== null))].sort();
}

/** Kinds of entries that belong to a table and are restored with it when the table is re-created. */
const tableBoundDescs = new Set([
  'SEQUENCE',
  'SEQUENCE OWNED BY',
  'DEFAULT',
  'CONSTRAINT',
  'CHECK CONSTRAINT',
  'FK CONSTRAINT',
  'INDEX',
  'INDEX ATTACH',
  'TRIGGER',
  'RULE',
  'POLICY',
  'ROW SECURITY',
  'STATISTICS',
  'COMMENT',
  'ACL',
  'SECURITY LABEL',
]);

export interface TableSelection {
  /** Dump ids to give pg_restore with `-L`, in the archive's order. */
  ids: number[];
  /** The selected tables whose definitions are restored too, because the destination lacks them. */
  created: TableName[];
  /** Selected tables that exist in the destination and get their rows replaced. */
  replaced: TableName[];
  /** Owned sequences restored with their tables. */
  sequences: TableName[];
  /** Selected tables that the dump does not have. */
  unknown: TableName[];
}

/**
 * What mode `tables` restores. For a table the destination has, its rows and the positions of the
 * sequences it owns (serial and identity columns). For a table it lacks, also its definition with what
 * hangs on it: owned sequences, defaults, constraints, indexes, triggers, rules, policies, comments and
 * grants, and foreign keys whose other table exists or is selected too.
 */
export function selectTables(
  entries: readonly TocEntry[],
  dataEntries: readonly { id: number; oid: number; desc: string }[],
  selected: readonly TableName[],
  existing: ReadonlySet<string>,
): TableSelection {
  const tables = new Map(
    entries
      .filter((e) => e.desc === 'TABLE' && e.schema !== null)
      .map((e) => [tableKey({ schema: e.schema!, name: e.name }), e]),
  );
  const tableIds = new Map([...tables.values()].map((e) => [e.id, e]));
  const byId = new Map(entries.map((e) => [e.id, e]));
  const ids = new Set<number>();
  const created: TableName[] = [];
  const replaced: TableName[] = [];
  const unknown: TableName[] = [];
  const sequences: TableName[] = [];
  const selectedIds = new Set<number>();
  for (const table of selected) {
    const entry = tables.get(tableKey(table));
    if (!entry) unknown.push(table);
    else selectedIds.add(entry.id);
  }
  const available = (id: number): boolean => {
    const table = tableIds.get(id);
    return (
      !table || selectedIds.has(id) || existing.has(tableKey({ schema: table.schema!, name: table.name }))
    );
  };
  for (const id of selectedIds) {
    const table = byId.get(id)!;
    const name = { schema: table.schema!, name: table.name };
    const data = dataEntries.find((d) => d.desc === 'TABLE DATA' && d.oid === table.oid);
    if (data) ids.add(data.id);
    const owned = entries.filter((e) => e.desc === 'SEQUENCE' && e.deps.includes(id));
    for (const sequence of owned) {
      sequences.push({ schema: sequence.schema!, name: sequence.name });
      for (const set of entries.filter((e) => e.desc === 'SEQUENCE SET' && e.deps.includes(sequence.id))) {
        ids.add(set.id);
      }
    }
    if (existing.has(tableKey(name))) {
      replaced.push(name);
      continue;
    }
    created.push(name);
    const definitions = new Set([id]);
    for (let grew = true; grew;) {
      grew = false;
      for (const entry of entries) {
        if (definitions.has(entry.id) || !tableBoundDescs.has(entry.desc)) continue;
        if (!entry.deps.some((dep) => definitions.has(dep))) continue;
        if (!entry.deps.every(available)) continue;
        definitions.add(entry.id);
        grew = true;
      }
    }
    for (const definition of definitions) ids.add(definition);
  }
  const order = new Map(entries.map((e, index) => [e.id, index]));
  const position = (id: number) => order.get(id) ?? entries.length + id;
  return {
    ids: [...ids].sort((a, b) => position(a) - position(b)),
    created: created.sort(compareTables),
    replaced: replaced.sort(compareTables),
    sequences: sequences.sort(compareTables),
    unknown,
  };
}

// ---------------------------------------------------------------------------------------------------
// The SQL around pg_restore's output

/**
 * Empties a database so that restoring a dump into it gives exactly the dumped state, as if into a
 * fresh one: event triggers, publications, extensions (but plpgsql), every schema but `public` and
 * the system ones, every object in `public` (the schema itself stays: its OID carries its initial
 * privileges), and every large object. Runs inside the restore's transaction.
 */
export function wipeDatabaseSql(): string {
  return `DO $lifeboat$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT evtname FROM pg_catalog.pg_event_trigger LOOP
    EXECUTE pg_catalog.format('DROP EVENT TRIGGER IF EXISTS %I CASCADE', r.evtname);
  END LOOP;
  FOR r IN SELECT pubname FROM pg_catalog.pg_publication LOOP
    EXECUTE pg_catalog.format('DROP PUBLICATION IF EXISTS %I', r.pubname);
  END LOOP;
  FOR r IN SELECT extname FROM pg_catalog.pg_extension WHERE extname <> 'plpgsql' LOOP
    EXECUTE pg_catalog.format('DROP EXTENSION IF EXISTS %I CASCADE', r.extname);
  END LOOP;
  FOR r IN SELECT nspname FROM pg_catalog.pg_namespace
            WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'public', 'pg_toast')
              AND nspname NOT LIKE 'pg\\_temp\\_%' AND nspname NOT LIKE 'pg\\_toast\\_temp\\_%' LOOP
    EXECUTE pg_catalog.format('DROP SCHEMA IF EXISTS %I CASCADE', r.nspname);
  END LOOP;
  FOR r IN
    SELECT o.type, o.identity, d.classid, d.objid
      FROM pg_catalog.pg_depend d, LATERAL pg_catalog.pg_identify_object(d.classid, d.objid, 0) o
     WHERE d.refclassid = 'pg_catalog.pg_namespace'::pg_catalog.regclass
       AND d.refobjid = 'public'::pg_catalog.regnamespace AND d.deptype = 'n'
     ORDER BY d.classid, d.objid
  LOOP
    -- An earlier CASCADE may have taken it already.
    CONTINUE WHEN NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend x WHERE x.classid = r.classid AND x.objid = r.objid);
    EXECUTE pg_catalog.format('DROP %s IF EXISTS %s CASCADE',
      CASE
        WHEN r.type = 'type' AND (SELECT t.typtype FROM pg_catalog.pg_type t WHERE t.oid = r.objid) = 'd' THEN 'DOMAIN'
        WHEN r.type = 'composite type' THEN 'TYPE'
        ELSE pg_catalog.upper(r.type)
      END, r.identity);
  END LOOP;
  PERFORM pg_catalog.lo_unlink(l.oid) FROM pg_catalog.pg_largeobject_metadata l;
END
$lifeboat$;
`;
}

function sqlLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/**
 * Removes the rows of `tables` (those that exist) before their data is loaded again: TRUNCATE, except
 * for tables that a table outside the set references by foreign key, which TRUNCATE refuses; those are
 * emptied with DELETE (foreign-key triggers are off under session_replication_role = replica).
 */
export function clearTablesSql(tables: readonly TableName[], largeObjects: boolean): string {
  const names = tables.map((t) => sqlLiteral(qualifiedName(t))).join(', ');
  return `DO $lifeboat$
DECLARE
  selected pg_catalog.regclass[] := ARRAY(
    SELECT pg_catalog.to_regclass(n) FROM pg_catalog.unnest(ARRAY[${names}]::text[]) n
     WHERE pg_catalog.to_regclass(n) IS NOT NULL);
  plain text[] := '{}';
  t pg_catalog.regclass;
BEGIN
  FOREACH t IN ARRAY selected LOOP
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c
                WHERE c.contype = 'f' AND c.confrelid = t AND NOT (c.conrelid = ANY (selected))) THEN
      EXECUTE pg_catalog.format('DELETE FROM ONLY %s', t);
    ELSE
      plain := plain || t::text;
    END IF;
  END LOOP;
  IF pg_catalog.cardinality(plain) > 0 THEN
    EXECUTE 'TRUNCATE ONLY ' || pg_catalog.array_to_string(plain, ', ');
  END IF;${largeObjects ? '\n  PERFORM pg_catalog.lo_unlink(l.oid) FROM pg_catalog.pg_largeobject_metadata l;' : ''}
END
$lifeboat$;
`;
}

export interface ExpectedTable extends TableName {
  /** Rows the restored dump carried for it; null when the dump has no data for it. */
  rows: number | null;
}

/**
 * Checks, inside the restore's transaction and before COMMIT, that every expected table exists and holds
 * exactly the rows the dump carried; any difference raises an error and PostgreSQL rolls it all back.
 */
export function checkRestoredSql(expected: readonly ExpectedTable[]): string {
  if (!expected.length) return '';
  const checks = expected.map((table) => {
    const name = qualifiedName(table);
    const missing = `  IF pg_catalog.to_regclass(${sqlLiteral(name)}) IS NULL THEN
    RAISE EXCEPTION 'lifeboat verify: table % is missing after the restore', ${sqlLiteral(name)};
  END IF;`;
    if (table.rows === null) return missing;
    return `${missing}
  SELECT pg_catalog.count(*) INTO n FROM ONLY ${name};
  IF n <> ${table.rows} THEN
    RAISE EXCEPTION 'lifeboat verify: table % holds % rows after the restore; the archive carries ${table.rows}', ${sqlLiteral(name)}, n;
  END IF;`;
  });
  return `DO $lifeboat$
DECLARE
  n bigint;
BEGIN
${checks.join('\n')}
END
$lifeboat$;
`;
}

// ---------------------------------------------------------------------------------------------------
// Reading pg_restore's SQL output as it streams: which table is loading, how many rows each carried

/** The table a `COPY schema.table (columns) FROM stdin;` line loads, or undefined for other lines. */
export function parseCopyTarget(line: string): TableName | undefined {
  if (!line.startsWith('COPY ') || !line.endsWith(' FROM stdin;')) return undefined;
  const rest = line.slice(5);
  const parts: string[] = [];
  let index = 0;
  for (;;) {
    let part = '';
    if (rest[index] === '"') {
      index++;
      for (;;) {
        const quote = rest.indexOf('"', index);
        if (quote < 0) return undefined;
        part += rest.slice(index, quote);
        if (rest[quote + 1] === '"') {
          part += '"';
          index = quote + 2;
        } else {
          index = quote + 1;
          break;
        }
      }
    } else {
      const match = /^[^".\s(]+/.exec(rest.slice(index));
      if (!match) return undefined;
      part = match[0];
      index += part.length;
    }
    parts.push(part);
    if (rest[index] !== '.') break;
    index++;
  }
  if (parts.length !== 2) return undefined;
  return { schema: parts[0]!, name: parts[1]! };
}

const newline = 0x0a;
// Bytes of the line `COMMIT;`. (No Buffer at module level: workflows import this file, and have none.)
const commitLine = [0x43, 0x4f, 0x4d, 0x4d, 0x49, 0x54, 0x3b];

/**
 * pg_restore's SQL output (made with --single-transaction), fed chunk by chunk on its way to psql. It
 * counts the rows of every COPY block (in COPY's text format each row is one line, newlines inside values
 * escaped, and `\.` ends the block), and it holds back pg_restore's own closing COMMIT: the restore's
 * caller commits, after its own checks. The closing COMMIT is the last statement; only blank lines,
 * comments and psql's `\unrestrict` follow it. A line "COMMIT;" followed by more SQL (say, inside a
 * procedure's body) passes through unchanged, as does anything inside COPY data.
 */
export class RestoreSqlStream {
  readonly counts = new Map<string, ExpectedTable>();
  current: TableName | undefined;
  private rows = 0;
  /** The start of a line that has not ended yet; forwarded once it has. */
  private pending: Buffer = Buffer.alloc(0);
  /** A COMMIT; line and the trailer lines after it, held until it is clear whether more SQL follows. */
  private held: Buffer[] = [];

  /** Takes the next chunk; returns what may go to psql now, in order. */
  push(chunk: Buffer): Buffer[] {
    const data = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const out: Buffer[] = [];
    let forwardFrom = 0;
    let start = 0;
    for (;;) {
      const end = data.indexOf(newline, start);
      if (end < 0) break;
      if (this.current) {
        // COPY data, the hot path: a row per line until `\.`, nothing to hold back.
        if (end - start === 2 && data[start] === 0x5c && data[start + 1] === 0x2e) this.endCopy();
        else this.rows++;
        start = end + 1;
        continue;
      }
      const kind = this.line(data.subarray(start, end));
      if (this.held.length && kind !== 'trailer') {
        out.push(...this.held);
        this.held = [];
        forwardFrom = start;
      }
      if (kind === 'commit' || (this.held.length && kind === 'trailer')) {
        if (!this.held.length) out.push(data.subarray(forwardFrom, start));
        this.held.push(data.subarray(start, end + 1));
        forwardFrom = end + 1;
      }
      start = end + 1;
    }
    if (!this.held.length) out.push(data.subarray(forwardFrom, start));
    this.pending = Buffer.from(data.subarray(start));
    return out.filter((buffer) => buffer.length > 0);
  }

  /**
   * At the end of the stream: the trailer to forward without the closing COMMIT, and whether there was
   * one. Without it the output is not pg_restore's complete single-transaction script.
   */
  finish(): { trailer: Buffer[]; closed: boolean } {
    const tail = this.pending.length ? this.push(Buffer.from('\n')) : [];
    if (!this.held.length || this.current) return { trailer: tail, closed: false };
    return { trailer: [...tail, ...this.held.slice(1)], closed: true };
  }

  private endCopy(): void {
    const table = this.current!;
    const previous = this.counts.get(tableKey(table))?.rows ?? 0;
    this.counts.set(tableKey(table), { ...table, rows: previous + this.rows });
    this.current = undefined;
  }

  /** A line outside COPY data. */
  private line(line: Buffer): 'commit' | 'trailer' | 'other' {
    if (line.length === commitLine.length && commitLine.every((byte, i) => line[i] === byte)) return 'commit';
    if (
      line.length === 0 ||
      (line[0] === 0x2d && line[1] === 0x2d) ||
      line.toString('latin1').startsWith('\\unrestrict ')
    ) {
      return 'trailer';
    }
    // Only lines that start with "COPY " are worth decoding.
    if (line.length > 5 && line[0] === 0x43 && line[1] === 0x4f && line[2] === 0x50 && line[3] === 0x59) {
      const target = parseCopyTarget(line.toString('utf8'));
      if (target) {
        this.current = target;
        this.rows = 0;
      }
    }
    return 'other';
  }

  /** Tables with the rows their COPY blocks carried. */
  result(): ExpectedTable[] {
    return [...this.counts.values()].sort(compareTables);
  }
}

// ---------------------------------------------------------------------------------------------------
// Verification

export interface ObservedTable extends TableName {
  exists: boolean;
  rows: number | null;
}

export interface VerificationReport {
  ok: boolean;
  tables: {
    schema: string;
    name: string;
    expectedRows: number | null;
    actualRows: number | null;
    manifestRowEstimate: number | null;
    ok: boolean;
  }[];
  problems: string[];
}

/**
 * Compares what the destination holds after a restore with what the restore loaded: every expected
 * table exists and has exactly the rows the dump carried. The manifest's row estimates are shown beside
 * them, not compared: they are the planner's statistics at backup time, not counts.
 */
export function compareRestoredTables(
  expected: readonly ExpectedTable[],
  observed: readonly ObservedTable[],
  manifestTables: readonly (TableName & { rowEstimate: number })[] = [],
): VerificationReport {
  const seen = new Map(observed.map((t) => [tableKey(t), t]));
  const estimates = new Map(manifestTables.map((t) => [tableKey(t), t.rowEstimate]));
  const problems: string[] = [];
  const tables = expected.map((table) => {
    const actual = seen.get(tableKey(table));
    const name = qualifiedName(table);
    let ok = true;
    if (!actual?.exists) {
      problems.push(`${name} is missing`);
      ok = false;
    } else if (table.rows !== null && actual.rows !== table.rows) {
      problems.push(
        `${name} holds ${actual.rows ?? 'an unknown number of'} rows; the archive carries ${table.rows}`,
      );
      ok = false;
    }
    return {
      schema: table.schema,
      name: table.name,
      expectedRows: table.rows,
      actualRows: actual?.rows ?? null,
      manifestRowEstimate: estimates.get(tableKey(table)) ?? null,
      ok,
    };
  });
  return { ok: problems.length === 0, tables, problems };
}

// ---------------------------------------------------------------------------------------------------
// The preview: estimate and warnings

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

/** Whether a restore of this mode into this destination needs a safety backup: not into a new database. */
export function needsSafetyBackup(destination: RestoreDestination): boolean {
  return destination.kind === 'target';
}
