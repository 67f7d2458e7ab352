// One SSH connection to an SFTP server, its host key checked, and what ssh2's failures mean.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Client, type SFTPWrapper } from 'ssh2';
import { LifeboatError } from '../../domain/errors.ts';
import { invalid, type SftpConfig } from './url.ts';

const readyTimeoutMs = 10_000;
// A connection that stops answering is declared dead after about keepaliveIntervalMs * 3.
const keepaliveIntervalMs = 10_000;

/** The fingerprint of a raw SSH public key, in the format ssh-keygen prints. */
function hostKeyFingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

const networkCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
export const sftpNoSuchFile = 2;

/**
 * What a failure from ssh2 means to the caller: refused credentials or host key are permanent, a lost
 * or refused connection is worth retrying, a missing file is NOT_FOUND. `server` and `action` name the
 * place and the operation; ssh2's messages carry no secrets.
 */
export function toStorageError(error: unknown, server: string, action: string): LifeboatError {
  if (error instanceof LifeboatError) return error;
  const { message, code, level } = error as Error & { code?: unknown; level?: unknown };
  if (level === 'client-authentication' || message === 'All configured authentication methods failed') {
    return new LifeboatError(
      'AUTH_FAILED',
      `SFTP server ${server} refused the configured credentials (private key or password) while trying to ${action}.`,
    );
  }
  if (message.startsWith('Host denied')) {
    return new LifeboatError(
      'AUTH_FAILED',
      `SFTP server ${server} presented a host key that does not match the configured fingerprint.`,
    );
  }
  if (message.startsWith('Cannot parse privateKey')) {
    return new LifeboatError('AUTH_FAILED', `SFTP private key for ${server} cannot be used: ${message}.`);
  }
  if (code === sftpNoSuchFile) {
    return new LifeboatError('NOT_FOUND', `SFTP storage ${server} could not ${action}: no such file.`);
  }
  const unreachable =
    (typeof code === 'string' && networkCodes.has(code)) ||
    level === 'client-socket' ||
    level === 'client-timeout' ||
    level === 'client-dns';
  return new LifeboatError(
    'STORAGE_UNAVAILABLE',
    unreachable
      ? `SFTP server ${server} is unreachable while trying to ${action}: ${message}.`
      : `SFTP storage ${server} could not ${action}: ${message}.`,
  );
}

/** Calls an ssh2 callback API as a promise; a synchronous throw (e.g. "Not connected") rejects it. */
export function call<T = void>(
  start: (done: (error: Error | null | undefined, value: T) => void) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    start((error, value) => (error ? reject(error) : resolve(value)));
  });
}

export interface Session {
  client: Client;
  sftp: SFTPWrapper;
  closed: Promise<void>;
}

export async function openSession(config: SftpConfig, server: string, onGone: () => void): Promise<Session> {
  let privateKey: Buffer | undefined;
  if (config.privateKeyFile !== undefined) {
    try {
      privateKey = await readFile(config.privateKeyFile);
    } catch (error) {
      throw invalid(
        `SFTP private key file ${config.privateKeyFile} cannot be read: ${(error as NodeJS.ErrnoException).code}.`,
      );
    }
  }
  return new Promise<Session>((resolve, reject) => {
    const client = new Client();
    const closed = new Promise<void>((done) => client.once('close', () => done()));
    let presentedFingerprint: string | undefined;
    let ready = false;
    client.on('error', (error) => {
      if (ready) return; // the requests in flight fail on their own and 'close' follows
      if (presentedFingerprint !== undefined) {
        reject(
          new LifeboatError(
            'AUTH_FAILED',
            `SFTP server ${server} presented host key ${presentedFingerprint}, which does not match the ` +
              `configured fingerprint ${config.hostKeyFingerprint}: the server was reinstalled or its key ` +
              'changed, or someone is intercepting the connection (a possible man-in-the-middle). No ' +
              'credentials were sent.',
          ),
        );
      } else reject(toStorageError(error, server, 'connect'));
    });
    client.on('close', () => {
      onGone();
      reject(new LifeboatError('STORAGE_UNAVAILABLE', `SFTP server ${server} closed the connection.`));
    });
    client.on('ready', () => {
      client.sftp((error, sftp) => {
        if (error) {
          reject(toStorageError(error, server, 'start the SFTP subsystem'));
          client.end();
          return;
        }
        ready = true;
        sftp.on('close', () => client.end());
        resolve({ client, sftp, closed });
      });
    });
    try {
      client.connect({
        host: config.host,
        port: config.port,
        username: config.username,
        ...(privateKey && { privateKey }),
        ...(config.privateKeyPassphrase !== undefined && { passphrase: config.privateKeyPassphrase }),
        ...(config.password !== undefined && { password: config.password }),
        readyTimeout: readyTimeoutMs,
        keepaliveInterval: keepaliveIntervalMs,
        hostVerifier: (key: Buffer) => {
          const fingerprint = hostKeyFingerprint(key);
          if (fingerprint === config.hostKeyFingerprint) return true;
          presentedFingerprint = fingerprint;
          return false;
        },
      });
      // Without it, Nagle's algorithm and delayed ACKs stall every small request/reply pair (~40 ms).
      client.setNoDelay(true);
    } catch (error) {
      reject(toStorageError(error, server, 'connect'));
      client.end();
    }
  });
}
