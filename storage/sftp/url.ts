// sftp:// storage URLs: user, host, root directory, the host key to expect and where the credentials are.
// Pure apart from reading the variables it names; kept apart from the backend so that checking a URL does
// not load ssh2.
import path from 'node:path';
import { LifeboatError } from '../../domain/errors.ts';

/** Where and as whom to connect; `password` and `privateKeyPassphrase` are secrets, never logged. */
export interface SftpConfig {
  host: string;
  port: number;
  username: string;
  rootDir: string;
  /** `SHA256:<base64 without padding>`, as `ssh-keygen -lf` prints it. */
  hostKeyFingerprint: string;
  privateKeyFile?: string;
  privateKeyPassphrase?: string;
  password?: string;
}

const queryParameters = ['hostKey', 'privateKeyFile', 'privateKeyPassphraseEnv', 'passwordEnv'] as const;
type QueryParameter = (typeof queryParameters)[number];

export function invalid(message: string): LifeboatError {
  return new LifeboatError('VALIDATION_FAILED', message);
}

/**
 * Reads the query by RFC 3986 rules rather than as a form: a `+` in a fingerprint or a path stays a
 * `+` (URLSearchParams would turn it into a space).
 */
function readQuery(url: URL): Map<QueryParameter, string> {
  const values = new Map<QueryParameter, string>();
  for (const pair of url.search.slice(1).split('&')) {
    if (!pair) continue;
    const separator = pair.indexOf('=');
    const name = decodeURIComponent(separator === -1 ? pair : pair.slice(0, separator));
    const value = separator === -1 ? '' : decodeURIComponent(pair.slice(separator + 1));
    if (!(queryParameters as readonly string[]).includes(name)) {
      throw invalid(
        `SFTP storage URL parameter "${name}" is unknown; the parameters are ${queryParameters.join(', ')}.`,
      );
    }
    if (values.has(name as QueryParameter)) throw invalid(`SFTP storage URL repeats "${name}".`);
    values.set(name as QueryParameter, value);
  }
  return values;
}

function secretFromEnv(
  readEnv: (name: string) => string | undefined,
  variable: string,
  parameter: QueryParameter,
): string {
  if (!variable) throw invalid(`SFTP storage URL parameter ${parameter} must name an environment variable.`);
  const value = readEnv(variable);
  if (!value) {
    throw invalid(
      `Environment variable ${variable} (named by the SFTP storage URL's ${parameter}) is not set.`,
    );
  }
  return value;
}

/** The connection settings an `sftp://` URL names, with secrets read from the environment. */
export function parseSftpUrl(url: URL, readEnv: (name: string) => string | undefined): SftpConfig {
  if (url.protocol !== 'sftp:') throw invalid(`Not an SFTP storage URL: scheme "${url.protocol}".`);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw invalid('SFTP storage URL has no host, e.g. sftp://backup@files.example.com/srv/backups.');
  const username = decodeURIComponent(url.username);
  if (url.password) {
    throw invalid(
      `SFTP storage URL for ${host} carries a password; put it in an environment variable and name ` +
        'that variable with ?passwordEnv=.',
    );
  }
  if (!username)
    throw invalid(`SFTP storage URL for ${host} has no user, e.g. sftp://backup@${host}/srv/backups.`);
  const rootDir = decodeURIComponent(url.pathname);
  if (!rootDir.startsWith('/')) {
    throw invalid(`SFTP storage URL for ${host} must name an absolute root directory, e.g. /srv/backups.`);
  }
  const query = readQuery(url);

  const hostKey = query.get('hostKey');
  if (!hostKey) {
    throw invalid(
      `SFTP storage URL for ${host} needs hostKey=SHA256:..., the server's host key fingerprint ` +
        '(ssh-keygen -lf on its host key, or ssh-keyscan piped into ssh-keygen -lf -).',
    );
  }
  if (!/^SHA256:[A-Za-z0-9+/]{43}=?$/.test(hostKey)) {
    throw invalid(`SFTP storage URL hostKey "${hostKey}" is not a SHA256:<base64> fingerprint.`);
  }

  const config: SftpConfig = {
    host,
    port: url.port ? Number(url.port) : 22,
    username,
    rootDir: path.posix.normalize(rootDir).replace(/(.)\/$/, '$1'),
    hostKeyFingerprint: hostKey.replace(/=$/, ''),
  };
  const privateKeyFile = query.get('privateKeyFile');
  if (privateKeyFile !== undefined) {
    if (!path.isAbsolute(privateKeyFile)) {
      throw invalid(`SFTP storage URL privateKeyFile "${privateKeyFile}" must be an absolute path.`);
    }
    config.privateKeyFile = privateKeyFile;
  }
  const passphraseEnv = query.get('privateKeyPassphraseEnv');
  if (passphraseEnv !== undefined) {
    if (privateKeyFile === undefined) {
      throw invalid('SFTP storage URL names privateKeyPassphraseEnv but no privateKeyFile.');
    }
    config.privateKeyPassphrase = secretFromEnv(readEnv, passphraseEnv, 'privateKeyPassphraseEnv');
  }
  const passwordEnv = query.get('passwordEnv');
  if (passwordEnv !== undefined) config.password = secretFromEnv(readEnv, passwordEnv, 'passwordEnv');
  if (config.privateKeyFile === undefined && config.password === undefined) {
    throw invalid(
      `SFTP storage URL for ${host} needs privateKeyFile=/path/to/key or passwordEnv=<VARIABLE>.`,
    );
  }
  return config;
}
