// What the activities need from the process that runs them: catalog, secrets, storage, tools, progress.
import type { SignalDefinition } from '@temporalio/common';
import type pg from 'pg';
import type { SecretBox } from '../catalog/secret-box.ts';
import type { DocumentsPolicy } from '../domain/access-policy.ts';
import type { StorageRegistry } from '../storage/registry.ts';
import type { Storage } from '../storage/storage.ts';

export interface ActivityDeps {
  db: pg.Pool;
  secrets: SecretBox;
  /** The default storage, where a target without destinations keeps its backups. */
  storage: Storage;
  /** Every destination by URL, opened on first use. */
  storages: StorageRegistry;
  /** This worker's own scratch directory; only this worker's activities use it. */
  workDir: string;
  /** This worker's own task queue, for the steps that share files on its disk. */
  workerQueue: string;
  pgBinDirs: readonly string[];
  /** age identities for restoring encrypted backups when a request brings none (LIFEBOAT_AGE_IDENTITY_FILE). */
  identityFile?: string | undefined;
  /** Reads the password variable a target names; refuses names the policy does not allow. */
  readEnv: (name: string) => string | undefined;
  /**
   * Reads the secret variables notification channels name (LIFEBOAT_NOTIFY_…), at send time; refuses names
   * the policy does not allow. Without it, a channel that needs a secret cannot send from this process.
   */
  readNotifyEnv?: ((name: string) => string | undefined) | undefined;
  /** Where documents directories may be (LIFEBOAT_DOCUMENTS_ROOTS), checked at every backup and restore. */
  documents: DocumentsPolicy;
  lifeboatVersion: string;
  /** Sends live progress to a workflow through its typed signal; best effort, never fails the activity. */
  reportProgress: <Update>(
    workflowId: string,
    signal: SignalDefinition<[Update]>,
    update: Update,
  ) => Promise<void>;
  progressIntervalMs: number;
}
