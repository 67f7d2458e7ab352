// pg_restore -j N straight into a database of its own (the incoming copy of a restore by swap), with the
// rows every COPY of the dump carries counted beside it, for the check the restore makes afterwards.
import { spawn } from 'node:child_process';
import { LifeboatError } from '../domain/errors.ts';
import type { TableName } from '../domain/restore/options.ts';
import type { ExpectedTable } from '../domain/restore/verify.ts';
import type { TargetConnection } from '../domain/target.ts';
import type { RestoreTools } from './binaries.ts';
import { libpqEnv } from './client.ts';
import { classifyRestoreStderr, lastLines, spawnedChild, stopChild } from './pg-restore.ts';
import { parseCopyTarget, RestoreSqlStream } from './restore-sql-stream.ts';

export interface ParallelRestoreRun {
  tools: RestoreTools;
  dumpFile: string;
  /** pg_restore options that select what is restored, such as --no-owner. */
  selectArgs: string[];
  jobs: number;
  /** The connection to the database restored into, which must exist and be empty. */
  connection: TargetConnection;
  password: string | undefined;
  applicationName: string;
  /** How many entries the dump's table of contents has: the measure of progress. */
  entries: number;
  signal: AbortSignal;
  onProgress: (done: number, currentTable: TableName | undefined) => void;
  /**
   * The dump's rows, counted before (the dump is then not read a second time to count them), or `later`
   * when the caller counts them itself after the restore (the result's counts are then empty).
   */
  knownCounts?: readonly ExpectedTable[] | 'later' | undefined;
}

/** A libpq connection string naming only the database: its other parts come from the environment. */
function dbnameConninfo(database: string): string {
  return `dbname='${database.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** Counts the rows every COPY block of the dump carries, from pg_restore's SQL, sending it nowhere. */
export async function countDumpRows(
  run: Pick<ParallelRestoreRun, 'tools' | 'dumpFile' | 'signal'>,
): Promise<ExpectedTable[]> {
  const child = spawn(run.tools.pgRestore, ['--data-only', '--file=-', run.dumpFile], {
    env: {},
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const done = spawnedChild(child);
  const abort = () => stopChild(child);
  run.signal.addEventListener('abort', abort);
  const counter = new RestoreSqlStream();
  try {
    for await (const chunk of child.stdout) counter.push(chunk as Buffer);
    counter.finish();
    const finished = await done;
    if (finished.code !== 0) {
      throw new LifeboatError(
        'PG_RESTORE_FAILED',
        `pg_restore could not read the dump's rows: ${lastLines(finished.stderr) || `exit ${finished.code ?? finished.signal}`}`,
      );
    }
    return counter.result();
  } finally {
    run.signal.removeEventListener('abort', abort);
    stopChild(child);
  }
}

const finishedItem = /^pg_restore: (?:processing|finished) item \d+ /;
const dataFor = /^pg_restore: processing data for table (.+)$/;

/**
 * Restores the dump with `jobs` parallel pg_restore workers straight into the database (no single
 * transaction: the database is the restore's own until it is swapped in, so a failure just drops it),
 * stopping at the first error, while the dump's rows are counted (unless `knownCounts` has them).
 * Returns those counts.
 */
export async function runParallelRestore(run: ParallelRestoreRun): Promise<{ counted: ExpectedTable[] }> {
  const args = [
    `--dbname=${dbnameConninfo(run.connection.database)}`,
    `--jobs=${run.jobs}`,
    '--exit-on-error',
    '--verbose',
    ...run.selectArgs,
    run.dumpFile,
  ];
  const restore = spawn(run.tools.pgRestore, args, {
    env: libpqEnv(run.connection, run.password, run.applicationName),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let done = 0;
  let currentTable: TableName | undefined;
  let partial = '';
  restore.stderr.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (finishedItem.test(line)) done++;
      const table = dataFor.exec(line)?.[1];
      if (table) currentTable = parseCopyTarget(`COPY ${table} FROM stdin;`) ?? currentTable;
    }
    run.onProgress(Math.min(done, run.entries), currentTable);
  });
  const restored = spawnedChild(restore);
  const abort = () => stopChild(restore);
  run.signal.addEventListener('abort', abort);
  try {
    const counting =
      run.knownCounts === 'later'
        ? Promise.resolve([])
        : run.knownCounts
          ? Promise.resolve([...run.knownCounts])
          : countDumpRows(run);
    const [finished, counted] = await Promise.all([restored, counting]);
    if (run.signal.aborted) throw new LifeboatError('CANCELLED', 'The restore was cancelled.');
    if (finished.code !== 0) {
      if (finished.signal) {
        throw new LifeboatError(
          'PG_RESTORE_FAILED',
          `pg_restore was killed (${finished.signal}); the restored copy is incomplete and is dropped.`,
        );
      }
      throw classifyRestoreStderr(finished.stderr, 'pg_restore');
    }
    return { counted };
  } catch (error) {
    stopChild(restore);
    await restored;
    throw error;
  } finally {
    run.signal.removeEventListener('abort', abort);
  }
}
