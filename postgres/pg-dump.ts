// pg_dump as a child process: a custom-format dump of one database, and what its complaints mean.
import { spawn, type ChildProcess } from 'node:child_process';
import { open } from 'node:fs/promises';
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
 * Starts pg_dump in custom format writing through a pipe into `outputFile`, by way of `cat`: a file that
 * grows at pg_dump's own pace, whatever the worker's event loop is busy with, which the archive reads as it
 * grows. Through a pipe because pg_dump rewrites the start of a seekable output when it ends (its table of
 * contents, with data offsets); a dump written to a pipe has none and is never rewritten, and pg_restore
 * (-j too, PostgreSQL 12 and later) finds its data by reading the file. Resolves when both have started;
 * `done` settles when both have exited, with pg_dump's failure classified; aborting `signal` kills pg_dump.
 */
export async function startPgDumpThroughPipe(run: DumpRun): Promise<{ done: Promise<void> }> {
  const output = await open(run.outputFile, 'w', 0o600);
  let copier: ChildProcess;
  try {
    copier = spawn('cat', [], { stdio: ['pipe', output.fd, 'pipe'] });
  } finally {
    await output.close();
  }
  const copied = exited(copier);
  const copyErrors = collect(copier.stderr!);
  const child = spawn(run.pgDumpPath, dumpArguments(run.connection), {
    env: dumpEnvironment(run),
    stdio: ['ignore', copier.stdin!, 'pipe'],
  });
  // pg_dump holds the pipe's only writing end now: cat sees its end when pg_dump exits.
  copier.stdin!.destroy();
  const dumpErrors = collect(child.stderr);
  const kill = () => {
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
  };
  if (run.signal.aborted) kill();
  run.signal.addEventListener('abort', kill, { once: true });
  const done = Promise.all([exited(child), copied]).then(([dumpStatus, copyStatus]) => {
    run.signal.removeEventListener('abort', kill);
    if (run.signal.aborted) throw new LifeboatError('CANCELLED', 'The dump was cancelled.');
    // A copy that failed (a full disk) makes pg_dump fail too, on a broken pipe: the copy's reason is the one.
    if (copyStatus !== 0) throw classifyDumpStderr(copyErrors() || `cat exited with ${copyStatus}`);
    if (dumpStatus !== 0) throw classifyDumpStderr(dumpErrors());
  });
  return { done };
}

/** What a child writes to `stream`, its first MiB. */
function collect(stream: Readable): () => string {
  let text = '';
  stream.setEncoding('utf8');
  stream.on('data', (more: string) => {
    if (text.length < 1024 * 1024) text += more;
  });
  return () => text;
}

/** The exit code of a child (or -1 when a signal ended it, or it could not start). */
function exited(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    child.once('error', () => resolve(-1));
    child.once('close', (code) => resolve(code ?? -1));
  });
}
