// A real S3-compatible server that enforces Object Lock, for tests: versitygw (posix backend with a
// versioning directory, its internal IAM) on loopback, with the account root and a plain user.
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../../stack/ports.ts';
import { tempDir } from '../support/temp-dirs.ts';
import { startServerProcess } from './server-process.ts';

export interface S3Account {
  accessKeyId: string;
  secretAccessKey: string;
  /** A client with this account's credentials, for doing to a bucket what Lifeboat would not. */
  client: S3Client;
}

export interface S3LockServer {
  endpoint: string;
  /** The account root: as on AWS, it may bypass GOVERNANCE retention (never COMPLIANCE). */
  root: S3Account;
  /**
   * A plain user (versitygw's `userplus` role): creates and owns the buckets, and has no
   * s3:BypassGovernanceRetention, like the credential a Lifeboat worker should be given.
   */
  writer: S3Account & { accessKeyIdEnv: string; secretAccessKeyEnv: string };
  /** Creates a bucket as the writer, with Object Lock enabled unless told otherwise; returns its name. */
  createBucket(options?: { objectLock?: boolean }): Promise<string>;
  /** An s3:// storage URL for the bucket with the writer's credential variables; `query` adds parameters. */
  url(bucket: string, prefix?: string, query?: Record<string, string>): string;
  stop(): Promise<void>;
}

export function versitygwPath(): string {
  const local = path.resolve(import.meta.dirname, '..', '..', '.tools', 'versitygw', 'bin', 'versitygw');
  if (!existsSync(local)) throw new Error(`no versitygw at ${local}; run scripts/setup.sh`);
  return local;
}

function account(endpoint: string, accessKeyId: string, secretAccessKey: string): S3Account {
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
  });
  return { accessKeyId, secretAccessKey, client };
}

const newKeyId = (): string => `LBLOCK${randomBytes(7).toString('hex').toUpperCase()}`;
const newSecret = (): string => randomBytes(30).toString('base64url');

export async function startS3LockServer(): Promise<S3LockServer> {
  const dir = tempDir('s3-lock');
  const [buckets, versions, iam] = ['buckets', 'versions', 'iam'].map((name) => path.join(dir, name));
  for (const made of [buckets!, versions!, iam!]) mkdirSync(made, { recursive: true });
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;

  const root = account(endpoint, newKeyId(), newSecret());
  const writerKeys = { accessKeyId: newKeyId(), secretAccessKey: newSecret() };
  // The writer is in the internal IAM's file before the server reads it, so no secret is ever an argument.
  const users = {
    accessAccounts: {
      [writerKeys.accessKeyId]: {
        access: writerKeys.accessKeyId,
        secret: writerKeys.secretAccessKey,
        role: 'userplus',
        userID: 0,
        groupID: 0,
        projectID: 0,
      },
    },
  };
  writeFileSync(path.join(iam!, 'users.json'), JSON.stringify(users), { mode: 0o600 });
  const accessKeyIdEnv = `LIFEBOAT_STORAGE_TEST_LOCK_ACCESS_KEY_ID_${port}`;
  const secretAccessKeyEnv = `LIFEBOAT_STORAGE_TEST_LOCK_SECRET_ACCESS_KEY_${port}`;
  process.env[accessKeyIdEnv] = writerKeys.accessKeyId;
  process.env[secretAccessKeyEnv] = writerKeys.secretAccessKey;

  const server = await startServerProcess({
    name: 'versitygw',
    command: versitygwPath(),
    args: [
      '--port',
      `127.0.0.1:${port}`,
      '--quiet',
      '--iam-dir',
      iam!,
      'posix',
      '--versioning-dir',
      versions!,
      buckets!,
    ],
    env: {
      ...process.env,
      ROOT_ACCESS_KEY_ID: root.accessKeyId,
      ROOT_SECRET_ACCESS_KEY: root.secretAccessKey,
    },
    port,
    logFile: path.join(tempDir('s3-lock-log'), 'versitygw.log'),
  });
  const writer = {
    ...account(endpoint, writerKeys.accessKeyId, writerKeys.secretAccessKey),
    accessKeyIdEnv,
    secretAccessKeyEnv,
  };

  return {
    endpoint,
    root,
    writer,
    async createBucket({ objectLock = true } = {}) {
      const name = `lb-lock-${randomBytes(6).toString('hex')}`;
      await writer.client.send(
        new CreateBucketCommand({ Bucket: name, ObjectLockEnabledForBucket: objectLock }),
      );
      return name;
    },
    url(bucket, prefix = '', query = {}) {
      const search = new URLSearchParams({ endpoint, accessKeyIdEnv, secretAccessKeyEnv, ...query });
      return `s3://${bucket}/${prefix}?${search.toString()}`;
    },
    async stop() {
      root.client.destroy();
      writer.client.destroy();
      await server.stop();
    },
  };
}
