// A test server as a child process (rclone serve s3, sshd): its output in a log file, started once it
// listens on its port, stopped with a signal and SIGKILL if it outlives the timeout.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { waitForPort } from '../../stack/ports.ts';

export interface ServerProcessOptions {
  /** What the error says exited or did not listen, e.g. `rclone serve s3`. */
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  port: number;
  /** Where stdout and stderr go, appended. */
  logFile: string;
  startTimeoutMs?: number;
  stopTimeoutMs?: number;
}

export interface ServerProcess {
  pid: number | undefined;
  running(): boolean;
  /** Sends `signal` (SIGTERM by default), then SIGKILL after the stop timeout; resolves once it exited. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Spawns the server and resolves once it accepts connections on `port`. If it exits first or does not
 * listen in time, it is killed and the error carries the end of its log. The test process's exit kills it.
 */
export async function startServerProcess(options: ServerProcessOptions): Promise<ServerProcess> {
  const { name, port, logFile, startTimeoutMs = 15_000, stopTimeoutMs = 5_000 } = options;
  const log = openSync(logFile, 'a');
  const child = spawn(options.command, options.args, {
    stdio: ['ignore', log, log],
    env: options.env ?? process.env,
  });
  closeSync(log);
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  let running = true;
  const exited = new Promise<void>((resolve) => {
    const ended = (): void => {
      running = false;
      process.removeListener('exit', killOnExit);
      resolve();
    };
    // 'error' without 'exit' when it could not be spawned at all.
    child.once('exit', ended).once('error', ended);
  });

  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    if (!running) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
    await exited;
    clearTimeout(timer);
  };

  const early = exited.then(() => {
    throw new Error(`${name} exited at start:\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
  });
  const listening = waitForPort(port, startTimeoutMs);
  // Whichever loses the race settles later; neither may become an unhandled rejection.
  for (const settles of [listening, early]) void settles.catch(() => undefined);
  try {
    await Promise.race([listening, early]);
  } catch (error) {
    await stop('SIGKILL');
    throw error;
  }
  return { pid: child.pid, running: () => running, stop };
}
