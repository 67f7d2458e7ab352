// The PostgreSQL client binaries on this worker, and which version serves a server or a dump.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { chooseClient, parseClientVersion, serverMajor, type PgClient } from '../domain/pg-version.ts';

const execFileAsync = promisify(execFile);

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
