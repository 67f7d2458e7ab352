// What a server and a database hold now: versions, sizes, sessions, and tables from the planner's statistics.
import type pg from 'pg';
import type { ManifestTable } from '../domain/manifest.ts';
import { sqlTableName, type TableName } from '../domain/restore/options.ts';
import type { ObservedTable } from '../domain/restore/verify.ts';
import type { TargetConnection } from '../domain/target.ts';
import { withClient } from './client.ts';
import { terminateSessions } from './sessions.ts';

/**
 * The tables (and partitioned tables) of the connected database with rows and size from the planner's
 * statistics, not pg_total_relation_size: that one waits for table locks, and neither a backup nor a
 * preview may queue behind a long transaction.
 */
async function tableStatistics(client: pg.Client): Promise<ManifestTable[]> {
  const { rows } = await client.query<{ schema: string; name: string; rows: string; size: string }>(
    `select n.nspname as schema, c.relname as name, greatest(c.reltuples, 0)::bigint as rows,
            (c.relpages::bigint + coalesce(t.relpages, 0)) * current_setting('block_size')::bigint as size
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
       left join pg_class t on t.oid = c.reltoastrelid
      where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema')
        and n.nspname not like 'pg_toast%' and n.nspname not like 'pg_temp%'
      order by 1, 2`,
  );
  return rows.map((t) => ({
    schema: t.schema,
    name: t.name,
    rowEstimate: Number(t.rows),
    sizeBytes: Number(t.size),
  }));
}

export interface ServerInfo {
  serverVersion: string;
  serverVersionNum: number;
  databaseSizeBytes: number;
  tables: ManifestTable[];
}

/** Version, size and tables of the database, and ends sessions a killed earlier attempt left behind. */
export function inspectServer(
  connection: TargetConnection,
  password: string | undefined,
  staleApplicationName: string,
): Promise<ServerInfo> {
  return withClient(
    connection,
    password,
    'lifeboat-inspect',
    async (client) => {
      await terminateSessions(client, staleApplicationName);
      const version = await client.query<{ server_version: string; num: string; size: string }>(
        `select current_setting('server_version') as server_version,
                current_setting('server_version_num') as num,
                pg_database_size(current_database()) as size`,
      );
      const row = version.rows[0]!;
      return {
        serverVersion: row.server_version,
        serverVersionNum: Number(row.num),
        databaseSizeBytes: Number(row.size),
        tables: await tableStatistics(client),
      };
    },
    'all',
  );
}

export interface DestinationState {
  exists: boolean;
  serverVersion: string;
  serverVersionNum: number;
  sizeBytes: number;
  tables: ManifestTable[];
  schemas: string[];
  activeConnections: number;
  /** Which of the asked roles the server has. */
  roles: string[];
  /** Whether the target's role is a superuser: modes data-only and tables need it to disable triggers. */
  superuser: boolean;
}

/**
 * The destination as it is now. For a database that does not exist yet, the server is read through the
 * target's own database and `exists` is false.
 */
export async function inspectDestination(
  connection: TargetConnection,
  database: string,
  password: string | undefined,
  roles: readonly string[],
): Promise<DestinationState> {
  type ServerRow = {
    server_version: string;
    num: string;
    exists: boolean;
    roles: string[];
    superuser: boolean;
  };
  const server = await withClient(connection, password, 'lifeboat-restore-inspect', async (admin) => {
    const { rows } = await admin.query<ServerRow>(
      `select current_setting('server_version') as server_version, current_setting('server_version_num') as num,
              exists (select 1 from pg_database where datname = $1) as exists,
              array(select rolname::text from pg_roles where rolname = any($2::text[])) as roles,
              current_setting('is_superuser') = 'on' as superuser`,
      [database, roles],
    );
    return rows[0]!;
  });
  const state: DestinationState = {
    exists: server.exists,
    serverVersion: server.server_version,
    serverVersionNum: Number(server.num),
    sizeBytes: 0,
    tables: [],
    schemas: [],
    activeConnections: 0,
    roles: server.roles,
    superuser: server.superuser,
  };
  if (!server.exists) return state;
  return withClient(
    { ...connection, database },
    password,
    'lifeboat-restore-inspect',
    async (client) => {
      const size = await client.query<{ size: string; sessions: string }>(
        `select pg_database_size(current_database()) as size,
                (select count(*) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()
                   and backend_type = 'client backend' and application_name not like 'lifeboat-%') as sessions`,
      );
      const tables = await tableStatistics(client);
      const schemas = await client.query<{ name: string }>(
        `select nspname as name from pg_namespace
          where nspname not in ('pg_catalog', 'information_schema') and nspname not like 'pg_toast%'
            and nspname not like 'pg_temp%' order by 1`,
      );
      return {
        ...state,
        sizeBytes: Number(size.rows[0]?.size ?? 0),
        activeConnections: Number(size.rows[0]?.sessions ?? 0),
        tables,
        schemas: schemas.rows.map((s) => s.name),
      };
    },
    'all',
  );
}

/** Whether each table exists in the database now, and how many rows it holds (counted, not estimated). */
export function countTables(
  connection: TargetConnection,
  password: string | undefined,
  tables: readonly TableName[],
): Promise<ObservedTable[]> {
  return withClient(connection, password, 'lifeboat-restore-verify', async (client) => {
    const seen: ObservedTable[] = [];
    for (const table of tables) {
      const name = sqlTableName(table);
      const { rows } = await client.query<{ exists: boolean }>(
        'select to_regclass($1) is not null as exists',
        [name],
      );
      let count: number | null = null;
      if (rows[0]?.exists) {
        const counted = await client.query<{ n: string }>(`select count(*) as n from only ${name}`);
        count = Number(counted.rows[0]?.n ?? 0);
      }
      seen.push({ schema: table.schema, name: table.name, exists: rows[0]?.exists ?? false, rows: count });
    }
    return seen;
  });
}
