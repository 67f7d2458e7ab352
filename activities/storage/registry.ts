// One open Storage per destination URL, shared by every activity of a process and closed with it.
import { openStorage } from './index.ts';
import type { Storage } from './storage.ts';

export interface StorageRegistry {
  /** The storage used when a target names no destinations. */
  readonly defaultUrl: string;
  /** The storage a URL names, opened once; VALIDATION_FAILED when the URL is unusable. */
  open(url: string): Storage;
  closeAll(): Promise<void>;
}

export function createStorageRegistry(
  defaultUrl: string,
  readEnv: (name: string) => string | undefined,
): StorageRegistry {
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
