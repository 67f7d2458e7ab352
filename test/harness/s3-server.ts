// A real S3-compatible server for tests: `rclone serve s3` over a directory, restartable for fault tests.
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, waitForPort } from '../../stack/ports.ts';
import { tempDir } from '../support/temp-dirs.ts';

const startTimeoutMs = 15_000;
const stopTimeoutMs = 5_000;

export interface S3Server {
  endpoint: string;
  port: number;
  dataDir: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Names of the environment variables, set in process.env, that hold the credentials. */
  accessKeyIdEnv: string;
  secretAccessKeyEnv: string;
  /** A client with the server's credentials, for checking what a test left in a bucket. */
  client: S3Client;
  /** Creates a bucket (a fresh random name when none is given) and returns its name. */
  createBucket(name?: string): Promise<string>;
  /** An s3:// storage URL for the bucket, naming the credential variables instead of the secrets. */
  url(bucket: string, prefix?: string): string;
  /** SIGTERM (or the signal given, e.g. SIGKILL for a crash), SIGKILL if it outlives the timeout. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port and data directory. */
  start(): Promise<void>;
}

export function rclonePath(): string {
  const local = path.resolve(import.meta.dirname, '..', '..', '.tools', 'rclone', 'bin', 'rclone');
  if (!existsSync(local)) throw new Error(`no rclone at ${local}; run scripts/setup.sh`);
  return local;
}

export async function startS3Server(options: { dataDir?: string; port?: number } = {}): Promise<S3Server> {
  const dataDir = options.dataDir ?? tempDir('s3');
  mkdirSync(dataDir, { recursive: true });
  const port = options.port ?? (await freePort());
  const endpoint = `http://127.0.0.1:${port}`;
  // Shaped like real keys: rclone refuses very short ones (a two-letter pair is rejected).
  const accessKeyId = `LBTEST${randomBytes(7).toString('hex').toUpperCase()}`;
  const secretAccessKey = randomBytes(30).toString('base64url');
  const accessKeyIdEnv = `LIFEBOAT_TEST_S3_ACCESS_KEY_ID_${port}`;
  const secretAccessKeyEnv = `LIFEBOAT_TEST_S3_SECRET_ACCESS_KEY_${port}`;
  process.env[accessKeyIdEnv] = accessKeyId;
  process.env[secretAccessKeyEnv] = secretAccessKey;
  const logFile = path.join(tempDir('s3-log'), 'rclone.log');

  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const killOnExit = (): void => {
    child?.kill('SIGKILL');
  };

  const start = async (): Promise<void> => {
    if (child) throw new Error(`the S3 server on port ${port} is already running`);
    const log = openSync(logFile, 'a');
    // The key pair goes through the environment, not the arguments, so `ps` never shows the secret.
    const started = spawn(rclonePath(), ['serve', 's3', '--addr', `127.0.0.1:${port}`, dataDir], {
      stdio: ['ignore', log, log],
      env: { ...process.env, RCLONE_AUTH_KEY: `"${accessKeyId},${secretAccessKey}"`, RCLONE_CONFIG: '' },
    });
    closeSync(log);
    child = started;
    process.once('exit', killOnExit);
    exited = new Promise<void>((resolve) =>
      started.once('exit', () => {
        if (child === started) child = undefined;
        process.removeListener('exit', killOnExit);
        resolve();
      }),
    );
    const early = exited.then(() => {
      throw new Error(`rclone serve s3 exited at start:\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
    });
    try {
      await Promise.race([waitForPort(port, startTimeoutMs), early]);
    } catch (error) {
      await stop('SIGKILL');
      throw error;
    } finally {
      early.catch(() => undefined);
    }
  };

  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    const running = child;
    if (!running) return;
    running.kill(signal);
    const timer = setTimeout(() => running.kill('SIGKILL'), stopTimeoutMs);
    await exited;
    clearTimeout(timer);
  };

  await start();
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
  });

  return {
    endpoint,
    port,
    dataDir,
    accessKeyId,
    secretAccessKey,
    accessKeyIdEnv,
    secretAccessKeyEnv,
    client,
    async createBucket(name = `lb-${randomBytes(6).toString('hex')}`) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
      return name;
    },
    url(bucket, prefix) {
      const query = new URLSearchParams({ endpoint, accessKeyIdEnv, secretAccessKeyEnv });
      return `s3://${bucket}/${prefix ?? ''}?${query.toString()}`;
    },
    stop,
    start,
  };
}
