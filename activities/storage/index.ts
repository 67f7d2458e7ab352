// Opens the storage a URL names: file:// for a local directory (S3 and SFTP come with their backends).
import path from 'node:path';
import { LifeboatError } from '../../domain/errors.ts';
import { createLocalStorage } from './local.ts';
import type { Storage } from './storage.ts';

export type { Storage, StoredObject } from './storage.ts';

export function openStorage(url: string): Storage {
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
  throw new LifeboatError(
    'VALIDATION_FAILED',
    `Storage scheme "${parsed.protocol}" is not supported; use file://.`,
  );
}
