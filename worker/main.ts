// The worker process: environment → dependencies → Temporal workers; SIGINT/SIGTERM drain and stop it.
import { createSecretBox } from '../catalog/secret-box.ts';
import { createStorageRegistry } from '../storage/registry.ts';
import { openCatalog } from '../config/catalog.ts';
import { accessPolicy, loadEnv, secretReaders } from '../config/env.ts';
import { lifeboatVersion } from '../config/version.ts';
import { createLifeboatWorkers } from './workers.ts';

const env = loadEnv();
const db = await openCatalog(env.LIFEBOAT_DATABASE_URL);
const access = accessPolicy(env);
const readers = secretReaders(env, access);
const storages = createStorageRegistry(env.LIFEBOAT_STORAGE_URL, readers.storage);
const workers = await createLifeboatWorkers({
  temporalAddress: env.TEMPORAL_ADDRESS,
  namespace: env.TEMPORAL_NAMESPACE,
  taskQueue: env.LIFEBOAT_TASK_QUEUE,
  workerId: env.LIFEBOAT_WORKER_ID,
  db,
  secrets: createSecretBox(env.LIFEBOAT_SECRET_KEY),
  storage: storages.open(env.LIFEBOAT_STORAGE_URL),
  storages,
  workDir: env.LIFEBOAT_WORK_DIR,
  pgBinDirs: env.LIFEBOAT_PG_BIN_DIRS,
  identityFile: env.LIFEBOAT_AGE_IDENTITY_FILE,
  readEnv: readers.target,
  readNotifyEnv: readers.notify,
  documents: access.documents,
  lifeboatVersion,
  ...(env.LIFEBOAT_WORKFLOW_BUNDLE ? { workflowBundlePath: env.LIFEBOAT_WORKFLOW_BUNDLE } : {}),
});
console.log(
  `lifeboat worker ${env.LIFEBOAT_WORKER_ID} polling ${env.LIFEBOAT_TASK_QUEUE} and ${workers.workerQueue}`,
);
try {
  await workers.run();
} finally {
  await storages.closeAll();
  await db.end();
}
