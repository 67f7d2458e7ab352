// What API callers may point Lifeboat at: the environment variables that hold their secrets, the
// directories that hold their documents, the databases a restore may overwrite. Pure; config/env.ts builds it.

/** Which environment variables a target, a storage URL or a notification channel may name. */
export interface EnvNamePolicy {
  /** Every name starts with it, e.g. `LIFEBOAT_TARGET_`. */
  prefix: string;
  /** Lifeboat's own settings: never readable this way, whatever the prefix. */
  reserved: readonly string[];
}

/** Where a target's `documentsDir` may be. Paths are absolute and real (symbolic links resolved). */
export interface DocumentsPolicy {
  /** `documentsDir` lies at or under one of these; none: no target may have documents. */
  roots: readonly string[];
  /** Lifeboat's own directories (storage, work, uploads, keys): refused, and so is any directory holding one. */
  own: readonly string[];
}

export interface DatabaseAddress {
  host: string;
  port: number;
  database: string;
}

export interface AccessPolicy {
  targetEnv: EnvNamePolicy;
  storageEnv: EnvNamePolicy;
  /** The secrets of notification channels (SMTP passwords, webhook keys, chat URLs). */
  notifyEnv: EnvNamePolicy;
  documents: DocumentsPolicy;
  /** The catalog database: no restore writes over it. Null when the process does not know it. */
  catalog: DatabaseAddress | null;
}

const envNamePattern = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Why a target or storage URL may not name the variable `name`; undefined when it may. */
export function envNameProblem(name: string, policy: EnvNamePolicy): string | undefined {
  if (!envNamePattern.test(name)) return `"${name}" is not an environment variable name`;
  if (policy.reserved.includes(name)) return `${name} is one of Lifeboat's own settings, never a credential`;
  if (!name.startsWith(policy.prefix) || name === policy.prefix) {
    return `${name} does not start with ${policy.prefix}; only variables with that prefix may hold credentials`;
  }
  return undefined;
}

/** True when `dir` is `parent` or lies below it; both absolute and normalised. */
export function isWithin(dir: string, parent: string): boolean {
  if (parent === '/') return dir.startsWith('/');
  return dir === parent || dir.startsWith(`${parent}/`);
}

/** Why `realDir` (absolute, links resolved) may not be a documents directory; undefined when it may. */
export function documentsDirProblem(realDir: string, policy: DocumentsPolicy): string | undefined {
  const own = policy.own.find((dir) => isWithin(realDir, dir) || isWithin(dir, realDir));
  if (own !== undefined) {
    return `${realDir} is or holds Lifeboat's own directory ${own}`;
  }
  if (!policy.roots.length) {
    return 'no documents directory is allowed on this installation (set LIFEBOAT_DOCUMENTS_ROOTS)';
  }
  if (!policy.roots.some((root) => isWithin(realDir, root))) {
    return `${realDir} is outside the allowed documents roots (${policy.roots.join(', ')})`;
  }
  return undefined;
}

/** Databases every PostgreSQL server needs as they are: a restore never replaces them. */
export const systemDatabases: readonly string[] = ['postgres', 'template0', 'template1'];

const loopback = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

function sameHost(a: string, b: string): boolean {
  const normal = (host: string) => (loopback.has(host.toLowerCase()) ? 'localhost' : host.toLowerCase());
  return normal(a) === normal(b);
}

/** Why a restore may not write into `destination`; undefined when it may. */
export function restoreDestinationProblem(
  destination: DatabaseAddress,
  catalog: DatabaseAddress | null,
): string | undefined {
  if (systemDatabases.includes(destination.database)) {
    return `"${destination.database}" is a system database; restore into another database`;
  }
  if (
    catalog &&
    destination.database === catalog.database &&
    destination.port === catalog.port &&
    sameHost(destination.host, catalog.host)
  ) {
    return `"${destination.database}" is Lifeboat's own catalog database`;
  }
  return undefined;
}

/**
 * The most closed policy: credentials only from LIFEBOAT_TARGET_*, LIFEBOAT_STORAGE_* and LIFEBOAT_NOTIFY_*
 * variables, no documents directories. For processes that run services without the environment's settings
 * (bench/).
 */
export function closedAccessPolicy(catalog: DatabaseAddress | null = null): AccessPolicy {
  const reserved = ['LIFEBOAT_SECRET_KEY', 'LIFEBOAT_DATABASE_URL', 'LIFEBOAT_STORAGE_URL', 'LIFEBOAT_TOKEN'];
  return {
    targetEnv: { prefix: 'LIFEBOAT_TARGET_', reserved },
    storageEnv: { prefix: 'LIFEBOAT_STORAGE_', reserved },
    notifyEnv: { prefix: 'LIFEBOAT_NOTIFY_', reserved },
    documents: { roots: [], own: [] },
    catalog,
  };
}
