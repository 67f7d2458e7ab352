// The real worker entry point (worker/main.ts) as a child process, for tests that kill it.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { testLogFile } from './logs.ts';
import { stack, testSecretKey } from './stack.ts';

const root = path.resolve(import.meta.dirname, '../..');
const startTimeoutMs = 60_000;

/** Worker processes a test file started; `killWorkerProcesses` in afterAll leaves none behind. */
const children: ChildProcess[] = [];

export interface WorkerProcessOptions {
  taskQueue: string;
  workerId: string;
  storageDir: string;
  workDir: string;
}

/**
 * Starts `node worker/main.ts` on the harness's catalog and Temporal; resolves once it polls. Its output
 * goes to <workerId>-<n>.log in the test file's log folder.
 */
export async function startWorkerProcess(options: WorkerProcessOptions): Promise<ChildProcess> {
  const s = stack();
  const child = spawn(process.execPath, [path.join(root, 'worker/main.ts')], {
    env: {
      ...process.env,
      LIFEBOAT_DATABASE_URL: s.catalogUrl,
      LIFEBOAT_SECRET_KEY: testSecretKey,
      TEMPORAL_ADDRESS: s.temporalAddress,
      LIFEBOAT_TASK_QUEUE: options.taskQueue,
      LIFEBOAT_WORKER_ID: options.workerId,
      LIFEBOAT_STORAGE_URL: `file://${options.storageDir}`,
      LIFEBOAT_WORK_DIR: options.workDir,
      LIFEBOAT_DOCUMENTS_ROOTS: s.root,
      LIFEBOAT_WORKFLOW_BUNDLE: s.workflowBundlePath,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const logFile = testLogFile(`${options.workerId}-${children.length}`);
  const log = createWriteStream(logFile);
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`worker did not start (log: ${logFile}):\n${output}`)),
      startTimeoutMs,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('polling')) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stderr?.off('data', onData);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`worker exited with ${code} (log: ${logFile}):\n${output}`));
    });
  });
  return child;
}

/** Kills the worker with SIGKILL, as a crash would, and resolves once it has exited. */
export async function killWorkerProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

export function killWorkerProcesses(): void {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
}
