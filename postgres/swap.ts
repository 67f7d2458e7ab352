// The server side of a restore by swap: what the server allows, the incoming database made like the
// original, the swap of names in one transaction (and back), and databases dropped by their oid.
import { statfs } from 'node:fs/promises';
import type pg from 'pg';
import { LifeboatError } from '../domain/errors.ts';
import { quoteIdent } from '../domain/restore/options.ts';
import {
  carryOverSql,
  type DatabaseProperties,
  type SwapFacts,
  type SwapNames,
} from '../domain/restore/swap.ts';
import type { TargetConnection } from '../domain/target.ts';
import { withClient } from './client.ts';

/** How long the swap waits for another session's lock on the databases it renames. */
const swapLockTimeout = '30s';

/** The databases a session that renames or drops another one may connect to instead. */
const maintenanceDatabases = ['postgres', 'template1'];

/**
 * Runs `work` connected to a maintenance database of the server (not the one being swapped: a database
 * cannot be renamed from inside it), trying each in turn.
 */
export async function withMaintenanceClient<T>(
  connection: TargetConnection,
  password: string | undefined,
  applicationName: string,
  work: (client: pg.Client) => Promise<T>,
): Promise<T> {
  let lastError: unknown;
  for (const database of maintenanceDatabases) {
    try {
      return await withClient({ ...connection, database }, password, applicationName, work);
    } catch (error) {
      if (!(error instanceof LifeboatError && error.code === 'NOT_FOUND')) throw error;
      lastError = error;
    }
  }
  throw lastError;
}

interface DatabaseRow {
  oid: string;
  owner: string;
  acl: string | null;
  comment: string | null;
  connection_limit: number;
  is_template: boolean;
  allows_connections: boolean;
  size: string;
  encoding: string;
  tablespace: string;
  locale: Record<string, string | null>;
}

const databaseSql = `
  select d.oid::text as oid, pg_get_userbyid(d.datdba) as owner, d.datacl::text as acl,
         shobj_description(d.oid, 'pg_database') as comment, d.datconnlimit as connection_limit,
         d.datistemplate as is_template, d.datallowconn as allows_connections,
         pg_database_size(d.oid)::text as size, pg_encoding_to_char(d.encoding) as encoding,
         (select spcname from pg_tablespace where oid = d.dattablespace) as tablespace,
         jsonb_strip_nulls(to_jsonb(d) - 'datacl' - 'datname' - 'oid') as locale
    from pg_database d where d.datname = $1`;

async function readDatabase(client: pg.Client, name: string): Promise<DatabaseRow> {
  const { rows } = await client.query<DatabaseRow>(databaseSql, [name]);
  if (!rows[0]) throw new LifeboatError('NOT_FOUND', `Database "${name}" does not exist.`);
  return rows[0];
}

async function readProperties(client: pg.Client, row: DatabaseRow): Promise<DatabaseProperties> {
  const acl =
    row.acl === null
      ? null
      : (
          await client.query<{ grantee: string | null; privilege: string; grantable: boolean }>(
            `select case when a.grantee = 0 then null else pg_get_userbyid(a.grantee) end as grantee,
                    a.privilege_type as privilege, a.is_grantable as grantable
               from pg_database d, aclexplode(d.datacl) a where d.oid = $1::oid`,
            [row.oid],
          )
        ).rows;
  const { rows } = await client.query<{ role: string | null; config: string[] }>(
    `select case when setrole = 0 then null else pg_get_userbyid(setrole) end as role, setconfig as config
       from pg_db_role_setting where setdatabase = $1::oid order by setrole`,
    [row.oid],
  );
  return {
    owner: row.owner,
    acl,
    comment: row.comment,
    connectionLimit: row.connection_limit,
    settings: rows,
  };
}

/** A count the role may not be allowed to read: null then. */
async function countOrNull(client: pg.Client, sql: string, params: unknown[]): Promise<number | null> {
  try {
    await client.query('savepoint lifeboat_probe');
    const { rows } = await client.query<{ n: number }>(sql, params);
    await client.query('release savepoint lifeboat_probe');
    return rows[0]?.n ?? 0;
  } catch {
    await client.query('rollback to savepoint lifeboat_probe').catch(() => undefined);
    return null;
  }
}

function isLoopback(host: string): boolean {
  return host.startsWith('/') || ['localhost', '127.0.0.1', '::1'].includes(host.toLowerCase());
}

/** Free bytes in the server's data directory, when it is on this machine and the role may read where. */
async function freeBytes(client: pg.Client, connection: TargetConnection): Promise<number | null> {
  if (!isLoopback(connection.host)) return null;
  let rows: { dir: string | null }[];
  try {
    // Only superusers and pg_read_all_settings may read it.
    ({ rows } = await client.query<{ dir: string | null }>(
      `select current_setting('data_directory') as dir`,
    ));
  } catch {
    return null;
  }
  const dir = rows[0]?.dir;
  if (!dir) return null;
  try {
    const stats = await statfs(dir);
    return Number(stats.bavail) * Number(stats.bsize);
  } catch {
    return null;
  }
}

export interface SwapInspection {
  facts: SwapFacts;
  originalOid: string;
}

/** What the server says about swapping `database`, whose restored copy needs about `neededBytes`. */
export function inspectSwap(
  connection: TargetConnection,
  password: string | undefined,
  database: string,
  neededBytes: number,
): Promise<SwapInspection> {
  return withMaintenanceClient(connection, password, 'lifeboat-restore-inspect', async (client) => {
    const row = await readDatabase(client, database);
    const { rows } = await client.query<{ superuser: boolean; createdb: boolean; owns: boolean }>(
      `select rolsuper as superuser, rolcreatedb as createdb, pg_has_role(current_user, $1, 'MEMBER') as owns
         from pg_roles where rolname = current_user`,
      [row.owner],
    );
    const role = rows[0] ?? { superuser: false, createdb: false, owns: false };
    await client.query('begin read only');
    const subscriptions = await countOrNull(
      client,
      'select count(subdbid)::int as n from pg_subscription where subdbid = $1::oid',
      [row.oid],
    );
    const logicalSlots = await countOrNull(
      client,
      `select count(*)::int as n from pg_replication_slots where database = $1 and slot_type = 'logical'`,
      [database],
    );
    await client.query('commit');
    return {
      originalOid: row.oid,
      facts: {
        superuser: role.superuser,
        createdb: role.createdb,
        ownsDatabase: role.owns,
        isTemplate: row.is_template,
        allowsConnections: row.allows_connections,
        subscriptions,
        logicalSlots,
        freeBytes: await freeBytes(client, connection),
        neededBytes: Math.max(Number(row.size), neededBytes),
      },
    };
  });
}

const literal = (text: string) => `'${text.replace(/'/g, "''")}'`;

/** CREATE DATABASE options that make a database like `row`: encoding, locale and tablespace. */
function likeOptions(row: DatabaseRow): string {
  const locale = row.locale;
  const options = [`ENCODING ${literal(row.encoding)}`];
  if (locale.datcollate) options.push(`LC_COLLATE ${literal(locale.datcollate)}`);
  if (locale.datctype) options.push(`LC_CTYPE ${literal(locale.datctype)}`);
  const provider = locale.datlocprovider;
  const providerLocale = locale.datlocale ?? locale.daticulocale;
  if (provider === 'i' && providerLocale) {
    options.push(`LOCALE_PROVIDER icu ICU_LOCALE ${literal(providerLocale)}`);
    if (locale.daticurules) options.push(`ICU_RULES ${literal(locale.daticurules)}`);
  } else if (provider === 'b' && providerLocale) {
    options.push(`LOCALE_PROVIDER builtin BUILTIN_LOCALE ${literal(providerLocale)}`);
  }
  options.push(`TABLESPACE ${quoteIdent(row.tablespace)}`);
  return options.join(' ');
}

const marked = async (client: pg.Client, oid: string) =>
  (
    await client.query<{ comment: string | null }>(
      `select shobj_description($1::oid, 'pg_database') as comment`,
      [oid],
    )
  ).rows[0]?.comment ?? null;

/**
 * Creates the database the backup is restored into, beside `database` and like it (encoding, locale,
 * tablespace), marked with `marker`. One already there with the marker is this operation's own from an
 * earlier attempt; any other is CONFLICT. Returns its oid.
 */
export function createIncomingDatabase(
  connection: TargetConnection,
  password: string | undefined,
  request: { database: string; names: SwapNames; marker: string },
): Promise<string> {
  return withMaintenanceClient(connection, password, 'lifeboat-restore-create', async (client) => {
    const { rows } = await client.query<{ oid: string }>(
      'select oid::text as oid from pg_database where datname = $1',
      [request.names.incoming],
    );
    if (rows[0]) {
      if ((await marked(client, rows[0].oid)) === request.marker) return rows[0].oid;
      throw new LifeboatError(
        'CONFLICT',
        `Database "${request.names.incoming}" already exists and is not this restore's; drop or rename it.`,
      );
    }
    const original = await readDatabase(client, request.database);
    await client.query(
      `create database ${quoteIdent(request.names.incoming)} template template0 ${likeOptions(original)}`,
    );
    const created = await readDatabase(client, request.names.incoming);
    await client.query(
      `comment on database ${quoteIdent(request.names.incoming)} is ${literal(request.marker)}`,
    );
    return created.oid;
  });
}

interface NamedOids {
  originalOid: string;
  incomingOid: string;
}

async function namesOf(
  client: pg.Client,
  oids: NamedOids,
): Promise<{ original?: string; incoming?: string }> {
  const { rows } = await client.query<{ oid: string; datname: string }>(
    'select oid::text as oid, datname from pg_database where oid = any($1::oid[])',
    [[oids.originalOid, oids.incomingOid]],
  );
  const byOid = new Map(rows.map((row) => [row.oid, row.datname]));
  return { original: byOid.get(oids.originalOid), incoming: byOid.get(oids.incomingOid) };
}

/** Client sessions on `database` other than this one, ended when `end`; returns how many there were. */
async function otherSessions(client: pg.Client, database: string, end: boolean): Promise<number> {
  const { rows } = await client.query<{ n: number }>(
    `select count(*)::int as n from (
       select ${end ? 'pg_terminate_backend(pid)' : 'pid'} from pg_stat_activity
        where datname = $1 and pid <> pg_backend_pid() and backend_type = 'client backend') ended`,
    [database],
  );
  return rows[0]?.n ?? 0;
}

export interface SwapRequest extends NamedOids {
  database: string;
  names: SwapNames;
  /** End the other sessions on the database; otherwise a database still in use is CONFLICT. */
  terminateConnections: boolean;
}

/**
 * Puts the restored copy in the database's place, in one transaction: the database is renamed aside (and
 * closed to connections: it is the safety copy), the copy takes its name and what belonged to it. Reads
 * the state by oid first, so a retry after a crash at any point finds the swap done or not begun.
 */
export function swapIn(
  connection: TargetConnection,
  password: string | undefined,
  request: SwapRequest,
): Promise<{ swapped: 'now' | 'already' }> {
  return withMaintenanceClient(connection, password, 'lifeboat-restore-swap', async (client) => {
    const names = await namesOf(client, request);
    if (names.incoming === request.database && names.original === request.names.aside) {
      return { swapped: 'already' as const };
    }
    if (names.original !== request.database || names.incoming !== request.names.incoming) {
      throw new LifeboatError(
        'CONFLICT',
        `The databases of this restore were renamed by someone else (the original is now ` +
          `"${names.original ?? 'gone'}", the restored copy "${names.incoming ?? 'gone'}"); nothing was swapped.`,
      );
    }
    const original = await readDatabase(client, request.database);
    const properties = await readProperties(client, original);
    const db = quoteIdent(request.database);
    // The swap is short; one that waits this long for another session's lock gives up with nothing changed.
    await client.query(`set lock_timeout = '${swapLockTimeout}'`);
    if (request.terminateConnections) {
      // No new session may come in between the end of the others and the rename.
      await client.query(`alter database ${db} with allow_connections false`);
    }
    try {
      const sessions = await otherSessions(client, request.database, request.terminateConnections);
      if (sessions && !request.terminateConnections) {
        throw new LifeboatError(
          'CONFLICT',
          `${sessions} other session(s) use database "${request.database}", which a swap renames; nothing ` +
            'was changed. End them, or restore with terminateConnections.',
        );
      }
      await otherSessions(client, request.names.incoming, true);
      await client.query('begin');
      await client.query(`alter database ${db} rename to ${quoteIdent(request.names.aside)}`);
      await client.query(`alter database ${quoteIdent(request.names.incoming)} rename to ${db}`);
      for (const statement of carryOverSql(request.database, properties)) await client.query(statement);
      await client.query(`alter database ${quoteIdent(request.names.aside)} with allow_connections false`);
      await client.query('commit');
      return { swapped: 'now' as const };
    } catch (error) {
      await client.query('rollback').catch(() => undefined);
      if (request.terminateConnections && original.allows_connections) {
        await client.query(`alter database ${db} with allow_connections true`).catch(() => undefined);
      }
      if (error instanceof LifeboatError) throw error;
      const message = (error as Error).message;
      if (/lock timeout/i.test(message)) {
        throw new LifeboatError(
          'CONFLICT',
          `Another session held a lock on "${request.database}" for longer than ${swapLockTimeout}; nothing was swapped: ${message}`,
        );
      }
      if (/being accessed by other users/.test(message)) {
        throw new LifeboatError(
          'CONFLICT',
          `Sessions on "${request.database}" did not end in time for the swap; nothing was changed: ${message}`,
        );
      }
      throw new LifeboatError('PG_RESTORE_FAILED', `The swap failed and was rolled back: ${message}`);
    }
  });
}

/**
 * Undoes a swap: the restored copy takes the incoming name again and the original its own name back,
 * open to connections, in one transaction. Done already (or never swapped): nothing to do.
 */
export function swapBack(
  connection: TargetConnection,
  password: string | undefined,
  request: Omit<SwapRequest, 'terminateConnections'>,
): Promise<{ swappedBack: boolean }> {
  return withMaintenanceClient(connection, password, 'lifeboat-restore-swap', async (client) => {
    const names = await namesOf(client, request);
    const db = quoteIdent(request.database);
    if (names.original === request.database) {
      await client.query(`alter database ${db} with allow_connections true`);
      return { swappedBack: false };
    }
    if (names.original !== request.names.aside || names.incoming !== request.database) {
      throw new LifeboatError(
        'CONFLICT',
        `The databases of this restore were renamed by someone else (the original is now ` +
          `"${names.original ?? 'gone'}"); it cannot be swapped back.`,
      );
    }
    await client.query(`alter database ${db} with allow_connections false`);
    try {
      await otherSessions(client, request.database, true);
      await client.query('begin');
      await client.query(`alter database ${db} rename to ${quoteIdent(request.names.incoming)}`);
      await client.query(`alter database ${quoteIdent(request.names.aside)} rename to ${db}`);
      await client.query(`alter database ${db} with allow_connections true`);
      await client.query('commit');
    } catch (error) {
      await client.query('rollback').catch(() => undefined);
      await client.query(`alter database ${db} with allow_connections true`).catch(() => undefined);
      throw new LifeboatError('PG_RESTORE_FAILED', `The swap back failed: ${(error as Error).message}`);
    }
    return { swappedBack: true };
  });
}

/**
 * Drops the database with this oid if it still has the name `name` (a database renamed since is someone
 * else's now); returns whether it dropped one. Gone already counts as dropped.
 */
export function dropDatabaseByOid(
  connection: TargetConnection,
  password: string | undefined,
  request: { oid: string; name: string },
): Promise<'dropped' | 'gone' | 'renamed'> {
  return withMaintenanceClient(connection, password, 'lifeboat-restore-drop', async (client) => {
    const { rows } = await client.query<{ datname: string }>(
      'select datname from pg_database where oid = $1::oid',
      [request.oid],
    );
    if (!rows[0]) return 'gone' as const;
    if (rows[0].datname !== request.name) return 'renamed' as const;
    await client.query(`drop database ${quoteIdent(request.name)} with (force)`);
    return 'dropped' as const;
  });
}
