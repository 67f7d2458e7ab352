// The API process: environment → dependencies → Hono on @hono/node-server; SIGINT/SIGTERM stop it.
import { serve } from '@hono/node-server';
import { Client, Connection } from '@temporalio/client';
import { createSecretBox } from '../catalog/secret-box.ts';
import { createStorageRegistry } from '../storage/registry.ts';
import { openCatalog } from '../config/catalog.ts';
import { accessPolicy, loadEnv, secretReaders } from '../config/env.ts';
import { startRestoreReconciler } from '../services/restore-reconcile.ts';
import { reconcileUploads, removeAbandonedStagingDirs } from '../services/upload-reconcile.ts';
import { createCatalogLiveEventHub } from '../services/live-events.ts';
import { createApp } from './app.ts';
import { ensureBootstrapToken } from './bootstrap-token.ts';

const env = loadEnv();
const db = await openCatalog(env.LIFEBOAT_DATABASE_URL);
const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
const temporal = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });

if ((await ensureBootstrapToken(db, env.LIFEBOAT_ADMIN_TOKEN_FILE)).created) {
  console.log(
    `lifeboat: no API token existed, so an admin token was written to ${env.LIFEBOAT_ADMIN_TOKEN_FILE}.`,
  );
}

const access = accessPolicy(env);
const storages = createStorageRegistry(env.LIFEBOAT_STORAGE_URL, secretReaders(env, access).storage);
// One hub for the process: GET /api/admin/events streams share its LISTEN connection.
const events = createCatalogLiveEventHub(db);
const app = createApp({
  db,
  events,
  secrets: createSecretBox(env.LIFEBOAT_SECRET_KEY),
  storage: storages.open(env.LIFEBOAT_STORAGE_URL),
  storages,
  temporal,
  taskQueue: env.LIFEBOAT_TASK_QUEUE,
  access,
  auth: { trustForwardedFor: env.LIFEBOAT_TRUST_PROXY },
  approvalChangeDelayMs: env.LIFEBOAT_APPROVAL_CHANGE_DELAY_HOURS * 3_600_000,
  metricsToken: env.LIFEBOAT_METRICS_TOKEN,
  upload: {
    stagingDir: env.LIFEBOAT_UPLOAD_DIR,
    limits: {
      maxUploadBytes: env.LIFEBOAT_UPLOAD_MAX_BYTES,
      maxUnpackedBytes: env.LIFEBOAT_UPLOAD_MAX_UNPACKED_BYTES,
    },
  },
});

// A process that just started has no upload of its own: staging directories of dead processes are leftovers.
for (const name of await removeAbandonedStagingDirs(env.LIFEBOAT_UPLOAD_DIR)) {
  console.log(`lifeboat: removed the staging directory ${name} of an upload whose API had died.`);
}

/** Uploads whose API died while storing them lose their objects and their row; the pass after each restore pass. */
async function reconcileAbandonedUploads(): Promise<void> {
  const { reconciled, unreconciled } = await reconcileUploads({ db, storages });
  for (const upload of reconciled) {
    console.log(`lifeboat: removed upload ${upload.backupId} of ${upload.targetName}, whose API had died.`);
  }
  for (const upload of unreconciled) {
    console.error(
      `lifeboat: upload ${upload.backupId} of ${upload.targetName} not yet removed: ${upload.problem}`,
    );
  }
}
let uploadsPass: Promise<void> | undefined;

// Restores an earlier API recorded but never started (it died in between), or whose workflow was terminated,
// are recorded as INTERRUPTED: at start, and every few minutes for a row still inside its grace then. Each
// pass goes on with the uploads (which do not need Temporal, so they go on when it is unreachable).
const reconciler = startRestoreReconciler({ db, temporal }, 5 * 60_000, (outcome) => {
  if ('error' in outcome) console.error('lifeboat: restore reconciliation failed:', outcome.error);
  for (const restore of 'reconciled' in outcome ? outcome.reconciled : []) {
    console.log(`lifeboat: restore ${restore.operationId} of ${restore.targetName} recorded as interrupted.`);
  }
  uploadsPass ??= reconcileAbandonedUploads()
    .catch((error: unknown) => console.error('lifeboat: upload reconciliation failed:', error))
    .finally(() => {
      uploadsPass = undefined;
    });
});

const server = serve(
  { fetch: app.fetch, hostname: env.LIFEBOAT_API_HOST, port: env.LIFEBOAT_API_PORT },
  (info) => {
    console.log(`lifeboat api listening on http://${info.address}:${info.port}`);
  },
);

let stopping = false;
function stop(): void {
  if (stopping) return;
  stopping = true;
  reconciler.stop();
  // Open event streams would hold server.close() until the forced exit: they are told `end` first.
  void events.close();
  server.close(() => {
    void Promise.allSettled([connection.close(), db.end(), storages.closeAll()]).then(() => process.exit(0));
  });
  setTimeout(() => process.exit(0), 10_000).unref();
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
