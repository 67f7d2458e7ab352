// pg_dump as a child process: a custom-format dump of one database, and what its complaints mean.
import type { Readable } from 'node:stream';
import { execa } from 'execa';
import { LifeboatError } from '../domain/errors.ts';
import type { TargetConnection } from '../domain/target.ts';

/** Reads pg_dump/pg_restore's stderr for the errors that need a different answer than "retry". */
export function classifyDumpStderr(stderr: string): LifeboatError {
  const text = stderr.trim().split('\n').slice(-5).join('\n');
  if (/password authentication failed|no pg_hba\.conf entry|no password supplied/i.test(stderr)) {
    return new LifeboatError('AUTH_FAILED', `pg_dump could not log in: ${text}`);
  }
  // PostgreSQL's own refusals only (its ERROR: and FATAL: lines): a local file pg_dump cannot open says
  // "Permission denied" too, and is no reason to give up on the target's credentials.
  if (/\b(ERROR|FATAL):\s+permission denied/.test(stderr)) {
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

export interface DumpRun {
  pgDumpPath: string;
  connection: TargetConnection;
  password: string | undefined;
  applicationName: string;
  outputFile: string;
  signal: AbortSignal;
}

/** The arguments of a custom-format, uncompressed dump of `connection`'s database (no password: that goes by env). */
function dumpArguments(connection: TargetConnection): string[] {
  return [
    '--format=custom',
    // Compressed once, for the whole archive, by the worker: faster than pg_dump's zlib and as small.
    '--compress=0',
    '--no-password',
    `--host=${connection.host}`,
    `--port=${connection.port}`,
    `--username=${connection.username}`,
    `--dbname=${connection.database}`,
  ];
}

function dumpEnvironment(run: Pick<DumpRun, 'password' | 'applicationName'>): Record<string, string> {
  return { PGPASSWORD: run.password ?? '', PGAPPNAME: run.applicationName, PGCONNECT_TIMEOUT: '15' };
}

/**
 * Runs pg_dump in custom format into `outputFile`. The password goes through the child's environment,
 * never its arguments; aborting `signal` kills the child.
 */
export async function runPgDump(run: DumpRun): Promise<void> {
  const result = await execa(run.pgDumpPath, [...dumpArguments(run.connection), `--file=${run.outputFile}`], {
    env: dumpEnvironment(run),
    extendEnv: false,
    cancelSignal: run.signal,
    forceKillAfterDelay: 5_000,
    reject: false,
    stdin: 'ignore',
    stdout: 'ignore',
    stderr: 'pipe',
    maxBuffer: { stderr: 1024 * 1024 },
  });
  if (result.isCanceled) {
    throw new LifeboatError('CANCELLED', 'The dump was cancelled.');
  }
  if (result.failed) throw classifyDumpStderr(String(result.stderr ?? ''));
}

/**
 * Starts pg_dump in custom format writing to its standard output, which the caller must read to the end.
 * Such a dump has no data offsets in its table of contents; pg_restore (-j too, PostgreSQL 12 and later)
 * finds the data by scanning the file. `done` settles when pg_dump has exited, with its error classified.
 */
export function startPgDumpToStdout(run: Omit<DumpRun, 'outputFile'>): {
  stdout: Readable;
  done: Promise<void>;
} {
  const child = execa(run.pgDumpPath, dumpArguments(run.connection), {
    env: dumpEnvironment(run),
    extendEnv: false,
    cancelSignal: run.signal,
    forceKillAfterDelay: 5_000,
    reject: false,
    buffer: { stdout: false, stderr: true },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    maxBuffer: { stderr: 1024 * 1024 },
  });
  const done = child.then((result) => {
    if (result.isCanceled) throw new LifeboatError('CANCELLED', 'The dump was cancelled.');
    if (result.failed) throw classifyDumpStderr(String(result.stderr ?? ''));
  });
  return { stdout: child.stdout, done };
}
