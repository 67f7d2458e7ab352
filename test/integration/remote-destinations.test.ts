// Backups to a real S3-compatible server (rclone serve s3) and a real OpenSSH SFTP server through the
// whole workflow: a server that goes away and comes back, one that stays down, and refused credentials.
import { ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchBackupArchive } from '../../services/backup-copies.ts';
import { extractArchive } from '../../archive/read.ts';
import { eventually } from '../harness/api.ts';
import { startS3Server, type S3Server } from '../harness/s3-server.ts';
import { startSftpServer, type SftpServer } from '../harness/sftp-server.ts';
import { createDatabase, scratchDir, sql, superuserUrl, useStack } from '../harness/stack.ts';
import pgClient from 'pg';
import path from 'node:path';

const { db, worker, client, api, createTarget: createStackTarget } = useStack();
let s3: S3Server;
let sftp: SftpServer;

beforeAll(async () => {
  s3 = await startS3Server();
  sftp = await startSftpServer();
});

afterAll(async () => {
  await s3?.stop();
  await sftp?.stop();
});

/** A target named after `prefix` and the database that backs up to `destinations`. */
function createTarget(prefix: string, database: string, destinations: string[]) {
  return createStackTarget(`${prefix}-${database.slice(-8)}`, database, { destinations });
}

interface BackupView {
  status: string;
  errorCode: string | null;
  errorMessage: string | null;
  storageKey: string | null;
  workflowId: string;
  degraded: boolean;
  copies: { position: number; status: string; errorCode: string | null }[];
  warnings: string[];
}

async function startBackup(targetName: string): Promise<string> {
  const started = await api.json<{ backupId: string }>('POST', '/api/admin/backups', {
    body: { target: targetName },
  });
  expect(started.status).toBe(202);
  return started.body.backupId;
}

async function waitForEnd(id: string, timeoutMs = 150_000): Promise<BackupView> {
  return eventually(
    async () => {
      const { body } = await api.json<BackupView>('GET', `/api/admin/backups/${id}`);
      return body.status === 'running' ? undefined : body;
    },
    timeoutMs,
    `backup ${id} to end`,
  );
}

/** How many times the workflow started uploadArchive, from its history. */
async function uploadAttempts(workflowId: string): Promise<number> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const uploads = new Set(
    (history.events ?? [])
      .filter((event) => event.activityTaskScheduledEventAttributes?.activityType?.name === 'uploadArchive')
      .map((event) => String(event.eventId)),
  );
  return (history.events ?? [])
    .filter((event) => uploads.has(String(event.activityTaskStartedEventAttributes?.scheduledEventId ?? '')))
    .reduce((sum, event) => sum + (event.activityTaskStartedEventAttributes?.attempt ?? 0), 0);
}

async function objectsIn(bucket: string): Promise<string[]> {
  const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: bucket }));
  return (listed.Contents ?? []).map((object) => object.Key!).sort();
}

/** Multipart uploads begun and never completed or aborted; rclone answers NoSuchUpload when it has none. */
async function incompleteUploads(bucket: string): Promise<string[]> {
  try {
    const listed = await s3.client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    return (listed.Uploads ?? []).map((upload) => upload.Key!);
  } catch (error) {
    if ((error as Error).name === 'NoSuchUpload') return [];
    throw error;
  }
}

async function smallDatabase(prefix: string): Promise<string> {
  const name = await createDatabase(prefix);
  await sql(
    name,
    `create table items (id int primary key, body text);
     insert into items select g, repeat(md5(g::text), 20) from generate_series(1, 5000) g`,
  );
  return name;
}

describe('S3 destination', () => {
  it('completes a backup whose S3 server went down before the upload and came back, with no partial object left', async () => {
    const source = await smallDatabase('s3flap');
    await sql(source, 'create table busy (id int)');
    const bucket = await s3.createBucket();
    const target = await createTarget('s3flap', source, [s3.url(bucket, 'lifeboat')]);

    // The dump waits behind this lock while the server is taken down, so the upload meets it down.
    const blocker = new pgClient.Client({ connectionString: superuserUrl(source) });
    await blocker.connect();
    await blocker.query('begin; lock table busy in access exclusive mode');
    const id = await startBackup(target.name);
    const workflowId = (await api.json<BackupView>('GET', `/api/admin/backups/${id}`)).body.workflowId;
    await s3.stop('SIGKILL');
    await blocker.query('rollback');
    await blocker.end();

    // Retries are not in the history until the activity ends; the pending activity shows its attempt.
    await eventually(
      async () => {
        const { raw } = await client.workflow.getHandle(workflowId).describe();
        const upload = raw.pendingActivities?.find((a) => a.activityType?.name === 'uploadArchive');
        return (upload?.attempt ?? 0) >= 2 ? true : undefined;
      },
      90_000,
      'a failed upload attempt',
    );
    await s3.start();
    const ended = await waitForEnd(id);
    expect(ended).toMatchObject({ status: 'completed', errorCode: null, degraded: false });
    expect(ended.copies).toMatchObject([{ position: 0, status: 'completed' }]);
    expect(await objectsIn(bucket)).toEqual(
      [ended.storageKey!, `${ended.storageKey!}.manifest.json`, `${ended.storageKey!}.md5`].map(
        (key) => `lifeboat/${key}`,
      ),
    );
    expect(await incompleteUploads(bucket)).toEqual([]);

    const work = scratchDir('s3-fetch');
    const file = path.join(work, 'archive');
    await fetchBackupArchive({ db, storages: worker.storages }, { backupId: id, file });
    const extracted = await extractArchive({ file, destination: path.join(work, 'x') });
    expect(extracted.manifest.database.name).toBe(source);
  });

  it('fails with STORAGE_UNAVAILABLE when the primary store stays down, and only degrades the backup when a secondary one does', async () => {
    const source = await smallDatabase('s3down');
    const bucket = await s3.createBucket();
    const downUrl = `s3://${bucket}?endpoint=http://127.0.0.1:9&accessKeyIdEnv=${s3.accessKeyIdEnv}&secretAccessKeyEnv=${s3.secretAccessKeyEnv}`;
    const localDir = scratchDir('primary');
    const primaryDown = await createTarget('s3down', source, [downUrl]);
    const secondaryDown = await createTarget('s3second', source, [`file://${localDir}`, downUrl]);

    const [failedId, degradedId] = [
      await startBackup(primaryDown.name),
      await startBackup(secondaryDown.name),
    ];
    const [failed, degraded] = await Promise.all([waitForEnd(failedId), waitForEnd(degradedId)]);

    expect(failed).toMatchObject({ status: 'failed', errorCode: 'STORAGE_UNAVAILABLE', storageKey: null });
    expect(await uploadAttempts(failed.workflowId)).toBeGreaterThan(1);

    expect(degraded).toMatchObject({ status: 'completed', degraded: true });
    expect(degraded.copies).toMatchObject([
      { position: 0, status: 'completed' },
      { position: 1, status: 'failed', errorCode: 'STORAGE_UNAVAILABLE' },
    ]);
    expect(degraded.warnings).toHaveLength(1);
    expect(degraded.warnings[0]).toContain('127.0.0.1:9');
    const stats = await api.json<{ recommendations: { code: string }[] }>(
      'GET',
      '/api/admin/backups/storage/stats',
    );
    expect(stats.body.recommendations.map((r) => r.code)).toContain('COPIES_DEGRADED');
  });

  it('fails with AUTH_FAILED at once, without retrying, when the store refuses the credentials', async () => {
    const source = await smallDatabase('s3auth');
    const bucket = await s3.createBucket();
    process.env.LIFEBOAT_STORAGE_TEST_WRONG_S3_SECRET = 'not-the-secret-key-at-all-0123456789';
    const url = `s3://${bucket}?endpoint=${s3.endpoint}&accessKeyIdEnv=${s3.accessKeyIdEnv}&secretAccessKeyEnv=LIFEBOAT_STORAGE_TEST_WRONG_S3_SECRET`;
    const target = await createTarget('s3auth', source, [url]);

    const ended = await waitForEnd(await startBackup(target.name));
    expect(ended).toMatchObject({ status: 'failed', errorCode: 'AUTH_FAILED' });
    expect(await uploadAttempts(ended.workflowId)).toBe(1);
    expect(await objectsIn(bucket)).toEqual([]);
  });
});

describe('SFTP destination', () => {
  it('stores a verified copy over SFTP beside a local one, and refuses a server whose host key differs', async () => {
    const source = await smallDatabase('sftp');
    const localDir = scratchDir('beside-sftp');
    const target = await createTarget('sftp', source, [`file://${localDir}`, sftp.url('backups')]);
    const ended = await waitForEnd(await startBackup(target.name));
    expect(ended).toMatchObject({ status: 'completed', degraded: false });
    expect(ended.copies).toMatchObject([
      { position: 0, status: 'completed' },
      { position: 1, status: 'completed' },
    ]);
    const remote = worker.storages.open(sftp.url('backups'));
    expect(await remote.list('')).toEqual(
      [ended.storageKey!, `${ended.storageKey!}.manifest.json`, `${ended.storageKey!}.md5`].sort(),
    );

    const wrongKeyUrl = sftp.url('elsewhere').replace(/hostKey=[^&]+/, 'hostKey=SHA256:' + 'A'.repeat(43));
    const impostor = await createTarget('sftpmitm', source, [wrongKeyUrl]);
    const refused = await waitForEnd(await startBackup(impostor.name));
    expect(refused).toMatchObject({ status: 'failed', errorCode: 'AUTH_FAILED' });
    expect(refused.errorMessage).toMatch(/host key/i);
  });
});
