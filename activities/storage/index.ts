// Opens the storage a URL names: file:// for a local directory, s3:// and sftp:// for remote ones.
import path from 'node:path';
import { LifeboatError } from '../../domain/errors.ts';
import { createLocalStorage } from './local.ts';
import { createS3Storage } from './s3.ts';
import { createSftpStorage } from './sftp.ts';
import type { Storage } from './storage.ts';

export type { Storage, StoredObject } from './storage.ts';

/**
 * The backend for `url`. Credentials never appear in URLs: remote backends read them from the environment
 * variables the URL names, through `readEnv`.
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
  if (parsed.protocol === 's3:') return createS3Storage(parsed, readEnv);
  if (parsed.protocol === 'sftp:') return createSftpStorage(parsed, readEnv);
  throw new LifeboatError(
    'VALIDATION_FAILED',
    `Storage scheme "${parsed.protocol}" is not supported; use file://, s3:// or sftp://.`,
  );
}
