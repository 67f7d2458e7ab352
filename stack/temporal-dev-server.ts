// The Temporal dev server (`temporal server start-dev`) with its Web UI and Lifeboat's search attributes.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { searchAttributeDefinitions } from '../domain/search-attributes.ts';
import { waitForPort } from './ports.ts';

export interface TemporalDevServer {
  address: string;
  uiUrl: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export function temporalCliPath(): string {
  const local = path.resolve(import.meta.dirname, '..', '.tools', 'temporal', 'bin', 'temporal');
  return existsSync(local) ? local : 'temporal';
}

export async function startTemporalDevServer(options: {
  dbFile: string;
  port: number;
  uiPort: number;
  logFile: string;
}): Promise<TemporalDevServer> {
  mkdirSync(path.dirname(options.dbFile), { recursive: true });
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(options.port),
    '--ui-port',
    String(options.uiPort),
    '--db-filename',
    options.dbFile,
    '--log-level',
    'warn',
    ...Object.entries(searchAttributeDefinitions).flatMap(([name, type]) => [
      '--search-attribute',
      `${name}=${type}`,
    ]),
  ];
  const log = openSync(options.logFile, 'a');
  const child = spawn(temporalCliPath(), args, { stdio: ['ignore', log, log] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitForPort(options.port, 60_000);
  return {
    address: `127.0.0.1:${options.port}`,
    uiUrl: `http://127.0.0.1:${options.uiPort}`,
    process: child,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
