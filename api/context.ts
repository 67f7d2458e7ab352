// What every request carries through the middleware: the caller, and the error code if it failed.
import type pg from 'pg';
import type { Client } from '@temporalio/client';
import type { TokenIdentity } from '../catalog/tokens.ts';
import type { SecretBox } from '../catalog/secret-box.ts';
import type { Storage } from '../storage/storage.ts';
import type { StorageRegistry } from '../storage/registry.ts';
import type { UploadSettings } from '../services/upload.ts';

export interface ApiDeps {
  db: pg.Pool;
  secrets: SecretBox;
  /** The default storage (targets without destinations, uploaded archives). */
  storage: Storage;
  /** Every destination by URL, for reading and deleting copies. */
  storages: StorageRegistry;
  temporal: Client;
  /** Where uploaded archives are staged and how large they may be. */
  upload?: UploadSettings | undefined;
  taskQueue: string;
  /** Milliseconds a live-progress query may take before the API answers without it. */
  queryTimeoutMs?: number;
}

export interface AppEnv {
  Variables: {
    identity: TokenIdentity | undefined;
    errorCode: string | undefined;
    resourceId: string | undefined;
  };
}
