// pg_restore and psql as child processes: the dump's table of contents, and the restore itself, pg_restore's
// SQL streamed into psql inside one transaction that only commits when everything loaded and checked out.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { LifeboatError } from '../domain/errors.ts';
import { restoreAttemptDetails, type RestoreAttemptDetails } from '../domain/restore/failure.ts';
import type { TableName } from '../domain/restore/options.ts';
import { parseTocHeaders, splitTocList, type ArchiveToc } from '../domain/restore/toc.ts';
import type { ExpectedTable } from '../domain/restore/verify.ts';
import type { TargetConnection } from '../domain/target.ts';
import type { RestoreTools } from './binaries.ts';
import { libpqEnv } from './client.ts';
import { RestoreSqlStream } from './restore-sql-stream.ts';

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
          { committed: 'unknown' } satisfies RestoreAttemptDetails,
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
    if (error instanceof LifeboatError && restoreAttemptDetails(error.details).committed) throw error;
    const failure =
      error instanceof LifeboatError
        ? error
        : psqlEnded.code
          ? classifyRestoreStderr(psqlEnded.stderr, 'psql')
          : new LifeboatError('PG_RESTORE_FAILED', `The restore failed: ${(error as Error).message}`);
    // COMMIT was never sent, or psql reported that it failed: PostgreSQL rolled everything back.
    const rolledBack: RestoreAttemptDetails = { rolledBack: true };
    throw new LifeboatError(failure.code, failure.message, { ...failure.details, ...rolledBack });
  } finally {
    run.signal.removeEventListener('abort', abort);
  }
}

export { started as spawnedChild, kill as stopChild, lastLines };
