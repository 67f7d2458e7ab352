// Storage by URL scheme (file://, s3://, sftp://), and one open Storage per URL shared by a process.
import type { Readable } from 'node:stream';
import { LifeboatError } from '../domain/errors.ts';
import { createLocalStorage } from './local/backend.ts';
import { parseLocalUrl } from './local/url.ts';
import { parseS3Url } from './s3/url.ts';
import { parseSftpUrl } from './sftp/url.ts';
import type { Storage } from './storage.ts';

export type { Storage, StoredObject } from './storage.ts';

type ReadEnv = (name: string) => string | undefined;

/**
 * A remote backend whose module (and SDK) loads on first use: a worker that never writes to S3 or SFTP
 * does not carry their clients in memory.
 */
function loadedOnFirstUse(url: string, load: () => Promise<Storage>): Storage {
  let loading: Promise<Storage> | undefined;
  const backend = () => (loading ??= load());
  return {
    url,
    put: async (key: string, body: Readable) => (await backend()).put(key, body),
    get: async (key: string) => (await backend()).get(key),
    stat: async (key: string) => (await backend()).stat(key),
    delete: async (key: string) => (await backend()).delete(key),
    list: async (prefix: string) => (await backend()).list(prefix),
    async close() {
      if (loading) await (await loading).close?.();
    },
  };
}

/**
 * The backend for `url`, its URL checked at once (VALIDATION_FAILED). Credentials never appear in URLs:
 * remote backends read them from the environment variables the URL names, through `readEnv`.
 */
export function openStorage(url: string, readEnv: ReadEnv = () => undefined): Storage {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new LifeboatError(
      'VALIDATION_FAILED',
      `Storage URL "${url}" is not a URL (e.g. file:///var/lib/lifeboat).`,
    );
  }
  switch (parsed.protocol) {
    case 'file:':
      return createLocalStorage(parseLocalUrl(parsed).root);
    case 's3:':
      parseS3Url(parsed, readEnv);
      return loadedOnFirstUse(url, async () =>
        (await import('./s3/backend.ts')).createS3Storage(parsed, readEnv),
      );
    case 'sftp:':
      parseSftpUrl(parsed, readEnv);
      return loadedOnFirstUse(url, async () =>
        (await import('./sftp/backend.ts')).createSftpStorage(parsed, readEnv),
      );
    default:
      throw new LifeboatError(
        'VALIDATION_FAILED',
        `Storage scheme "${parsed.protocol}" is not supported; use file://, s3:// or sftp://.`,
      );
  }
}

export interface StorageRegistry {
  /** The storage used when a target names no destinations. */
  readonly defaultUrl: string;
  /** The storage a URL names, opened once; VALIDATION_FAILED when the URL is unusable. */
  open(url: string): Storage;
  closeAll(): Promise<void>;
}

export function createStorageRegistry(defaultUrl: string, readEnv: ReadEnv): StorageRegistry {
  const opened = new Map<string, Storage>();
  return {
    defaultUrl,
    open(url) {
      let storage = opened.get(url);
      if (!storage) {
        storage = openStorage(url, readEnv);
        opened.set(url, storage);
      }
      return storage;
    },
    async closeAll() {
      const all = [...opened.values()];
      opened.clear();
      await Promise.allSettled(all.map((storage) => storage.close?.() ?? Promise.resolve()));
    },
  };
}
