// Which pg_dump may dump which server: a client's major version must be at least the server's.
import { LifeboatError } from './errors.ts';

export interface PgClient {
  binDir: string;
  major: number;
  version: string;
}

/** Reads the version from `pg_dump --version` output, e.g. `pg_dump (PostgreSQL) 15.18 (Debian ...)`. */
export function parseClientVersion(output: string): { major: number; version: string } | undefined {
  const match = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(output);
  if (!match?.[1]) return undefined;
  return { major: Number(match[1]), version: match[2] ? `${match[1]}.${match[2]}` : match[1] };
}

/** `server_version_num` 150018 → 15; 90624 → 9 (old servers count 9.6 as major 9). */
export function serverMajor(serverVersionNum: number): number {
  return Math.floor(serverVersionNum / 10000);
}

/**
 * The client to dump a server with: the same major when installed (its output is what that server's
 * own tools expect), otherwise the newest newer one.
 */
export function chooseClient(clients: readonly PgClient[], serverVersionNum: number): PgClient {
  const major = serverMajor(serverVersionNum);
  const usable = clients.filter((client) => client.major >= major).sort((a, b) => a.major - b.major);
  const exact = usable.find((client) => client.major === major);
  const chosen = exact ?? usable.at(-1);
  if (chosen) return chosen;
  const found = clients.length
    ? `found only ${clients.map((c) => `pg_dump ${c.version} (${c.binDir})`).join(', ')}`
    : 'found no pg_dump at all';
  throw new LifeboatError(
    'PG_VERSION_MISMATCH',
    `The server runs PostgreSQL ${major}, and pg_dump must be version ${major} or newer; ${found}. ` +
      `Install the PostgreSQL ${major} client (for example Debian's postgresql-client-${major}) and add its bin ` +
      `directory to LIFEBOAT_PG_BIN_DIRS.`,
    { serverMajor: major, clients: clients.map((c) => ({ binDir: c.binDir, version: c.version })) },
  );
}
