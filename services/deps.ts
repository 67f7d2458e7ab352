// What the services need from the process that runs them (the API, or a CLI command in process).
import type { Client } from '@temporalio/client';
import type pg from 'pg';
import type { SecretBox } from '../catalog/secret-box.ts';
import type { AccessPolicy } from '../domain/access-policy.ts';
import type { StorageRegistry } from '../storage/registry.ts';
import type { Storage } from '../storage/storage.ts';
import type { UploadSettings } from './upload.ts';

export interface ServiceDeps {
  db: pg.Pool;
  secrets: SecretBox;
  /** The default storage, from LIFEBOAT_STORAGE_URL. */
  storage: Storage;
  /** Every destination by URL, for reading and deleting copies. */
  storages: StorageRegistry;
  temporal: Client;
  /** Where uploaded archives are staged and how large they may be. */
  upload?: UploadSettings | undefined;
  taskQueue: string;
  /** What callers may point Lifeboat at: credential variables, documents directories, restore destinations. */
  access: AccessPolicy;
  /** Milliseconds a live-progress query may take before the API answers without it. */
  queryTimeoutMs?: number;
}
