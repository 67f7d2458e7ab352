// pg_restore and psql as child processes: the archive's table of contents, the destination as it is now,
// and the restore itself, pg_restore's SQL streamed into psql inside one transaction that only commits
// when everything loaded and checked out. Passwords go through the environment, never the arguments.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import pg from 'pg';
import { LifeboatError } from '../domain/errors.ts';
import { chooseClient, parseClientVersion, serverMajor, type PgClient } from '../domain/pg-version.ts';
import {
  parseTocHeaders,
  RestoreSqlStream,
  splitTocList,
  type ExpectedTable,
  type TableName,
  type TocEntry,
} from '../domain/restore.ts';
import type { TargetConnection } from '../domain/target.ts';
import { classifyConnectionError, connectionConfig, findPgClients } from './server.ts';

export interface RestoreTools {
  pgRestore: string;
  psql: string;
  version: string;
}

/**
 * pg_restore and psql for a dump made by pg_dump `dumpVersion`, restored into a server of
 * `serverVersionNum`: the server's own major when it can read the dump, else the newest newer one.
 */
export async function findRestoreTools(
  binDirs: readonly string[],
  serverVersionNum: number,
  dumpVersion: string,
): Promise<RestoreTools> {
  const dumpMajor = parseClientVersion(`(PostgreSQL) ${dumpVersion}`)?.major ?? 0;
  const needed = Math.max(serverMajor(serverVersionNum), dumpMajor) * 10000;
  const client: PgClient = chooseClient(await findPgClients(binDirs), needed);
  return {
    pgRestore: path.join(client.binDir, 'pg_restore'),
    psql: path.join(client.binDir, 'psql'),
    version: client.version,
  };
}

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** Keeps the last 16 KiB of a child's stderr: enough for the error, bounded whatever it prints. */
function started(child: ChildProcess): Promise<Finished> {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-16_384);
  });
  return new Promise((resolve) => {
    child.once('error', (error) =>
      resolve({ code: -1, signal: null, stderr: `${stderr}\n${error.message}` }),
    );
    child.once('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

function kill(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }, 5_000).unref();
}

async function runToText(file: string, args: string[]): Promise<string> {
  const child = spawn(file, args, { env: {}, stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  const finished = await started(child);
  if (finished.code !== 0) {
    throw new LifeboatError(
      'CHECKSUM_MISMATCH',
      `pg_restore cannot read the dump: ${lastLines(finished.stderr) || `exit ${finished.code ?? finished.signal}`}`,
    );
  }
  return Buffer.concat(chunks).toString('utf8');
}

export interface ArchiveToc {
  entries: TocEntry[];
  dataEntries: { id: number; oid: number; desc: string }[];
}

/**
 * The dump's table of contents with each entry's dependencies: `pg_restore --list`, then the headers that
 * `--verbose` prints for every entry except the bulk data, so no table data is read.
 */
export async function readToc(pgRestore: string, dumpFile: string, scratchDir: string): Promise<ArchiveToc> {
  const list = await runToText(pgRestore, ['--list', dumpFile]);
  const { headerList, dataEntries } = splitTocList(list);
  const listFile = path.join(scratchDir, 'toc-headers.list');
  await writeFile(listFile, headerList, { mode: 0o600 });
  const headers = await runToText(pgRestore, ['--verbose', '--file=-', `--use-list=${listFile}`, dumpFile]);
  return { entries: parseTocHeaders(headers), dataEntries };
}

/** The environment that points libpq at the destination; the password never reaches an argument list. */
function libpqEnv(connection: TargetConnection, password: string | undefined, applicationName: string) {
  return {
    PGHOST: connection.host,
    PGPORT: String(connection.port),
    PGUSER: connection.username,
    PGDATABASE: connection.database,
    PGPASSWORD: password ?? '',
    PGAPPNAME: applicationName,
    PGCONNECT_TIMEOUT: '15',
    PGCLIENTENCODING: 'UTF8',
  };
}

function lastLines(text: string, count = 6): string {
  return text.trim().split('\n').slice(-count).join('\n');
}

/** The first error psql reported, without its "psql:<stdin>:123:" prefix, and what followed it. */
function psqlError(stderr: string): string {
  const lines = stderr.split('\n');
  const first = lines.findIndex((line) => /\b(ERROR|FATAL):/.test(line));
  const relevant = first >= 0 ? lines.slice(first, first + 4) : lines.slice(-4);
  return relevant
    .map((line) => line.replace(/^psql:<stdin>:\d+: /, ''))
    .join('\n')
    .trim();
}

/** Reads psql's and pg_restore's complaints for the errors that need a different answer than "failed". */
export function classifyRestoreStderr(stderr: string, tool: 'psql' | 'pg_restore'): LifeboatError {
  const text = tool === 'psql' ? psqlError(stderr) : lastLines(stderr);
  if (/password authentication failed|no pg_hba\.conf entry|no password supplied/i.test(stderr)) {
    return new LifeboatError('AUTH_FAILED', `${tool} could not log in: ${text}`);
  }
  if (/could not connect|Connection refused|timeout expired|server closed the connection/i.test(stderr)) {
    return new LifeboatError('CONNECTION_FAILED', `${tool} lost the server: ${text}`);
  }
  if (/lifeboat verify:/.test(stderr)) {
    return new LifeboatError(
      'VERIFY_FAILED',
      `The restored data did not check out, so nothing was kept: ${text}`,
    );
  }
  if (/lock timeout/i.test(stderr)) {
    return new LifeboatError(
      'CONFLICT',
      `Other sessions held locks on the destination for too long; nothing was changed. End them or restore ` +
        `with terminateConnections. (${text})`,
    );
  }
  if (/No space left on device|could not extend file/i.test(stderr)) {
    return new LifeboatError('INSUFFICIENT_SPACE', `The disk filled up; nothing was changed: ${text}`);
  }
  return new LifeboatError(
    'PG_RESTORE_FAILED',
    `The restore failed and PostgreSQL rolled it back, so nothing was changed: ${text || 'no message'}`,
  );
}

export interface RestoreRun {
  tools: RestoreTools;
  dumpFile: string;
  /** pg_restore options that select what is restored, such as --data-only or --use-list. */
  selectArgs: string[];
  connection: TargetConnection;
  password: string | undefined;
  applicationName: string;
  /** SQL run first inside the transaction: clearing what is replaced. */
  prelude: string;
  /** SQL run last, before COMMIT, from the rows every COPY carried: the in-transaction check. */
  epilogue: (counted: ExpectedTable[]) => string;
  signal: AbortSignal;
  onProgress: (bytes: number, currentTable: TableName | undefined) => void;
}

export interface RestoreRunResult {
  /** Rows every COPY block carried, by table. */
  counted: ExpectedTable[];
  /** Bytes of SQL that went through. */
  bytes: number;
}

/** Writes with backpressure; a broken pipe just ends the wait: psql's exit status says what happened. */
async function write(stream: Writable, data: string | Buffer, closed: Promise<unknown>): Promise<void> {
  if (stream.write(data)) return;
  await Promise.race([once(stream, 'drain').catch(() => undefined), closed]);
}

/**
 * pg_restore's SQL for the dump, streamed through a row counter into psql, framed by BEGIN, the prelude,
 * the epilogue and COMMIT (pg_restore's own BEGIN only draws a warning inside ours). psql stops at the first error (ON_ERROR_STOP); COMMIT is only written once
 * pg_restore has finished cleanly, so a failure, a kill of either process or of this worker, or a
 * cancellation before that point leaves the database untouched. Once COMMIT is written, cancellation
 * waits for psql instead of killing it, so the outcome is always known to the caller.
 */
export async function runRestore(run: RestoreRun): Promise<RestoreRunResult> {
  const psql = spawn(
    run.tools.psql,
    ['--no-psqlrc', '--quiet', '--no-password', '--set=ON_ERROR_STOP=1', '--file=-'],
    {
      env: libpqEnv(run.connection, run.password, run.applicationName),
      stdio: ['pipe', 'ignore', 'pipe'],
    },
  );
  const psqlDone = started(psql);
  // --single-transaction: otherwise pg_restore wraps large objects in a BEGIN/COMMIT of their own, which
  // would commit the restore halfway. Its closing COMMIT is held back by RestoreSqlStream.
  const restoreArgs = ['--file=-', '--single-transaction', ...run.selectArgs, run.dumpFile];
  const restore = spawn(run.tools.pgRestore, restoreArgs, {
    env: {},
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const restoreDone = started(restore);
  // psql's stdin breaks when psql stops at an error; its exit status tells why, not the EPIPE.
  psql.stdin.on('error', () => undefined);
  let committing = false;
  const abort = () => {
    if (!committing) {
      kill(restore);
      kill(psql);
    }
  };
  run.signal.addEventListener('abort', abort);
  const counter = new RestoreSqlStream();
  let bytes = 0;
  try {
    if (run.signal.aborted) throw new LifeboatError('CANCELLED', 'The restore was cancelled.');
    await write(
      psql.stdin,
      `SET client_min_messages = warning;\nBEGIN;\nSET LOCAL lock_timeout = '2min';\n${run.prelude}`,
      psqlDone,
    );
    for await (const chunk of restore.stdout) {
      bytes += (chunk as Buffer).length;
      for (const part of counter.push(chunk as Buffer)) await write(psql.stdin, part, psqlDone);
      run.onProgress(bytes, counter.current);
      if (psql.exitCode !== null || psql.signalCode !== null) break;
    }
    if (psql.exitCode !== null || psql.signalCode !== null) {
      kill(restore);
      if (run.signal.aborted) throw new LifeboatError('CANCELLED', 'The restore was cancelled.');
      throw classifyRestoreStderr((await psqlDone).stderr, 'psql');
    }
    const restored = await restoreDone;
    if (run.signal.aborted) throw new LifeboatError('CANCELLED', 'The restore was cancelled.');
    if (restored.code !== 0) {
      const how = restored.signal ? `was killed (${restored.signal})` : `exited with ${restored.code}`;
      throw new LifeboatError(
        'PG_RESTORE_FAILED',
        `pg_restore ${how} before the end of the dump; PostgreSQL rolled the restore back, so nothing was ` +
          `changed. ${lastLines(restored.stderr)}`.trim(),
      );
    }
    const { trailer, closed } = counter.finish();
    if (!closed) {
      throw new LifeboatError(
        'PG_RESTORE_FAILED',
        "pg_restore's script did not end with its closing COMMIT, so it is incomplete; nothing was changed.",
      );
    }
    for (const part of trailer) await write(psql.stdin, part, psqlDone);
    const counted = counter.result();
    await write(psql.stdin, run.epilogue(counted), psqlDone);
    committing = true;
    await write(psql.stdin, 'COMMIT;\n', psqlDone);
    psql.stdin.end();
    const finished = await psqlDone;
    if (finished.code !== 0) {
      if (finished.signal) {
        throw new LifeboatError(
          'PG_RESTORE_FAILED',
          `psql was killed (${finished.signal}) after COMMIT was sent: whether the restore committed is unknown.`,
          { committed: 'unknown' },
        );
      }
      throw classifyRestoreStderr(finished.stderr, 'psql');
    }
    return { counted, bytes };
  } catch (error) {
    if (!committing) {
      kill(restore);
      kill(psql);
    }
    const [, psqlEnded] = await Promise.all([restoreDone, psqlDone]);
    if (error instanceof LifeboatError && error.details?.committed === 'unknown') throw error;
    const failure =
      error instanceof LifeboatError
        ? error
        : psqlEnded.code
          ? classifyRestoreStderr(psqlEnded.stderr, 'psql')
          : new LifeboatError('PG_RESTORE_FAILED', `The restore failed: ${(error as Error).message}`);
    // COMMIT was never sent, or psql reported that it failed: PostgreSQL rolled everything back.
    throw new LifeboatError(failure.code, failure.message, { ...failure.details, rolledBack: true });
  } finally {
    run.signal.removeEventListener('abort', abort);
  }
}

export interface DestinationState {
  exists: boolean;
  serverVersion: string;
  serverVersionNum: number;
  sizeBytes: number;
  tables: (TableName & { rowEstimate: number; sizeBytes: number })[];
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
  const admin = new pg.Client(connectionConfig(connection, password, 'lifeboat-restore-inspect'));
  try {
    await admin.connect();
  } catch (error) {
    throw classifyConnectionError(error, connection);
  }
  let server: { server_version: string; num: string; exists: boolean; roles: string[]; superuser: boolean };
  try {
    const { rows } = await admin.query<typeof server>(
      `select current_setting('server_version') as server_version, current_setting('server_version_num') as num,
              exists (select 1 from pg_database where datname = $1) as exists,
              array(select rolname::text from pg_roles where rolname = any($2::text[])) as roles,
              current_setting('is_superuser') = 'on' as superuser`,
      [database, roles],
    );
    server = rows[0]!;
  } finally {
    await admin.end().catch(() => undefined);
  }
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
  const inside = { ...connection, database };
  const client = new pg.Client(connectionConfig(inside, password, 'lifeboat-restore-inspect'));
  try {
    await client.connect();
  } catch (error) {
    throw classifyConnectionError(error, inside);
  }
  try {
    const size = await client.query<{ size: string; sessions: string }>(
      `select pg_database_size(current_database()) as size,
              (select count(*) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()
                 and backend_type = 'client backend' and application_name not like 'lifeboat-%') as sessions`,
    );
    // Statistics, not pg_total_relation_size: a preview must not wait behind other sessions' locks.
    const tables = await client.query<{ schema: string; name: string; rows: string; size: string }>(
      `select n.nspname as schema, c.relname as name, greatest(c.reltuples, 0)::bigint as rows,
              (c.relpages::bigint + coalesce(t.relpages, 0)) * current_setting('block_size')::bigint as size
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
         left join pg_class t on t.oid = c.reltoastrelid
        where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema')
          and n.nspname not like 'pg_toast%' and n.nspname not like 'pg_temp%'
        order by 1, 2`,
    );
    const schemas = await client.query<{ name: string }>(
      `select nspname as name from pg_namespace
        where nspname not in ('pg_catalog', 'information_schema') and nspname not like 'pg_toast%'
          and nspname not like 'pg_temp%' order by 1`,
    );
    state.sizeBytes = Number(size.rows[0]?.size ?? 0);
    state.activeConnections = Number(size.rows[0]?.sessions ?? 0);
    state.tables = tables.rows.map((t) => ({
      schema: t.schema,
      name: t.name,
      rowEstimate: Number(t.rows),
      sizeBytes: Number(t.size),
    }));
    state.schemas = schemas.rows.map((s) => s.name);
    return state;
  } catch (error) {
    throw classifyConnectionError(error, inside);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Runs `work` with a connection to `connection`, mapping connection errors to Lifeboat codes. */
export async function withClient<T>(
  connection: TargetConnection,
  password: string | undefined,
  applicationName: string,
  work: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = new pg.Client(connectionConfig(connection, password, applicationName));
  try {
    await client.connect();
  } catch (error) {
    throw classifyConnectionError(error, connection);
  }
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Ends sessions on `database`: those of an earlier attempt of this restore (a killed worker's psql may
 * linger in a lock queue), and with `everyone` all other client sessions but Lifeboat's own.
 */
export async function endDestinationSessions(
  connection: TargetConnection,
  password: string | undefined,
  applicationName: string,
  everyone: boolean,
): Promise<number> {
  return withClient(connection, password, 'lifeboat-restore-cleanup', async (client) => {
    const { rowCount } = await client.query(
      `select pg_terminate_backend(pid) from pg_stat_activity
        where datname = current_database() and pid <> pg_backend_pid() and backend_type = 'client backend'
          and (application_name = $1 or ($2 and application_name not like 'lifeboat-%'))`,
      [applicationName, everyone],
    );
    return rowCount ?? 0;
  });
}
