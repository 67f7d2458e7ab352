// What a restore of each mode asks of pg_restore, the SQL it runs first, and the rows it then expects.
import { tableKey, type RestoreOptions, type TableName } from './options.ts';
import { clearTablesSql, wipeDatabaseSql } from './sql.ts';
import { selectTables, tocTables, type ArchiveToc } from './toc.ts';
import type { ExpectedTable } from './verify.ts';

export interface RestorePlan {
  /** pg_restore options that select what is restored, such as --data-only or --use-list. */
  selectArgs: string[];
  /** Mode tables: the dump ids to write, one `<id>;` line each, into the list file `selectArgs` names. */
  listIds: number[] | null;
  /** SQL run first inside the restore's transaction: clearing what is replaced. */
  prelude: string;
  /** Every table the restore writes, with the rows it must hold, from the rows every COPY carried. */
  expected: (counted: readonly ExpectedTable[]) => ExpectedTable[];
  /** Mode tables: selected tables the dump does not have. */
  unknown: TableName[];
}

/**
 * Modes full and schema-only wipe the database and restore everything (schema-only without rows);
 * data-only empties every table the dump has rows for and loads them; tables restores the selection
 * (`listFile` names its list) into the tables the destination has, `destinationTables`.
 */
export function planRestore(
  options: RestoreOptions,
  toc: ArchiveToc,
  destinationTables: readonly TableName[],
  listFile: string,
): RestorePlan {
  const tables = tocTables(toc.entries, toc.dataEntries);
  const ownership = options.noOwner ? ['--no-owner', '--no-privileges'] : [];
  const rowsOf = (counted: readonly ExpectedTable[], wanted: readonly TableName[], rows?: number) => {
    const carried = new Map(counted.map((t) => [tableKey(t), t.rows ?? 0]));
    return wanted.map((t) => ({
      schema: t.schema,
      name: t.name,
      rows: rows ?? carried.get(tableKey(t)) ?? 0,
    }));
  };
  if (options.mode === 'full' || options.mode === 'schema-only') {
    const schemaOnly = options.mode === 'schema-only';
    return {
      selectArgs: schemaOnly ? ['--schema-only', ...ownership] : ownership,
      listIds: null,
      prelude: wipeDatabaseSql(),
      // Every table is created afresh: it holds what its COPY carried, or nothing.
      expected: (counted) => rowsOf(counted, tables, schemaOnly ? 0 : undefined),
      unknown: [],
    };
  }
  if (options.mode === 'data-only') {
    const withData = tables.filter((t) => t.hasData);
    const largeObjects = toc.dataEntries.some((e) => e.desc !== 'TABLE DATA');
    return {
      selectArgs: ['--data-only', ...ownership],
      listIds: null,
      prelude: `SET session_replication_role = replica;\n${clearTablesSql(withData, largeObjects)}`,
      expected: (counted) => rowsOf(counted, withData),
      unknown: [],
    };
  }
  const existing = new Set(destinationTables.map(tableKey));
  const selection = selectTables(toc.entries, toc.dataEntries, options.tables, existing);
  return {
    selectArgs: [`--use-list=${listFile}`, ...ownership],
    listIds: selection.ids,
    prelude: `SET session_replication_role = replica;\n${clearTablesSql(selection.replaced, false)}`,
    expected: (counted) => rowsOf(counted, options.tables),
    unknown: selection.unknown,
  };
}
