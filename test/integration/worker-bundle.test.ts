// The worker as scripts/start.sh runs it: no LIFEBOAT_WORKFLOW_BUNDLE and the memory settings of
// worker/memory.env. It builds its workflow bundle into the work dir, backs up with it, reuses it on the next
// start, and its scratch sweep removes a bundle of older code.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startBackup } from '../../services/backups.ts';
import { readMemorySettings } from '../../worker/memory-settings.ts';
import { workflowBundleName } from '../../worker/workflow-bundle.ts';
import { testLogFile } from '../harness/logs.ts';
import { killWorkerProcess } from '../harness/worker-process.ts';
import {
  createCatalogTarget,
  createDatabase,
  endedBackup,
  scratchDir,
  sql,
  stack,
  testSecretKey,
  useStack,
} from '../harness/stack.ts';

const { db, client, worker, storageDir } = useStack({ workers: 0 });
const root = path.resolve(import.meta.dirname, '../..');
const started: ChildProcess[] = [];
afterAll(() => {
  for (const child of started) if (child.exitCode === null) child.kill('SIGKILL');
});

/** `node worker/main.ts` with the start settings and without a bundle path; resolves once it polls. */
async function startDefaultWorker(workDir: string, workerId: string): Promise<ChildProcess> {
  const s = stack();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...readMemorySettings(),
    LIFEBOAT_DATABASE_URL: s.catalogUrl,
    LIFEBOAT_SECRET_KEY: testSecretKey,
    TEMPORAL_ADDRESS: s.temporalAddress,
    LIFEBOAT_TASK_QUEUE: worker.taskQueue,
    LIFEBOAT_WORKER_ID: workerId,
    LIFEBOAT_STORAGE_URL: `file://${storageDir}`,
    LIFEBOAT_WORK_DIR: workDir,
    LIFEBOAT_DOCUMENTS_ROOTS: s.root,
  };
  delete env.LIFEBOAT_WORKFLOW_BUNDLE;
  const child = spawn(process.execPath, [path.join(root, 'worker/main.ts')], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  const log = createWriteStream(testLogFile(`${workerId}-${started.length}`));
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the worker did not poll:\n${output}`)), 120_000);
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(' polling ')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the worker exited with ${code}:\n${output}`));
    });
  });
  return child;
}

describe('a worker started without a prebuilt bundle', () => {
  it('builds one into its work dir, backs up with it, keeps it across a restart and sweeps an old one', async () => {
    const workDir = scratchDir('bundle-work');
    const stale = 'workflow-bundle-0000000000000000.js';
    writeFileSync(path.join(workDir, stale), '// a bundle of older code\n');
    const bundle = workflowBundleName();

    const first = await startDefaultWorker(workDir, 'bundle-test-worker');
    expect(readdirSync(workDir)).toEqual([bundle]);
    const builtAt = statSync(path.join(workDir, bundle)).mtimeMs;

    const source = await createDatabase('bundle');
    await sql(source, 'create table t (id int); insert into t select generate_series(1, 100)');
    const target = await createCatalogTarget(db, worker.secrets, `bundle-${source.slice(-8)}`, source);
    const { backupId } = await startBackup(
      { db, temporal: client, ...worker },
      {
        target,
        trigger: 'manual',
        requestedBy: 'bundle-test',
        displayName: null,
        description: null,
        tags: [],
        protected: false,
      },
    );
    expect(await endedBackup(db, backupId)).toMatchObject({ status: 'completed', errorCode: null });

    await killWorkerProcess(first);
    await startDefaultWorker(workDir, 'bundle-test-worker');
    expect(readdirSync(workDir)).toEqual([bundle]);
    expect(statSync(path.join(workDir, bundle)).mtimeMs).toBe(builtAt);
  });
});
