// Facts about the machine and the software a benchmark run measured, for the report.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { PostgresCluster } from '../stack/postgres-cluster.ts';

export interface MachineFacts {
  date: string;
  nproc: number;
  cpuModel: string;
  freeG: string;
  kernel: string;
  node: string;
  postgres: string;
  pgDump: string;
}

function command(file: string, args: string[]): string {
  try {
    return execFileSync(file, args, { encoding: 'utf8' }).trimEnd();
  } catch (error) {
    return `(${file} failed: ${(error as Error).message})`;
  }
}

/**
 * The code under measurement: the commit, and the files outside bench/ that differ from it. Other people
 * may edit the checkout while the benchmark runs, so the benchmark reads this at its start and at its end.
 */
export function codeVersion(): string {
  const root = path.resolve(import.meta.dirname, '..');
  const commit = command('git', ['-C', root, 'rev-parse', '--short', 'HEAD']);
  const changed = command('git', ['-C', root, 'status', '--porcelain', '--', '.', ':!bench'])
    .split('\n')
    .filter(Boolean)
    .map((line) => line.slice(3));
  return changed.length ? `${commit} with uncommitted changes to ${changed.join(', ')}` : `${commit}`;
}

function cpuModel(): string {
  const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
  return match?.[1]?.trim() ?? 'unknown';
}

async function serverVersion(cluster: PostgresCluster): Promise<string> {
  const client = new pg.Client({ connectionString: cluster.url('postgres') });
  await client.connect();
  try {
    const { rows } = await client.query<{ version: string }>('select version()');
    return rows[0]!.version;
  } finally {
    await client.end();
  }
}

export async function machineFacts(cluster: PostgresCluster): Promise<MachineFacts> {
  return {
    date: new Date().toISOString(),
    nproc: availableParallelism(),
    cpuModel: cpuModel(),
    freeG: command('free', ['-g']),
    kernel: command('uname', ['-sr']),
    node: process.version,
    postgres: await serverVersion(cluster),
    pgDump: command(path.join(cluster.binDir, 'pg_dump'), ['--version']),
  };
}
