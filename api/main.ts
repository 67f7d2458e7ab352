// The API process: environment → dependencies → Hono on @hono/node-server; SIGINT/SIGTERM stop it.
import { serve } from '@hono/node-server';
import { Client, Connection } from '@temporalio/client';
import { createSecretBox } from '../catalog/secret-box.ts';
import { countActiveTokens, createToken } from '../catalog/tokens.ts';
import { createStorageRegistry } from '../storage/registry.ts';
import { openCatalog } from '../config/catalog.ts';
import { loadEnv, readSecretFromEnv } from '../config/env.ts';
import { createApp } from './app.ts';

const env = loadEnv();
const db = await openCatalog(env.LIFEBOAT_DATABASE_URL);
const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
const temporal = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });

if ((await countActiveTokens(db)) === 0) {
  const admin = await createToken(db, `admin-${new Date().toISOString().slice(0, 10)}`, 'admin');
  console.log(`lifeboat: no API token existed, so one was created. Admin token (shown once): ${admin.token}`);
}

const storages = createStorageRegistry(env.LIFEBOAT_STORAGE_URL, readSecretFromEnv);
const app = createApp({
  db,
  secrets: createSecretBox(env.LIFEBOAT_SECRET_KEY),
  storage: storages.open(env.LIFEBOAT_STORAGE_URL),
  storages,
  temporal,
  taskQueue: env.LIFEBOAT_TASK_QUEUE,
  upload: {
    stagingDir: env.LIFEBOAT_UPLOAD_DIR,
    limits: { maxUploadBytes: env.LIFEBOAT_UPLOAD_MAX_BYTES },
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
