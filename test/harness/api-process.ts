// The real API entry point (api/main.ts) as a child process, for tests that SIGKILL it mid-request.
import path from 'node:path';
import { freePort } from '../../stack/ports.ts';
import { testLogFile } from './logs.ts';
import { startServerProcess, type ServerProcess } from './server-process.ts';
import { scratchDir, stack, testSecretKey } from './stack.ts';

const root = path.resolve(import.meta.dirname, '../..');

export interface ApiProcessOptions {
  /** Names its scratch directory and log file. */
  name: string;
  /** The test file's task queue and local storage (from useStack). */
  taskQueue: string;
  storageDir: string;
  /** Where it reaches Temporal; the harness's server unless a gate stands between. */
  temporalAddress?: string;
  /** Where it stages uploads; a directory of its own unless given. */
  uploadDir?: string;
}

export interface ApiProcess {
  server: ServerProcess;
  port: number;
  /** `http://127.0.0.1:<port>`. */
  url: string;
}

/**
 * `node api/main.ts` on the harness's catalog and secret key; resolves once it listens. The admin token of
 * the test's in-process API is valid here too (the same catalog).
 */
export async function startApiProcess(options: ApiProcessOptions): Promise<ApiProcess> {
  const port = await freePort();
  const own = scratchDir(options.name);
  const server = await startServerProcess({
    name: 'lifeboat api',
    command: process.execPath,
    args: [path.join(root, 'api/main.ts')],
    env: {
      ...process.env,
      LIFEBOAT_DATABASE_URL: stack().catalogUrl,
      LIFEBOAT_SECRET_KEY: testSecretKey,
      TEMPORAL_ADDRESS: options.temporalAddress ?? stack().temporalAddress,
      LIFEBOAT_TASK_QUEUE: options.taskQueue,
      LIFEBOAT_STORAGE_URL: `file://${options.storageDir}`,
      LIFEBOAT_API_HOST: '127.0.0.1',
      LIFEBOAT_API_PORT: String(port),
      LIFEBOAT_WORK_DIR: path.join(own, 'work'),
      LIFEBOAT_UPLOAD_DIR: options.uploadDir ?? path.join(own, 'uploads'),
      LIFEBOAT_ADMIN_TOKEN_FILE: path.join(own, 'admin-token'),
      LIFEBOAT_DOCUMENTS_ROOTS: stack().root,
    },
    port,
    logFile: testLogFile(`${options.name}-${port}`),
    startTimeoutMs: 60_000,
  });
  return { server, port, url: `http://127.0.0.1:${port}` };
}
