// pg_dump as a child process: a custom-format dump of one database, and what its complaints mean.
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
