// pg_restore's table of contents: reading its list and entry headers, its tables, and what mode tables takes.
import { compareTables, tableKey, type TableName } from './options.ts';

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

/** An entry of bulk data (TABLE DATA, large objects): its dump id, its table's OID, and its kind. */
export interface TocDataEntry {
  id: number;
  oid: number;
  desc: string;
}

/** A dump's table of contents: every entry but the bulk data with its dependencies, and the bulk data. */
export interface ArchiveToc {
  entries: TocEntry[];
  dataEntries: TocDataEntry[];
}

/** Entries whose bodies are data, left out of the header pass so that it reads no table data. */
const bulkDataDescs = ['TABLE DATA', 'BLOBS', 'BLOB DATA', 'LARGE OBJECTS'];

/**
 * Reads `pg_restore --list`: the id, OID and description of every entry. Returns the full text of the
 * lines without bulk data (the list for the header pass) and the bulk-data entries themselves.
 */
export function splitTocList(list: string): {
  headerList: string;
  dataEntries: TocDataEntry[];
} {
  const headerLines: string[] = [];
  const dataEntries: TocDataEntry[] = [];
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
  dataEntries: readonly TocDataEntry[],
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
  dataEntries: readonly TocDataEntry[],
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
