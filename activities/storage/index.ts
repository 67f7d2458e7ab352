// Opens the storage a URL names: file:// for a local directory, s3:// and sftp:// for remote ones.
import path from 'node:path';
import type { Readable } from 'node:stream';
import { LifeboatError } from '../../domain/errors.ts';
import { createLocalStorage } from './local.ts';
import { parseS3Url } from './s3-url.ts';
import { parseSftpUrl } from './sftp-url.ts';
import type { Storage } from './storage.ts';

export type { Storage, StoredObject } from './storage.ts';

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
export function openStorage(
  url: string,
  readEnv: (name: string) => string | undefined = () => undefined,
): Storage {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new LifeboatError(
      'VALIDATION_FAILED',
      `Storage URL "${url}" is not a URL (e.g. file:///var/lib/lifeboat).`,
    );
  }
  if (parsed.protocol === 'file:')
    return createLocalStorage(path.resolve(decodeURIComponent(parsed.pathname)));
  if (parsed.protocol === 's3:') {
    parseS3Url(parsed, readEnv);
    return loadedOnFirstUse(url, async () => (await import('./s3.ts')).createS3Storage(parsed, readEnv));
  }
  if (parsed.protocol === 'sftp:') {
    parseSftpUrl(parsed, readEnv);
    return loadedOnFirstUse(url, async () => (await import('./sftp.ts')).createSftpStorage(parsed, readEnv));
  }
  throw new LifeboatError(
    'VALIDATION_FAILED',
    `Storage scheme "${parsed.protocol}" is not supported; use file://, s3:// or sftp://.`,
  );
}
