// A real API process SIGKILLed while it stores an upload: its S3 destination goes through a gate the test
// holds, so the kill lands at a known point (the archive and its sidecars in the local primary, the S3 put
// hanging). The next API to start removes the objects, the running row and the staging directory.
import { ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { writeArchive } from '../../archive/write.ts';
import { findBackup, insertRunningBackup } from '../../catalog/backups.ts';
import {
  closeUploadSession,
  listRunningUploads,
  openUploadSession,
  recordUploadClaim,
  tryLockUpload,
} from '../../catalog/upload-claims.ts';
import { archiveKey, manifestSidecarKey, md5SidecarKey } from '../../domain/naming.ts';
import { reconcileUpload, reconcileUploads } from '../../services/upload-reconcile.ts';
import { eventually } from '../harness/api.ts';
import { startApiProcess, type ApiProcess } from '../harness/api-process.ts';
import { dumpByHand } from '../harness/fixtures.ts';
import { startS3Server, type S3Server } from '../harness/s3-server.ts';
import type { ServerProcess } from '../harness/server-process.ts';
import { createDatabase, scratchDir, sql, useStack } from '../harness/stack.ts';
import { openTcpGate, type TcpGate } from '../harness/tcp-gate.ts';

const { db, api, worker, storageDir, createTarget } = useStack({ workers: 0 });

const running: ServerProcess[] = [];

/** An API process on the harness's catalog, staging uploads in `uploadDir`. */
async function startUploadApi(uploadDir: string): Promise<ApiProcess> {
  const started = await startApiProcess({
    name: 'upload-reconcile-api',
    taskQueue: worker.taskQueue,
    storageDir,
    uploadDir,
  });
  running.push(started.server);
  return started;
}

async function sendUpload(port: number, targetName: string, archive: Buffer) {
  const response = await fetch(`http://127.0.0.1:${port}/api/admin/backups/upload?target=${targetName}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${api.tokens.admin}`, 'content-type': 'application/octet-stream' },
    body: new Uint8Array(archive),
  });
  return {
    status: response.status,
    body: (await response.json()) as { id: string; status: string; copies: { status: string }[] },
  };
}

let s3: S3Server;
let gate: TcpGate;
let bucket: string;
let s3Url: string;
let database: string;
let dumpFile: string;

beforeAll(async () => {
  s3 = await startS3Server();
  gate = await openTcpGate({ host: '127.0.0.1', port: s3.port });
  bucket = await s3.createBucket();
  s3Url = s3.url(bucket, '', { endpoint: `http://127.0.0.1:${gate.port}` });
  database = await createDatabase('uplrec');
  await sql(
    database,
    `create table invoices (id int primary key, amount numeric(10,2) not null);
     insert into invoices select g, g * 1.25 from generate_series(1, 500) g`,
  );
  dumpFile = path.join(scratchDir('upload-reconcile-dump'), 'source.dump');
  dumpByHand(database, dumpFile);
});

afterEach(async () => {
  for (const server of running.splice(0)) await server.stop('SIGKILL');
});

afterAll(async () => {
  await gate?.close();
  await s3?.stop();
});

/** A valid Lifeboat archive of the dump and `documentBytes` of incompressible document, for `target`. */
async function multiMegabyteArchive(target: string, documentBytes: number) {
  const dir = scratchDir('upload-reconcile-archive');
  const document = path.join(dir, 'scan.bin');
  writeFileSync(document, randomBytes(documentBytes));
  const now = new Date();
  const startedAt = new Date(now.getTime() - 60_000);
  const file = path.join(dir, 'archive');
  const built = await writeArchive({
    sources: [
      {
        entryName: `database/${database}.dump`,
        file: dumpFile,
        sizeBytes: readFileSync(dumpFile).length,
        mtime: now,
      },
      { entryName: 'documents/scan.bin', file: document, sizeBytes: documentBytes, mtime: now },
    ],
    manifest: {
      formatVersion: 1,
      lifeboatVersion: 'elsewhere',
      backupId: randomUUID(),
      target,
      database: { name: database, serverVersion: '15', serverVersionNum: 150000, sizeBytes: 1 },
      pgDump: { version: '15', format: 'custom', compression: 'none' },
      archive: { compression: 'zstd' },
      trigger: 'manual',
      startedAt: startedAt.toISOString(),
      dumpFinishedAt: new Date(startedAt.getTime() + 5_000).toISOString(),
      tables: [{ schema: 'public', name: 'invoices', rowEstimate: 500, sizeBytes: 8192 }],
      documents: { fileCount: 1, totalBytes: documentBytes },
      options: { tags: [] },
    },
    outputFile: file,
    compression: 'zstd',
  });
  const manifest = built.manifest;
  return {
    bytes: readFileSync(file),
    backupId: manifest.backupId,
    key: archiveKey(target, new Date(manifest.startedAt), manifest.backupId, 'zstd'),
  };
}

const objectsOf = (key: string) => [key, manifestSidecarKey(key), md5SidecarKey(key)].sort();

async function bucketObjects(): Promise<string[]> {
  const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: bucket }));
  return (listed.Contents ?? []).map((object) => object.Key!).sort();
}

async function bucketMultipartUploads(): Promise<string[]> {
  const listed = await s3.client
    .send(new ListMultipartUploadsCommand({ Bucket: bucket }))
    // rclone answers NoSuchUpload when it has none.
    .catch(() => ({ Uploads: [] }));
  return (listed.Uploads ?? []).map((upload) => upload.Key!);
}

describe('an API process SIGKILLed while it stores an upload', () => {
  it('leaves a row, objects and a staging directory that the next API removes, after which the archive uploads', async () => {
    const target = await createTarget(`uplrec-${randomBytes(3).toString('hex')}`, database, {
      destinations: [`file://${storageDir}`, s3Url],
    });
    const archive = await multiMegabyteArchive(target.name, 6 * 1024 * 1024);
    expect(archive.bytes.length).toBeGreaterThan(6 * 1024 * 1024);
    const uploadDir = scratchDir('upload-reconcile-staging');
    mkdirSync(uploadDir, { recursive: true });

    const first = await startUploadApi(uploadDir);
    gate.holdRequests();
    const answer = sendUpload(first.port, target.name, archive.bytes).catch(() => undefined);
    // The deterministic point: claimed, stored in the primary, and the S3 put hanging at the gate.
    const claimed = await eventually(
      async () => (await listRunningUploads(db)).find((upload) => upload.targetName === target.name),
      60_000,
      'the upload to claim its row',
    );
    expect(claimed).toMatchObject({
      backupId: archive.backupId,
      claim: { storageKey: archive.key, storageUrls: [`file://${storageDir}`, s3Url] },
    });
    await eventually(
      async () => ((await worker.storage.list(`${target.name}/`)).length === 3 ? true : undefined),
      60_000,
      'the primary copy and its sidecars',
    );
    await gate.heldSomething('the S3 store to be sent');

    // While its uploader is alive, reconciliation leaves the upload alone.
    expect(await reconcileUploads({ db, storages: worker.storages })).toEqual({
      reconciled: [],
      unreconciled: [],
    });
    expect((await findBackup(db, archive.backupId))?.status).toBe('running');
    expect(await worker.storage.list(`${target.name}/`)).toEqual(objectsOf(archive.key));

    await first.server.stop('SIGKILL');
    expect(await answer).toBeUndefined();
    // What the crash left, before any API started again.
    expect((await findBackup(db, archive.backupId))?.status).toBe('running');
    expect(await worker.storage.list(`${target.name}/`)).toEqual(objectsOf(archive.key));
    expect(readdirSync(uploadDir)).toEqual([expect.stringMatching(/^lifeboat-upload-\d+-/) as string]);

    gate.release();
    const second = await startUploadApi(uploadDir);
    // Staging leftovers go before the API serves; the catalog and storage are reconciled by its first pass.
    expect(readdirSync(uploadDir)).toEqual([]);
    await eventually(
      async () => ((await findBackup(db, archive.backupId)) ? undefined : true),
      60_000,
      'the restarted API to remove the abandoned upload',
    );
    expect(await worker.storage.list(`${target.name}/`)).toEqual([]);
    expect(await bucketObjects()).toEqual([]);
    expect(await bucketMultipartUploads()).toEqual([]);
    expect((await listRunningUploads(db)).map((upload) => upload.backupId)).not.toContain(archive.backupId);

    const again = await sendUpload(second.port, target.name, archive.bytes);
    expect(again.status, JSON.stringify(again.body)).toBe(201);
    expect(again.body).toMatchObject({ id: archive.backupId, status: 'completed' });
    expect(again.body.copies.map((copy) => copy.status)).toEqual(['completed', 'completed']);
    expect(await worker.storage.list(`${target.name}/`)).toEqual(objectsOf(archive.key));
    expect(await bucketObjects()).toEqual(objectsOf(archive.key));
    expect(readdirSync(uploadDir)).toEqual([]);
    expect(await listRunningUploads(db)).not.toContainEqual(
      expect.objectContaining({ backupId: archive.backupId }),
    );
  }, 300_000);
});

describe('reconciling uploads by their session lock', () => {
  async function runningUploadRow(targetId: string, targetName: string, id: string) {
    await insertRunningBackup(db, {
      id,
      targetId,
      targetName,
      workflowId: `upload/${targetName}/test-${id.slice(0, 8)}`,
      trigger: 'upload',
      requestedBy: 'test',
      displayName: null,
      description: null,
      tags: [],
      protected: false,
      startedAt: new Date(Date.now() - 60_000).toISOString(),
    });
  }

  async function putObjects(url: string, key: string): Promise<void> {
    const storage = worker.storages.open(url);
    for (const objectKey of objectsOf(key))
      await storage.put(objectKey, Readable.from([Buffer.from(objectKey)]));
  }

  it('leaves an upload whose session holds its lock, and removes it from every destination once the session ends', async () => {
    const target = await createTarget(`uplrecl-${randomBytes(3).toString('hex')}`, database, {
      destinations: [`file://${storageDir}`, s3Url],
    });
    const id = randomUUID();
    const key = archiveKey(target.name, new Date(), id, 'zstd');
    const session = await openUploadSession(db);
    try {
      expect(await tryLockUpload(session, id)).toBe(true);
      await runningUploadRow(target.id, target.name, id);
      await recordUploadClaim(session, {
        backupId: id,
        storageKey: key,
        storageUrls: [`file://${storageDir}`, s3Url],
      });
      await putObjects(`file://${storageDir}`, key);
      await putObjects(s3Url, key);

      expect(await reconcileUpload({ db, storages: worker.storages }, id)).toBeUndefined();
      expect((await findBackup(db, id))?.status).toBe('running');
      expect(await worker.storage.list(`${target.name}/`)).toEqual(objectsOf(key));
      expect(await bucketObjects()).toEqual(expect.arrayContaining(objectsOf(key)));
    } finally {
      await closeUploadSession(session);
    }

    const { reconciled } = await reconcileUploads({ db, storages: worker.storages });
    expect(reconciled).toContainEqual({
      backupId: id,
      targetName: target.name,
      removedFrom: [`file://${storageDir}`, s3Url],
    });
    expect(await findBackup(db, id)).toBeUndefined();
    expect(await worker.storage.list(`${target.name}/`)).toEqual([]);
    expect((await bucketObjects()).filter((object) => object.startsWith(`${target.name}/`))).toEqual([]);
    expect(await reconcileUpload({ db, storages: worker.storages }, id)).toBeUndefined();
  }, 120_000);

  it('removes a running upload row that has no claim, with whatever lies under the keys the row implies', async () => {
    const target = await createTarget(`uplreco-${randomBytes(3).toString('hex')}`, database);
    const id = randomUUID();
    await runningUploadRow(target.id, target.name, id);
    const row = await findBackup(db, id);
    const key = archiveKey(target.name, new Date(row!.startedAt), id, 'gzip');
    await putObjects(`file://${storageDir}`, key);

    expect(await reconcileUpload({ db, storages: worker.storages }, id)).toEqual({
      backupId: id,
      targetName: target.name,
      removedFrom: [`file://${storageDir}`],
    });
    expect(await findBackup(db, id)).toBeUndefined();
    expect(await worker.storage.list(`${target.name}/`)).toEqual([]);
  }, 60_000);
});
