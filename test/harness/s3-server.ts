// A real S3-compatible server for tests: `rclone serve s3` over a directory, restartable for fault tests.
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../../stack/ports.ts';
import { tempDir } from '../support/temp-dirs.ts';
import { startServerProcess, type ServerProcess } from './server-process.ts';

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
  /**
   * An s3:// storage URL for the bucket, naming the credential variables instead of the secrets; `query`
   * adds or replaces parameters.
   */
  url(bucket: string, prefix?: string, query?: Record<string, string>): string;
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
  const accessKeyIdEnv = `LIFEBOAT_STORAGE_TEST_S3_ACCESS_KEY_ID_${port}`;
  const secretAccessKeyEnv = `LIFEBOAT_STORAGE_TEST_S3_SECRET_ACCESS_KEY_${port}`;
  process.env[accessKeyIdEnv] = accessKeyId;
  process.env[secretAccessKeyEnv] = secretAccessKey;
  const logFile = path.join(tempDir('s3-log'), 'rclone.log');

  let server: ServerProcess | undefined;
  const start = async (): Promise<void> => {
    if (server?.running()) throw new Error(`the S3 server on port ${port} is already running`);
    server = await startServerProcess({
      name: 'rclone serve s3',
      command: rclonePath(),
      args: ['serve', 's3', '--addr', `127.0.0.1:${port}`, dataDir],
      // The key pair goes through the environment, not the arguments, so `ps` never shows the secret.
      env: { ...process.env, RCLONE_AUTH_KEY: `"${accessKeyId},${secretAccessKey}"`, RCLONE_CONFIG: '' },
      port,
      logFile,
    });
  };
  const stop = async (signal?: NodeJS.Signals): Promise<void> => {
    await server?.stop(signal);
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
    url(bucket, prefix = '', query = {}) {
      const search = new URLSearchParams({ endpoint, accessKeyIdEnv, secretAccessKeyEnv, ...query });
      return `s3://${bucket}/${prefix}?${search.toString()}`;
    },
    stop,
    start,
  };
}
