// A drill's checks in domain terms: what each records, the outcome they make together, the objects of
// the dump's table of contents that must exist after the restore, and the SQL assertions of a target.

export const drillCheckNames = [
  'archive',
  'pg_restore',
  'row counts',
  'schema',
  'amcheck',
  'documents',
  'assertion',
] as const;
export type DrillCheckName = (typeof drillCheckNames)[number];

export interface DrillCheck {
  name: DrillCheckName;
  /** The assertion's own name, for checks of kind assertion. */
  label?: string | undefined;
  status: 'passed' | 'failed' | 'skipped';
  detail: string;
  durationMs: number;
}

export type DrillStatus = 'queued' | 'running' | 'passed' | 'failed' | 'error';

/** Passed when every check that ran passed; failed when one did not: the backup is not restorable. */
export function drillOutcome(checks: readonly DrillCheck[]): 'passed' | 'failed' {
  return checks.some((check) => check.status === 'failed') ? 'failed' : 'passed';
}

/** `drill/<target>/<backup time>-<drill id>`, readable in the Temporal Web UI like the backups' ids. */
export function drillWorkflowId(targetName: string, backupStartedAt: string, drillId: string): string {
  const time = backupStartedAt.replace(/[-:]/g, '').replace(/\.\d+/, '');
  return `drill/${targetName}/${time}-${drillId}`;
}

/** The scratch database of a drill: always this prefix, so that a sweep can find the leftovers. */
export const drillDatabasePrefix = 'lifeboat_drill_';
export const drillDatabaseName = (drillId: string) =>
  `${drillDatabasePrefix}${drillId.replace(/-/g, '').slice(0, 32)}`;
export const drillMarker = (drillId: string) => `lifeboat drill ${drillId}`;

/** The kinds of object the schema check looks for, as the table of contents names them. */
export const checkedKinds = [
  'SCHEMA',
  'EXTENSION',
  'TABLE',
  'VIEW',
  'MATERIALIZED VIEW',
  'SEQUENCE',
  'INDEX',
  'CONSTRAINT',
  'FK CONSTRAINT',
  'FUNCTION',
  'PROCEDURE',
] as const;

/** One object, as the schema check compares them: kind, schema (null for schemas and extensions), name. */
export interface SchemaObject {
  kind: string;
  schema: string | null;
  name: string;
}

const objectKey = (object: SchemaObject) => `${object.kind}\0${object.schema ?? ''}\0${object.name}`;

/** Functions are compared by name and argument types, without spaces (the dump and the catalog space them apart). */
function normalized(object: SchemaObject): SchemaObject {
  if (object.kind !== 'FUNCTION' && object.kind !== 'PROCEDURE') return object;
  return { ...object, name: object.name.replace(/\s+/g, '') };
}

/** The objects of the dump that the restored database lacks, as `KIND schema.name`. */
export function missingObjects(
  entries: readonly { desc: string; schema: string | null; name: string }[],
  present: readonly SchemaObject[],
): string[] {
  const have = new Set(present.map((object) => objectKey(normalized(object))));
  const kinds = new Set<string>(checkedKinds);
  const missing: string[] = [];
  for (const entry of entries) {
    if (!kinds.has(entry.desc)) continue;
    const wanted = normalized({
      kind: entry.desc,
      schema: entry.desc === 'SCHEMA' || entry.desc === 'EXTENSION' ? null : entry.schema,
      name: entry.name,
    });
    if (!have.has(objectKey(wanted))) {
      missing.push(`${entry.desc} ${wanted.schema ? `${wanted.schema}.` : ''}${entry.name}`);
    }
  }
  return missing;
}

export const assertionOperators = ['>', '>=', '<', '<=', '=', '<>'] as const;

/**
 * A target's SQL assertion: a query that returns one value, compared with `value` by `operator`; or, with
 * `withinHoursOfBackup`, a timestamp that must lie no further than that before the backup's time.
 */
export interface DrillAssertion {
  name: string;
  sql: string;
  operator?: (typeof assertionOperators)[number] | undefined;
  value?: number | undefined;
  withinHoursOfBackup?: number | undefined;
}

/** Whether the assertion holds for what its query returned, and the text the drill records. */
export function evaluateAssertion(
  assertion: DrillAssertion,
  returned: unknown,
  backupStartedAt: string,
): { passed: boolean; detail: string } {
  const shown =
    returned === null || returned === undefined
      ? 'null'
      : returned instanceof Date
        ? returned.toISOString()
        : typeof returned === 'string'
          ? returned
          : JSON.stringify(returned);
  if (assertion.withinHoursOfBackup !== undefined) {
    const at = returned instanceof Date ? returned.getTime() : Date.parse(shown);
    if (!Number.isFinite(at)) return { passed: false, detail: `returned ${shown}, not a time` };
    const hours = (Date.parse(backupStartedAt) - at) / 3_600_000;
    const passed = hours <= assertion.withinHoursOfBackup;
    return {
      passed,
      detail: `returned ${new Date(at).toISOString()}, ${hours.toFixed(1)} h before the backup (at most ${assertion.withinHoursOfBackup} h)`,
    };
  }
  const number = Number(shown);
  if (returned === null || returned === undefined || !Number.isFinite(number)) {
    return { passed: false, detail: `returned ${shown}, not a number` };
  }
  const limit = assertion.value ?? 0;
  const operator = assertion.operator ?? '>';
  const passed = {
    '>': number > limit,
    '>=': number >= limit,
    '<': number < limit,
    '<=': number <= limit,
    '=': number === limit,
    '<>': number !== limit,
  }[operator];
  return { passed, detail: `returned ${shown}; expected ${operator} ${limit}` };
}

/**
 * The copy a drill fetches: the one whose last drill is the oldest (never drilled first), so that over
 * time every destination is proven; ties go to the primary.
 */
export function chooseCopy(
  copies: readonly { storageUrl: string; position: number }[],
  lastDrilledAt: ReadonlyMap<string, string>,
): string | undefined {
  const sorted = [...copies].sort((a, b) => {
    const at = (url: string) => (lastDrilledAt.has(url) ? Date.parse(lastDrilledAt.get(url)!) : -Infinity);
    return at(a.storageUrl) - at(b.storageUrl) || a.position - b.position;
  });
  return sorted[0]?.storageUrl;
}

/** How a drill ended, as the catalog records it. */
export interface DrillEnding {
  status: 'passed' | 'failed' | 'error';
  checks: DrillCheck[];
  errorCode: string | null;
  errorMessage: string | null;
  rtoSeconds: number | null;
  checksSeconds: number | null;
  peakBytes: number | null;
}

/** What the drill step measured: its checks, the restore time, and a copy found damaged. */
export interface DrillResult {
  checks: DrillCheck[];
  rtoSeconds: number | null;
  checksSeconds: number;
  peakBytes: number | null;
  /** Why the copy that was fetched is damaged, when the archive itself did not check out. */
  brokenCopy: string | null;
}

/** How a drill's checks add up: failed (the backup is not restorable) names every failed check. */
export function drillEnding(result: DrillResult): DrillEnding {
  const status = drillOutcome(result.checks);
  const failed = result.checks.filter((check) => check.status === 'failed');
  return {
    status,
    checks: result.checks,
    errorCode: status === 'failed' ? 'VERIFY_FAILED' : null,
    errorMessage: failed.length
      ? failed.map((check) => `${check.label ?? check.name}: ${check.detail}`).join('; ')
      : null,
    rtoSeconds: result.rtoSeconds,
    checksSeconds: result.checksSeconds,
    peakBytes: result.peakBytes,
  };
}

/** Tables this small are left out of the estimate check: their statistics say too little. */
const minimumEstimate = 100;

/**
 * The tables that restored with less than half the rows PostgreSQL's statistics gave them when the backup
 * was taken: a dump that restores cleanly but lost rows (the exact check compares with the dump itself,
 * which cannot see that). Statistics lag behind by at most the autovacuum thresholds, far under half.
 */
export function estimateShortfalls(
  manifestTables: readonly { schema: string; name: string; rowEstimate: number }[],
  restored: readonly { schema: string; name: string; rows: number | null }[],
): string[] {
  const rows = new Map(restored.map((table) => [`${table.schema}\0${table.name}`, table.rows]));
  const problems: string[] = [];
  for (const table of manifestTables) {
    if (table.rowEstimate < minimumEstimate) continue;
    const found = rows.get(`${table.schema}\0${table.name}`);
    if (found === undefined || found === null) continue;
    if (found < table.rowEstimate / 2) {
      problems.push(
        `${table.schema}.${table.name} holds ${found} rows, against about ${table.rowEstimate} when the backup was taken`,
      );
    }
  }
  return problems;
}

/**
 * Why a drill server cannot drill a backup of this PostgreSQL version, or null: pg_restore restores into
 * the same major version or a newer one, never an older one.
 */
export function drillServerProblem(
  server: { name: string; versionNum: number },
  backupVersionNum: number,
): string | null {
  const [serverMajor, backupMajor] = [
    Math.floor(server.versionNum / 10000),
    Math.floor(backupVersionNum / 10000),
  ];
  if (serverMajor >= backupMajor) return null;
  return (
    `The drill server ${server.name} runs PostgreSQL ${serverMajor}, older than the backup's ${backupMajor}: ` +
    'a drill needs the same major version or a newer one.'
  );
}
