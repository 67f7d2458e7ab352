// Verification after a restore: what the destination holds against the rows the restore loaded.
import { qualifiedName, tableKey, type RestoreMode, type TableName } from './options.ts';

export interface ExpectedTable extends TableName {
  /** Rows the restored dump carried for it; null when the dump has no data for it. */
  rows: number | null;
}

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

/**
 * The verification of a restore in `mode`: every table it wrote holds exactly the rows the dump carried
 * (compareRestoredTables), and in modes full and schema-only every table of the manifest is among them.
 */
export function verifyRestoredTables(
  mode: RestoreMode,
  expected: readonly ExpectedTable[],
  observed: readonly ObservedTable[],
  manifestTables: readonly (TableName & { rowEstimate: number })[],
): VerificationReport {
  const report = compareRestoredTables(expected, observed, manifestTables);
  if (mode === 'full' || mode === 'schema-only') {
    const restored = new Set(expected.map(tableKey));
    for (const table of manifestTables) {
      if (!restored.has(tableKey(table))) {
        report.problems.push(`${qualifiedName(table)} is in the manifest but not in the restored dump`);
        report.ok = false;
      }
    }
  }
  return report;
}
