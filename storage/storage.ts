// The one interface every backup destination implements; each method states its contract.
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';

export interface StoredObject {
  key: string;
  sizeBytes: number;
}

export interface Storage {
  /** Where this storage is, with no credentials in it (safe to log and to return from the API). */
  readonly url: string;

  /**
   * Writes `body` under `key`, replacing any object there. Atomic: until it resolves, readers see the
   * previous object or none, never a partial one; if it rejects, nothing new is visible under `key`.
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
   * Removes the object. Idempotent: removing what is not there succeeds. An object the storage keeps under
   * retention (S3 Object Lock) is not removed: `delete` rejects with PROTECTED, and the caller keeps the
   * backup's catalog row, which still points at the object, to try again after the lock ends.
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
  return storage.put(key, createReadStream(file, { highWaterMark: 1024 * 1024 }));
}
