// Local-directory storage: objects are files under a root, written to a temporary name and renamed.
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, link, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { LifeboatError } from '../../domain/errors.ts';
import { isValidKey, type Storage, type StoredObject } from '../storage.ts';

const partialMarker = '.partial-';

function storageError(error: unknown, action: string): never {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    throw new LifeboatError(
      'INSUFFICIENT_SPACE',
      `No space left on the backup storage while trying to ${action}.`,
    );
  }
  if (error instanceof LifeboatError) throw error;
  throw new LifeboatError(
    'STORAGE_UNAVAILABLE',
    `Local storage could not ${action}: ${(error as Error).message}`,
  );
}

export function createLocalStorage(root: string): Storage {
  const resolve = (key: string): string => {
    if (!isValidKey(key)) throw new LifeboatError('VALIDATION_FAILED', `Invalid storage key "${key}".`);
    return path.join(root, ...key.split('/'));
  };

  /**
   * Fills a temporary file beside the object's place with `fill`, makes it private, syncs it to disk and
   * renames it into place: readers see the old object or the new one, never a partial one.
   */
  const writeAtomically = async (
    key: string,
    fill: (temporary: string) => Promise<void>,
  ): Promise<StoredObject> => {
    const file = resolve(key);
    const temporary = path.join(path.dirname(file), `.${path.basename(file)}${partialMarker}${randomUUID()}`);
    try {
      await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
      await fill(temporary);
      const handle = await open(temporary, 'r');
      try {
        await handle.chmod(0o600);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temporary, file);
      return { key, sizeBytes: (await stat(file)).size };
    } catch (error) {
      await rm(temporary, { force: true });
      return storageError(error, `write ${key}`);
    }
  };

  return {
    url: `file://${root}`,

    async put(key, body) {
      return writeAtomically(key, (temporary) =>
        pipeline(body, createWriteStream(temporary, { mode: 0o600 })),
      );
    },

    async putFile(key, source) {
      return writeAtomically(key, async (temporary) => {
        // A hard link stores the file without copying a byte when scratch and storage share a disk.
        await link(source, temporary).catch(async (error: NodeJS.ErrnoException) => {
          if (error.code !== 'EXDEV' && error.code !== 'EPERM') throw error;
          await copyFile(source, temporary);
        });
      });
    },

    async get(key) {
      const file = resolve(key);
      try {
        await stat(file);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
          throw new LifeboatError('NOT_FOUND', `No object ${key} in ${this.url}.`);
        }
        return storageError(error, `read ${key}`);
      }
      return createReadStream(file, { highWaterMark: 1024 * 1024 });
    },

    async stat(key): Promise<StoredObject | undefined> {
      try {
        return { key, sizeBytes: (await stat(resolve(key))).size };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        return storageError(error, `inspect ${key}`);
      }
    },

    async delete(key) {
      try {
        await rm(resolve(key), { force: true });
      } catch (error) {
        storageError(error, `delete ${key}`);
      }
    },

    async list(prefix) {
      const keys: string[] = [];
      const walk = async (dir: string, relative: string): Promise<void> => {
        let entries;
        try {
          entries = await readdir(dir, { withFileTypes: true });
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
          throw error;
        }
        for (const entry of entries) {
          const key = relative ? `${relative}/${entry.name}` : entry.name;
          if (entry.isDirectory()) await walk(path.join(dir, entry.name), key);
          else if (entry.isFile() && !entry.name.includes(partialMarker) && key.startsWith(prefix))
            keys.push(key);
        }
      };
      try {
        await walk(root, '');
      } catch (error) {
        storageError(error, `list ${prefix}`);
      }
      return keys.sort();
    },
  };
}
