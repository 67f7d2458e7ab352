// The worker process: environment → dependencies → Temporal workers; SIGINT/SIGTERM drain and stop it.
import { createSecretBox } from '../catalog/secret-box.ts';
import { createStorageRegistry } from '../storage/registry.ts';
import { openCatalog } from '../config/catalog.ts';
import { accessPolicy, childEnv, loadEnv, secretReaders } from '../config/env.ts';
import { lifeboatVersion } from '../config/version.ts';
import { startMemoryReports } from './memory-report.ts';
import { ensureWorkflowBundle } from './workflow-bundle.ts';
import { createLifeboatWorkers } from './workers.ts';

const env = loadEnv();
const db = await openCatalog(env.LIFEBOAT_DATABASE_URL);
const access = accessPolicy(env);
const readers = secretReaders(env, access);
const storages = createStorageRegistry(env.LIFEBOAT_STORAGE_URL, readers.storage);
// Webpack never enters this process: the bundle is built once per code version by a child, whose heap is
// not bounded by the worker's NODE_OPTIONS (webpack needs more than a backup worker does).
const workflowBundlePath =
  env.LIFEBOAT_WORKFLOW_BUNDLE ??
  (await ensureWorkflowBundle(env.LIFEBOAT_WORK_DIR, childEnv({ NODE_OPTIONS: '' })));
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
  workflowBundlePath,
  stepSlots: env.LIFEBOAT_WORKER_STEP_SLOTS,
});
console.log(
  `lifeboat worker ${env.LIFEBOAT_WORKER_ID} polling ${env.LIFEBOAT_TASK_QUEUE} and ${workers.workerQueue}`,
);
const stopMemoryReports = startMemoryReports(env.LIFEBOAT_MEMORY_REPORT_MS);
try {
  await workers.run();
} finally {
  stopMemoryReports();
  await storages.closeAll();
  await db.end();
}
