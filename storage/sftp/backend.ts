// SFTP storage: objects are files under a root directory on an SSH server, written to a temporary
// name, synced and renamed over the key with posix-rename@openssh.com; one connection, reused.
import { createHash, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Client, type FileEntryWithStats, type SFTPWrapper, type Stats } from 'ssh2';
import { LifeboatError } from '../../domain/errors.ts';
import { invalid, parseSftpUrl, type SftpConfig } from './url.ts';
import { isValidKey, type Storage, type StoredObject } from '../storage.ts';

export { parseSftpUrl, type SftpConfig } from './url.ts';

const readyTimeoutMs = 10_000;
// A connection that stops answering is declared dead after about keepaliveIntervalMs * 3.
const keepaliveIntervalMs = 10_000;
const maxWritesInFlight = 8;
const maxReadsInFlight = 8;
const readChunkBytes = 256 * 1024;
const temporaryName = /^\..+\.[0-9a-f-]{36}\.part$/;

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
const sftpNoSuchFile = 2;

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
function call<T = void>(
  start: (done: (error: Error | null | undefined, value: T) => void) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    start((error, value) => (error ? reject(error) : resolve(value)));
  });
}

interface Session {
  client: Client;
  sftp: SFTPWrapper;
  closed: Promise<void>;
}

async function openSession(config: SftpConfig, server: string, onGone: () => void): Promise<Session> {
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

/**
 * Writes a stream to an open SFTP handle with several requests in flight, which a connection with any
 * latency needs for throughput; memory holds at most `maxWritesInFlight` chunks. The caller closes the
 * handle, so it can fsync first.
 */
class HandleWriter extends Writable {
  bytesWritten = 0;
  readonly #sftp: SFTPWrapper;
  readonly #handle: Buffer;
  #offset = 0;
  #inFlight = 0;
  #error: Error | undefined;
  #onSettled: (() => void) | undefined;

  constructor(sftp: SFTPWrapper, handle: Buffer) {
    super({ highWaterMark: 1024 * 1024 });
    this.#sftp = sftp;
    this.#handle = handle;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#error) return callback(this.#error);
    this.#inFlight += 1;
    this.#sftp.write(this.#handle, chunk, 0, chunk.length, this.#offset, (error) => {
      this.#inFlight -= 1;
      if (error) this.#error ??= error;
      else this.bytesWritten += chunk.length;
      const settled = this.#onSettled;
      this.#onSettled = undefined;
      settled?.();
    });
    this.#offset += chunk.length;
    if (this.#inFlight < maxWritesInFlight) callback();
    else this.#onSettled = () => callback(this.#error);
  }

  override _final(callback: (error?: Error | null) => void): void {
    const whenDrained = (): void => {
      if (this.#inFlight === 0) callback(this.#error);
      else this.#onSettled = whenDrained;
    };
    whenDrained();
  }
}

/**
 * Reads an open SFTP handle with several requests in flight (ssh2's own read stream keeps one, which
 * any latency turns into a trickle); memory holds at most `maxReadsInFlight` chunks. Closes the handle
 * when it ends or is destroyed, and fails with `toError(error)`.
 */
class HandleReader extends Readable {
  readonly #sftp: SFTPWrapper;
  readonly #handle: Buffer;
  readonly #sizeBytes: number;
  readonly #toError: (error: unknown) => Error;
  readonly #reads: Promise<Buffer>[] = [];
  #nextOffset = 0;

  constructor(sftp: SFTPWrapper, handle: Buffer, sizeBytes: number, toError: (error: unknown) => Error) {
    super({ highWaterMark: readChunkBytes });
    this.#sftp = sftp;
    this.#handle = handle;
    this.#sizeBytes = sizeBytes;
    this.#toError = toError;
  }

  #readAt(offset: number, length: number): Promise<Buffer> {
    const buffer = Buffer.allocUnsafe(length);
    const fill = async (filled: number): Promise<Buffer> => {
      if (filled === length) return buffer;
      const bytesRead = await call<number>((done) =>
        this.#sftp.read(this.#handle, buffer, filled, length - filled, offset + filled, done),
      );
      if (bytesRead === 0) {
        throw new Error(`the object ended at byte ${offset + filled} of ${this.#sizeBytes}`);
      }
      return fill(filled + bytesRead);
    };
    const reading = fill(0);
    // A read still in flight when the stream is destroyed has nobody left to tell.
    reading.catch(() => undefined);
    return reading;
  }

  override _read(): void {
    while (this.#reads.length < maxReadsInFlight && this.#nextOffset < this.#sizeBytes) {
      const length = Math.min(readChunkBytes, this.#sizeBytes - this.#nextOffset);
      this.#reads.push(this.#readAt(this.#nextOffset, length));
      this.#nextOffset += length;
    }
    const next = this.#reads.shift();
    if (!next) {
      this.push(null);
      return;
    }
    next.then(
      (chunk) => this.push(chunk),
      (error: unknown) => this.destroy(this.#toError(error)),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Closing a handle only for reading cannot lose data; its failure (a dropped connection) is moot.
    try {
      this.#sftp.close(this.#handle, () => callback(error));
    } catch {
      callback(error);
    }
  }
}

/** Storage on an SFTP server named by an `sftp://` URL; secrets come from `readEnv`. */
export function createSftpStorage(url: URL, readEnv: (name: string) => string | undefined): Storage {
  const config = parseSftpUrl(url, readEnv);
  const server = `sftp://${config.username}@${config.host}:${config.port}${config.rootDir}`;
  let session: Promise<Session> | undefined;

  const connect = (): Promise<Session> => {
    if (session) return session;
    const opening = openSession(config, server, () => {
      if (session === opening) session = undefined;
    });
    session = opening;
    opening.catch(() => {
      if (session === opening) session = undefined;
    });
    return opening;
  };

  const resolve = (key: string): string => {
    if (!isValidKey(key)) throw invalid(`Invalid storage key "${key}".`);
    return path.posix.join(config.rootDir, key);
  };

  const statFile = async (sftp: SFTPWrapper, file: string): Promise<Stats | undefined> => {
    try {
      const stats = await call<Stats>((done) => sftp.stat(file, done));
      return stats.isFile() ? stats : undefined;
    } catch (error) {
      if ((error as { code?: unknown }).code === sftpNoSuchFile) return undefined;
      throw error;
    }
  };

  const makeDirectories = async (sftp: SFTPWrapper, dir: string): Promise<void> => {
    const existing = await call<Stats>((done) => sftp.stat(dir, done)).catch(() => undefined);
    if (existing?.isDirectory()) return;
    if (existing) throw new Error(`${dir} exists and is not a directory`);
    await makeDirectories(sftp, path.posix.dirname(dir));
    try {
      await call((done) => sftp.mkdir(dir, { mode: 0o700 }, done));
    } catch (error) {
      // Another writer may have created it meanwhile.
      const now = await call<Stats>((done) => sftp.stat(dir, done)).catch(() => undefined);
      if (!now?.isDirectory()) throw error;
    }
  };

  return {
    url: url.href,

    async put(key, body): Promise<StoredObject> {
      let sftp: SFTPWrapper | undefined;
      let temporary: string | undefined;
      let handle: Buffer | undefined;
      try {
        const file = resolve(key);
        ({ sftp } = await connect());
        const dir = path.posix.dirname(file);
        await makeDirectories(sftp, dir);
        const part = path.posix.join(dir, `.${path.posix.basename(file)}.${randomUUID()}.part`);
        handle = await call<Buffer>((done) => sftp!.open(part, 'w', { mode: 0o600 }, done));
        temporary = part;
        const writer = new HandleWriter(sftp, handle);
        await pipeline(body, writer);
        await call((done) => sftp!.ext_openssh_fsync(handle!, done)).catch((error: Error) => {
          // Durability when the server can give it; servers other than OpenSSH may lack the extension.
          if (!error.message.includes('does not support')) throw error;
        });
        const closing = handle;
        handle = undefined;
        await call((done) => sftp!.close(closing, done));
        await call((done) => sftp!.ext_openssh_rename(part, file, done));
        temporary = undefined;
        return { key, sizeBytes: writer.bytesWritten };
      } catch (error) {
        body.destroy();
        if (sftp && handle) await call((done) => sftp!.close(handle!, done)).catch(() => undefined);
        if (sftp && temporary) await call((done) => sftp!.unlink(temporary!, done)).catch(() => undefined);
        throw toStorageError(error, server, `write ${key}`);
      }
    },

    async get(key): Promise<Readable> {
      const file = resolve(key);
      const notFound = () => new LifeboatError('NOT_FOUND', `No object ${key} in ${server}.`);
      let sftp: SFTPWrapper | undefined;
      let handle: Buffer | undefined;
      try {
        ({ sftp } = await connect());
        handle = await call<Buffer>((done) => sftp!.open(file, 'r', done));
        const stats = await call<Stats>((done) => sftp!.fstat(handle!, done));
        if (!stats.isFile()) throw notFound();
        return new HandleReader(sftp, handle, stats.size, (error) =>
          toStorageError(error, server, `read ${key}`),
        );
      } catch (error) {
        if (sftp && handle) await call((done) => sftp!.close(handle!, done)).catch(() => undefined);
        throw (error as { code?: unknown }).code === sftpNoSuchFile
          ? notFound()
          : toStorageError(error, server, `read ${key}`);
      }
    },

    async stat(key): Promise<StoredObject | undefined> {
      const file = resolve(key);
      try {
        const { sftp } = await connect();
        const stats = await statFile(sftp, file);
        return stats && { key, sizeBytes: stats.size };
      } catch (error) {
        throw toStorageError(error, server, `inspect ${key}`);
      }
    },

    async delete(key): Promise<void> {
      const file = resolve(key);
      try {
        const { sftp } = await connect();
        await call((done) => sftp.unlink(file, done));
      } catch (error) {
        if ((error as { code?: unknown }).code === sftpNoSuchFile) return;
        throw toStorageError(error, server, `delete ${key}`);
      }
    },

    async list(prefix): Promise<string[]> {
      // Only the directory the prefix ends in can hold matching keys.
      const start = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
      const keys: string[] = [];
      const walk = async (sftp: SFTPWrapper, relative: string): Promise<void> => {
        let entries;
        try {
          entries = await call<FileEntryWithStats[]>((done) =>
            sftp.readdir(path.posix.join(config.rootDir, relative), done),
          );
        } catch (error) {
          if ((error as { code?: unknown }).code === sftpNoSuchFile) return;
          throw error;
        }
        await Promise.all(
          entries.map(async ({ filename, attrs }) => {
            if (filename === '.' || filename === '..') return;
            const key = relative ? `${relative}/${filename}` : filename;
            // A directory whose keys cannot start with the prefix is not read at all.
            if (attrs.isDirectory() && `${key}/`.startsWith(prefix)) await walk(sftp, key);
            else if (attrs.isFile() && !temporaryName.test(filename) && key.startsWith(prefix))
              keys.push(key);
          }),
        );
      };
      try {
        if (start && !isValidKey(start)) return [];
        const { sftp } = await connect();
        await walk(sftp, start);
      } catch (error) {
        throw toStorageError(error, server, `list ${prefix}`);
      }
      return keys.sort();
    },

    async close(): Promise<void> {
      const open = session;
      session = undefined;
      const current = await open?.catch(() => undefined);
      if (!current) return;
      current.client.end();
      await current.closed;
    },
  };
}
