// SFTP storage: objects are files under a root directory on an SSH server, written to a temporary
// name, synced and renamed over the key with posix-rename@openssh.com; one connection, reused.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FileEntryWithStats, SFTPWrapper, Stats } from 'ssh2';
import { LifeboatError } from '../../domain/errors.ts';
import { invalid, parseSftpUrl } from './url.ts';
import { isValidKey, type Storage, type StoredObject } from '../storage.ts';
import { call, openSession, sftpNoSuchFile, toStorageError, type Session } from './session.ts';
import { HandleReader, HandleWriter } from './streams.ts';

const temporaryName = /^\..+\.[0-9a-f-]{36}\.part$/;

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
