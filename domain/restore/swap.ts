// Restore by swap: which path a restore takes and why, the names of the databases it swaps, and the SQL
// that carries what belongs to a database (owner, GRANTs, settings, comment) over to its replacement.
import { quoteIdent, type RestoreDestination, type RestoreMode } from './options.ts';

export const restoreMethods = ['auto', 'swap', 'in-place'] as const;
/** `auto`: swap where possible, in place otherwise; `swap` and `in-place` insist on theirs. */
export type RestoreMethod = (typeof restoreMethods)[number];

/** `swap`: restored beside the database, then swapped in; `in-place`: one transaction inside it. */
export type RestorePath = 'swap' | 'in-place';

/** What the destination's server says about a swap of `database`. */
export interface SwapFacts {
  superuser: boolean;
  createdb: boolean;
  /** Whether the role Lifeboat logs in as owns the database (or is a member of its owner). */
  ownsDatabase: boolean;
  isTemplate: boolean;
  allowsConnections: boolean;
  /** Subscriptions defined in the database; null when the role may not see them. */
  subscriptions: number | null;
  /** Logical replication slots on the database; null when the role may not see them. */
  logicalSlots: number | null;
  /** Free bytes where the server keeps its data, when the worker can see that file system; else null. */
  freeBytes: number | null;
  /** What the restored copy needs beside the database: the database's size, or the backup's. */
  neededBytes: number;
}

export interface PathDecision {
  path: RestorePath;
  /** Why this path: every reason that rules the swap out, or what makes it possible. */
  reasons: string[];
}

/** Room a second copy needs beyond its own size: indexes are built and WAL written while it loads. */
const spaceMargin = 1.2;

/**
 * The path a restore takes: a full restore into an existing target's database swaps when the server
 * allows it, every other restore runs in place (data-only and table restores change only what they
 * touch; a new database has nothing to keep aside).
 */
export function choosePath(
  request: { mode: RestoreMode; destination: RestoreDestination; method?: RestoreMethod | undefined },
  facts: SwapFacts | null,
): PathDecision {
  const method = request.method ?? 'in-place';
  if (method === 'in-place') return { path: 'in-place', reasons: ['The restore asked for method in-place.'] };
  if (request.mode !== 'full') {
    return { path: 'in-place', reasons: [`Mode ${request.mode} changes the database in place.`] };
  }
  if (request.destination.kind !== 'target' || !facts) {
    return { path: 'in-place', reasons: ['A new database has nothing to set aside.'] };
  }
  const blockers: string[] = [];
  if (!facts.superuser) {
    if (!facts.createdb) blockers.push('the role Lifeboat logs in as lacks CREATEDB');
    if (!facts.ownsDatabase) blockers.push('the role Lifeboat logs in as does not own the database');
  }
  if (facts.isTemplate) blockers.push('the database is a template');
  if (!facts.allowsConnections) blockers.push('the database does not allow connections');
  if (facts.subscriptions) blockers.push(`the database has ${facts.subscriptions} subscription(s)`);
  if (facts.logicalSlots) blockers.push(`${facts.logicalSlots} logical replication slot(s) use the database`);
  const needed = Math.ceil(facts.neededBytes * spaceMargin);
  if (facts.freeBytes !== null && facts.freeBytes < needed) {
    blockers.push(`the server has ${facts.freeBytes} bytes free, and a second copy needs about ${needed}`);
  }
  if (blockers.length) {
    return {
      path: 'in-place',
      reasons: [
        `No swap: ${blockers.join('; ')}. The restore runs in one transaction after a safety backup.`,
      ],
    };
  }
  const reasons = [
    'Restored into a new database beside it, checked there, then swapped in; the database as it is now is kept aside as the safety copy.',
  ];
  if (facts.freeBytes === null)
    reasons.push('Free space on the server could not be checked from the worker.');
  if (facts.subscriptions === null || facts.logicalSlots === null) {
    reasons.push('Subscriptions or replication slots could not be checked with this role.');
  }
  return { path: 'swap', reasons };
}

/** PostgreSQL's limit on a name, in bytes. */
const maxNameBytes = 63;

/** `text` cut to at most `bytes` bytes of UTF-8, never inside a character. */
function cutToBytes(text: string, bytes: number): string {
  let out = '';
  let used = 0;
  for (const character of text) {
    const size = new TextEncoder().encode(character).length;
    if (used + size > bytes) break;
    out += character;
    used += size;
  }
  return out;
}

export interface SwapNames {
  /** Where the backup is restored and checked, before it takes the database's name. */
  incoming: string;
  /** What the database as it was is called once swapped out: the safety copy. */
  aside: string;
}

/** The two names a swap of `database` uses for operation `operationId`, within PostgreSQL's 63 bytes. */
export function swapNames(database: string, operationId: string): SwapNames {
  const id = operationId.replace(/-/g, '').slice(0, 12);
  const name = (suffix: string) => `${cutToBytes(database, maxNameBytes - suffix.length)}${suffix}`;
  return { incoming: name(`__lifeboat_${id}`), aside: name(`__lifeboat_was_${id}`) };
}

/** What belongs to a database rather than to its contents, as read from pg_database and its neighbours. */
export interface DatabaseProperties {
  owner: string;
  /** pg_database.datacl as aclexplode reads it (grantee null for PUBLIC), or null for the defaults. */
  acl: { grantee: string | null; privilege: string; grantable: boolean }[] | null;
  comment: string | null;
  connectionLimit: number;
  /** pg_db_role_setting rows of the database: role null for the database's own settings. */
  settings: { role: string | null; config: string[] }[];
}

const literal = (text: string) => `'${text.replace(/'/g, "''")}'`;

const databasePrivileges = new Set(['CREATE', 'TEMPORARY', 'CONNECT']);

/**
 * The elements of a list-valued setting as PostgreSQL stores it (`"$user", public`): split at commas,
 * each element unquoted. Used for the settings whose elements are names, which must stay apart.
 */
export function splitSettingList(value: string): string[] {
  const elements: string[] = [];
  let index = 0;
  while (index < value.length) {
    while (value[index] === ' ') index++;
    let element = '';
    if (value[index] === '"') {
      index++;
      while (index < value.length) {
        if (value[index] === '"') {
          if (value[index + 1] === '"') {
            element += '"';
            index += 2;
            continue;
          }
          index++;
          break;
        }
        element += value[index++];
      }
    } else {
      while (index < value.length && value[index] !== ',') element += value[index++];
      element = element.trimEnd();
    }
    elements.push(element);
    while (value[index] === ' ') index++;
    if (value[index] === ',') index++;
  }
  return elements;
}

/** Settings whose value is a list of names: each element is given as a literal of its own. */
const listSettings = new Set([
  'search_path',
  'temp_tablespaces',
  'session_preload_libraries',
  'local_preload_libraries',
]);

const settingName = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$/;

/** `ALTER … SET name = value` for one stored `name=value`; undefined for a name PostgreSQL could not hold. */
function setStatement(prefix: string, entry: string): string | undefined {
  const equals = entry.indexOf('=');
  if (equals <= 0) return undefined;
  const name = entry.slice(0, equals);
  const value = entry.slice(equals + 1);
  if (!settingName.test(name)) return undefined;
  const values = listSettings.has(name.toLowerCase())
    ? splitSettingList(value).map(literal).join(', ')
    : literal(value);
  return `${prefix} SET ${name} = ${values}`;
}

/**
 * The statements that give `database` (the restored copy, just renamed into place) what belonged to the
 * database it replaces: its owner, database-level privileges, settings (its own and per role), comment
 * and connection limit. Run in the swap's transaction, after the renames.
 */
export function carryOverSql(database: string, properties: DatabaseProperties): string[] {
  const db = quoteIdent(database);
  const statements = [`ALTER DATABASE ${db} OWNER TO ${quoteIdent(properties.owner)}`];
  if (properties.acl !== null) {
    // A new database grants PUBLIC CONNECT and TEMPORARY, its owner everything; the old list replaces that.
    statements.push(`REVOKE ALL ON DATABASE ${db} FROM PUBLIC`);
    statements.push(`REVOKE ALL ON DATABASE ${db} FROM ${quoteIdent(properties.owner)}`);
    for (const grant of properties.acl) {
      if (!databasePrivileges.has(grant.privilege)) continue;
      const grantee = grant.grantee === null ? 'PUBLIC' : quoteIdent(grant.grantee);
      const option = grant.grantable ? ' WITH GRANT OPTION' : '';
      statements.push(`GRANT ${grant.privilege} ON DATABASE ${db} TO ${grantee}${option}`);
    }
  }
  for (const setting of properties.settings) {
    const prefix =
      setting.role === null
        ? `ALTER DATABASE ${db}`
        : `ALTER ROLE ${quoteIdent(setting.role)} IN DATABASE ${db}`;
    for (const entry of setting.config) {
      const statement = setStatement(prefix, entry);
      if (statement) statements.push(statement);
    }
  }
  statements.push(
    `COMMENT ON DATABASE ${db} IS ${properties.comment === null ? 'NULL' : literal(properties.comment)}`,
  );
  statements.push(`ALTER DATABASE ${db} WITH CONNECTION LIMIT ${Math.trunc(properties.connectionLimit)}`);
  return statements;
}
