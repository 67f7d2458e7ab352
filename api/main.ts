// The API process: environment → dependencies → Hono on @hono/node-server; SIGINT/SIGTERM stop it.
import { serve } from '@hono/node-server';
import { Client, Connection } from '@temporalio/client';
import { createSecretBox } from '../catalog/secret-box.ts';
import { createStorageRegistry } from '../storage/registry.ts';
import { openCatalog } from '../config/catalog.ts';
import { accessPolicy, loadEnv, secretReaders } from '../config/env.ts';
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
const app = createApp({
  db,
  secrets: createSecretBox(env.LIFEBOAT_SECRET_KEY),
  storage: storages.open(env.LIFEBOAT_STORAGE_URL),
  storages,
  temporal,
  taskQueue: env.LIFEBOAT_TASK_QUEUE,
  access,
  auth: { trustForwardedFor: env.LIFEBOAT_TRUST_PROXY },
  approvalChangeDelayMs: env.LIFEBOAT_APPROVAL_CHANGE_DELAY_HOURS * 3_600_000,
  upload: {
    stagingDir: env.LIFEBOAT_UPLOAD_DIR,
    limits: {
      maxUploadBytes: env.LIFEBOAT_UPLOAD_MAX_BYTES,
      maxUnpackedBytes: env.LIFEBOAT_UPLOAD_MAX_UNPACKED_BYTES,
    },
  },
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
  server.close(() => {
    void Promise.allSettled([connection.close(), db.end(), storages.closeAll()]).then(() => process.exit(0));
  });
  setTimeout(() => process.exit(0), 10_000).unref();
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
