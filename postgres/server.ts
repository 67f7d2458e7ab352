// PostgreSQL as Lifeboat sees it: server inspection over libpq and pg_dump as a child process.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { execa } from 'execa';
import pg from 'pg';
import { LifeboatError } from '../domain/errors.ts';
import type { ManifestTable } from '../domain/manifest.ts';
import { parseClientVersion, type PgClient } from '../domain/pg-version.ts';
import type { TargetConnection } from '../domain/target.ts';

const execFileAsync = promisify(execFile);

export interface ServerInfo {
  serverVersion: string;
  serverVersionNum: number;
  databaseSizeBytes: number;
  tables: ManifestTable[];
}

/** Maps a libpq / node-postgres connection error to a Lifeboat code a person can act on. */
export function classifyConnectionError(error: unknown, connection: TargetConnection): LifeboatError {
  const err = error as { code?: string; message?: string };
  const where = `${connection.username}@${connection.host}:${connection.port}/${connection.database}`;
  switch (err.code) {
    case '28P01':
    case '28000':
      return new LifeboatError(
        'AUTH_FAILED',
        `PostgreSQL refused the credentials for ${where}: ${err.message}`,
      );
    case '3D000':
      return new LifeboatError(
        'NOT_FOUND',
        `Database "${connection.database}" does not exist on ${connection.host}:${connection.port}.`,
      );
    case '42501':
      return new LifeboatError(
        'AUTH_FAILED',
        `Role ${connection.username} lacks a privilege the backup needs: ${err.message}`,
      );
    default:
      return new LifeboatError(
        'CONNECTION_FAILED',
        `Cannot reach PostgreSQL at ${where}: ${err.message ?? String(error)}`,
      );
  }
}

/** Reads pg_dump/pg_restore's stderr for the errors that need a different answer than "retry". */
export function classifyDumpStderr(stderr: string): LifeboatError {
  const text = stderr.trim().split('\n').slice(-5).join('\n');
  if (/password authentication failed|no pg_hba\.conf entry|no password supplied/i.test(stderr)) {
    return new LifeboatError('AUTH_FAILED', `pg_dump could not log in: ${text}`);
  }
  if (/permission denied/i.test(stderr)) {
    return new LifeboatError('AUTH_FAILED', `pg_dump lacks a privilege: ${text}`);
  }
  if (/server version mismatch|aborting because of server version mismatch/i.test(stderr)) {
    return new LifeboatError('PG_VERSION_MISMATCH', text);
  }
  if (/No space left on device/i.test(stderr)) {
    return new LifeboatError('INSUFFICIENT_SPACE', `The worker's disk is full: ${text}`);
  }
  if (/could not connect|Connection refused|timeout expired|server closed the connection/i.test(stderr)) {
    return new LifeboatError('CONNECTION_FAILED', `pg_dump lost the server: ${text}`);
  }
  return new LifeboatError('PG_DUMP_FAILED', `pg_dump failed: ${text || 'no message'}`);
}

export function connectionConfig(
  connection: TargetConnection,
  password: string | undefined,
  applicationName: string,
) {
  return {
    host: connection.host,
    port: connection.port,
    database: connection.database,
    user: connection.username,
    password,
    application_name: applicationName,
    connectionTimeoutMillis: 10_000,
  };
}

const terminateSql =
  'select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1 and pid <> pg_backend_pid()';

/**
 * Ends the server sessions of a pg_dump that is gone: a killed client's backend can sit in a lock
 * queue until the lock frees, and everything queued behind it waits too. Best effort.
 */
export async function endSessions(
  connection: TargetConnection,
  password: string | undefined,
  applicationName: string,
): Promise<void> {
  const client = new pg.Client(connectionConfig(connection, password, 'lifeboat-cleanup'));
  try {
    await client.connect();
    await client.query(terminateSql, [applicationName]);
  } catch {
    // The server may be unreachable; its sessions then end with the connection.
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Version, size and tables of the database, and ends sessions a killed earlier attempt left behind. */
export async function inspectServer(
  connection: TargetConnection,
  password: string | undefined,
  staleApplicationName: string,
): Promise<ServerInfo> {
  const client = new pg.Client(connectionConfig(connection, password, 'lifeboat-inspect'));
  try {
    await client.connect();
  } catch (error) {
    throw classifyConnectionError(error, connection);
  }
  try {
    await client.query(terminateSql, [staleApplicationName]);
    const version = await client.query<{ server_version: string; num: string; size: string }>(
      `select current_setting('server_version') as server_version,
              current_setting('server_version_num') as num,
              pg_database_size(current_database()) as size`,
    );
    // Sizes come from the planner's statistics, not pg_total_relation_size: that one waits for
    // table locks, and a backup must not queue behind a long transaction before pg_dump even starts.
    const tables = await client.query<{ schema: string; name: string; rows: string; size: string }>(
      `select n.nspname as schema, c.relname as name, greatest(c.reltuples, 0)::bigint as rows,
              (c.relpages::bigint + coalesce(t.relpages, 0)) * current_setting('block_size')::bigint as size
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
         left join pg_class t on t.oid = c.reltoastrelid
        where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema')
          and n.nspname not like 'pg_toast%'
        order by 1, 2`,
    );
    const row = version.rows[0]!;
    return {
      serverVersion: row.server_version,
      serverVersionNum: Number(row.num),
      databaseSizeBytes: Number(row.size),
      tables: tables.rows.map((t) => ({
        schema: t.schema,
        name: t.name,
        rowEstimate: Number(t.rows),
        sizeBytes: Number(t.size),
      })),
    };
  } catch (error) {
    throw classifyConnectionError(error, connection);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The pg_dump binaries found in the configured directories, or under /usr/lib/postgresql/<major>/bin. */
export async function findPgClients(binDirs: readonly string[]): Promise<PgClient[]> {
  const candidates = binDirs.length
    ? binDirs
    : existsSync('/usr/lib/postgresql')
      ? readdirSync('/usr/lib/postgresql').map((major) => path.join('/usr/lib/postgresql', major, 'bin'))
      : [];
  const clients: PgClient[] = [];
  for (const binDir of candidates) {
    const pgDump = path.join(binDir, 'pg_dump');
    if (!existsSync(pgDump)) continue;
    try {
      const { stdout } = await execFileAsync(pgDump, ['--version']);
      const version = parseClientVersion(stdout);
      if (version) clients.push({ binDir, ...version });
    } catch {
      // A broken binary is the same as none; chooseClient lists what did work.
    }
  }
  return clients;
}

export interface DumpRun {
  pgDumpPath: string;
  connection: TargetConnection;
  password: string | undefined;
  applicationName: string;
  outputFile: string;
  signal: AbortSignal;
}

/**
 * Runs pg_dump in custom format into `outputFile`. The password goes through the child's environment,
 * never its arguments; aborting `signal` kills the child.
 */
export async function runPgDump(run: DumpRun): Promise<void> {
  const { connection } = run;
  const result = await execa(
    run.pgDumpPath,
    [
      '--format=custom',
      // Compressed once, for the whole archive, by the worker: faster than pg_dump's zlib and as small.
      '--compress=0',
      `--file=${run.outputFile}`,
      '--no-password',
      `--host=${connection.host}`,
      `--port=${connection.port}`,
      `--username=${connection.username}`,
      `--dbname=${connection.database}`,
    ],
    {
      env: {
        PGPASSWORD: run.password ?? '',
        PGAPPNAME: run.applicationName,
        PGCONNECT_TIMEOUT: '15',
      },
      extendEnv: false,
      cancelSignal: run.signal,
      forceKillAfterDelay: 5_000,
      reject: false,
      stdin: 'ignore',
      stdout: 'ignore',
      stderr: 'pipe',
      maxBuffer: { stderr: 1024 * 1024 },
    },
  );
  if (result.isCanceled) {
    throw new LifeboatError('CANCELLED', 'The dump was cancelled.');
  }
  if (result.failed) throw classifyDumpStderr(String(result.stderr ?? ''));
}
