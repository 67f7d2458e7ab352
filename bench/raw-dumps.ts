// The baselines Lifeboat is compared with: plain pg_dump runs, with the same client and connection.
import { stat, rm } from 'node:fs/promises';
import path from 'node:path';
import type { PostgresCluster } from '../stack/postgres-cluster.ts';
import { timeProcess } from './measure.ts';

export interface DumpMeasurement {
  ms: number;
  fileBytes: number;
}

function connectionArgs(cluster: PostgresCluster, database: string): string[] {
  return [
    '--no-password',
    '--host=127.0.0.1',
    `--port=${cluster.port}`,
    `--username=${cluster.superuser}`,
    `--dbname=${database}`,
  ];
}

function pgEnv(cluster: PostgresCluster): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, PGPASSWORD: cluster.password };
}

/** Measures the file's size, then removes it: the benchmark keeps no dumps around. */
async function sizeAndRemove(file: string): Promise<number> {
  const { size } = await stat(file);
  await rm(file, { force: true });
  return size;
}

/** `pg_dump -Fc -f file`: what Lifeboat's dump step runs, without anything around it. */
export async function timeCustomDump(
  cluster: PostgresCluster,
  database: string,
  dir: string,
): Promise<DumpMeasurement> {
  const file = path.join(dir, `${database}.dump`);
  const ms = await timeProcess(
    path.join(cluster.binDir, 'pg_dump'),
    ['--format=custom', `--file=${file}`, ...connectionArgs(cluster, database)],
    pgEnv(cluster),
  );
  return { ms, fileBytes: await sizeAndRemove(file) };
}

/** `pg_dump | gzip > file`: plain SQL compressed by gzip at its default level, in a second process. */
export async function timeGzipDump(
  cluster: PostgresCluster,
  database: string,
  dir: string,
): Promise<DumpMeasurement> {
  const file = path.join(dir, `${database}.sql.gz`);
  const ms = await timeProcess(
    'bash',
    [
      '-c',
      'set -o pipefail; "$@" | gzip > "$BENCH_OUTPUT"',
      'bash',
      path.join(cluster.binDir, 'pg_dump'),
      ...connectionArgs(cluster, database),
    ],
    { ...pgEnv(cluster), BENCH_OUTPUT: file },
  );
  return { ms, fileBytes: await sizeAndRemove(file) };
}
