// A local PostgreSQL cluster for development and tests, run as the `postgres` user when we are root.
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, writeFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { waitForPort } from './ports.ts';

export interface PostgresCluster {
  port: number;
  superuser: string;
  password: string;
  binDir: string;
  /** postgres://superuser:password@127.0.0.1:port/<database> */
  url(database: string): string;
  stop(): void;
}

/** The newest installed server's bin directory, e.g. /usr/lib/postgresql/15/bin. */
export function newestServerBinDir(): string {
  const base = '/usr/lib/postgresql';
  const majors = existsSync(base)
    ? readdirSync(base)
        .filter((name) => existsSync(path.join(base, name, 'bin', 'pg_ctl')))
        .map(Number)
        .sort((a, b) => b - a)
    : [];
  if (majors[0] === undefined)
    throw new Error('no PostgreSQL server under /usr/lib/postgresql: run scripts/setup.sh');
  return path.join(base, String(majors[0]), 'bin');
}

const isRoot = process.getuid?.() === 0;

function asServerUser(command: string, args: string[]): string[] {
  return isRoot ? ['runuser', '-u', 'postgres', '--', command, ...args] : [command, ...args];
}

function run(command: string, args: string[], quiet = false): void {
  const [file, ...rest] = asServerUser(command, args) as [string, ...string[]];
  const result = spawnSync(file, rest, { encoding: 'utf8' });
  if (result.status !== 0 && !quiet) {
    throw new Error(`${command} failed (${result.status}): ${result.stderr || result.stdout}`);
  }
}

/**
 * Starts (creating on first use) a cluster in `dataDir` listening on 127.0.0.1:`port`, with password
 * (scram) authentication for every connection so that a wrong password is really refused.
 */
export async function startPostgresCluster(options: {
  dataDir: string;
  port: number;
  superuser?: string;
  password: string;
  /** Tests trade crash safety for speed; the development stack keeps fsync on. */
  fsync?: boolean;
}): Promise<PostgresCluster> {
  const binDir = newestServerBinDir();
  const superuser = options.superuser ?? 'lifeboat';
  const { dataDir, port, password } = options;
  const parent = path.dirname(dataDir);
  mkdirSync(parent, { recursive: true });
  const socketDir = path.join(parent, 'pg-socket');
  mkdirSync(socketDir, { recursive: true });
  if (isRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(socketDir, uid, gid);
    if (!existsSync(dataDir)) {
      mkdirSync(dataDir, { mode: 0o700 });
      chownSync(dataDir, uid, gid);
    }
  }
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    const pwfile = path.join(socketDir, 'initdb-pw');
    writeFileSync(pwfile, `${password}\n`, { mode: 0o644 });
    try {
      run(path.join(binDir, 'initdb'), [
        '-D',
        dataDir,
        '-U',
        superuser,
        `--pwfile=${pwfile}`,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        '--locale=C.UTF-8',
      ]);
    } finally {
      rmSync(pwfile, { force: true });
    }
  }
  const logFile = path.join(parent, 'postgres.log');
  if (isRoot) {
    writeFileSync(logFile, '', { flag: 'a' });
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(logFile, uid, uid);
  }
  run(path.join(binDir, 'pg_ctl'), ['-D', dataDir, 'stop', '-m', 'fast'], true);
  run(path.join(binDir, 'pg_ctl'), [
    '-D',
    dataDir,
    '-l',
    logFile,
    '-w',
    '-t',
    '60',
    '-o',
    `-p ${port} -k ${socketDir} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=${options.fsync === false ? 'off' : 'on'}`,
    'start',
  ]);
  await waitForPort(port, 30_000);
  return {
    port,
    superuser,
    password,
    binDir,
    url: (database) =>
      `postgres://${encodeURIComponent(superuser)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`,
    stop: () => run(path.join(binDir, 'pg_ctl'), ['-D', dataDir, 'stop', '-m', 'fast'], true),
  };
}
