// The one interface every backup destination implements; each method states its contract.
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';

export interface StoredObject {
  key: string;
  sizeBytes: number;
}

/**
 * A storage that keeps objects under retention (an S3 destination whose URL names objectLockMode and
 * objectLockDays) holds versions of a key: its object is its newest version that is not a delete marker,
 * and a marker that someone else put over it (S3 allows that under any lock) hides nothing from `get`,
 * `stat` or `list`, so that a backup under lock stays listed and restorable.
 */
export interface Storage {
  /** Where this storage is, with no credentials in it (safe to log and to return from the API). */
  readonly url: string;

  /**
   * Writes `body` under `key`, replacing any object there. Atomic: until it resolves, readers see the
   * previous object or none, never a partial one; if it rejects, nothing new is visible under `key`. Under
   * retention the replaced object stays behind as an older version, kept as long as its own lock.
   */
  put(key: string, body: Readable): Promise<StoredObject>;

  /**
   * Optional: `put` from a local file that the caller will neither change nor reuse. Same contract as
   * `put`; a backend may link the file instead of copying it.
   */
  putFile?(key: string, file: string): Promise<StoredObject>;

  /** Streams the object's bytes. Rejects with NOT_FOUND when there is no object under `key`. */
  get(key: string): Promise<Readable>;

  /** The object's size, or undefined when there is none. */
  stat(key: string): Promise<StoredObject | undefined>;

  /**
   * Removes the object. Idempotent: removing what is not there succeeds. Under retention it removes every
   * version of `key` and every delete marker on it, not only the newest: the bytes are gone when it resolves.
   * The versions whose lock has not ended stay, still the object of `get`, `stat` and `list`, and `delete`
   * rejects with PROTECTED, naming the lock and its end; the caller keeps the backup's catalog row, which
   * still points at the object, to try again after the lock ends.
   */
  delete(key: string): Promise<void>;

  /** Keys of finished objects that start with `prefix`, sorted; never an object still being written. */
  list(prefix: string): Promise<string[]>;

  /** Optional: releases connections the backend holds open; the storage is not used afterwards. */
  close?(): Promise<void>;
}

/** Keys are relative, `/`-separated, without empty, `.` or `..` segments. */
export function isValidKey(key: string): boolean {
  if (!key || key.startsWith('/') || key.includes('\\') || key.includes('\0')) return false;
  return key.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}

/** Stores a local file with the backend's fastest way, or as a stream when it has none. */
export function putLocalFile(storage: Storage, key: string, file: string): Promise<StoredObject> {
  if (storage.putFile) return storage.putFile(key, file);
  return storage.put(key, createReadStream(file, { highWaterMark: 64 * 1024 }));
}
