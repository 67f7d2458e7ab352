// Uploading an archive made elsewhere: a real one is registered and restorable; hostile or damaged ones
// are refused with nothing kept, against the real catalog, local storage and PostgreSQL.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createWriteStream, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import tarStream from 'tar-stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { extractArchive } from '../../archive/read.ts';
import { writeArchive } from '../../archive/write.ts';
import { createToken } from '../../catalog/tokens.ts';
import { createApp, type LifeboatApp } from '../../api/app.ts';
import type { ApiDeps } from '../../api/context.ts';
import type { Manifest } from '../../domain/manifest.ts';
import { archiveKey, type Compression } from '../../domain/naming.ts';
import { dumpByHand, restoreDumpByHand } from '../harness/fixtures.ts';
import { createDatabase, scratchDir, sql, stack, useStack } from '../harness/stack.ts';

// No worker: an upload only registers a backup. The app is this file's own, with upload settings.
const { db, client, worker, storageDir } = useStack({ workers: 0 });
const { storage } = worker;
let stagingDir: string;
let deps: ApiDeps;
let app: LifeboatApp;
let tokens: { admin: string; operator: string; viewer: string };
let adminName: string;
let viewerName: string;
let targetName: string;
let targetId: string;
let sourceDatabase: string;
let dumpFile: string;

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

beforeAll(async () => {
  stagingDir = scratchDir('upload-staging');
  deps = { db, temporal: client, ...worker, upload: { stagingDir } };
  app = createApp(deps);
  const suffix = randomBytes(4).toString('hex');
  adminName = `upload-admin-${suffix}`;
  viewerName = `upload-viewer-${suffix}`;
  tokens = {
    admin: (await createToken(db, adminName, 'admin')).token,
    operator: (await createToken(db, `upload-operator-${suffix}`, 'operator')).token,
    viewer: (await createToken(db, viewerName, 'viewer')).token,
  };

  sourceDatabase = await createDatabase('upload');
  await sql(
    sourceDatabase,
    `create table invoices (id int primary key, amount numeric(10,2) not null);
     insert into invoices select g, g * 1.25 from generate_series(1, 500) g`,
  );
  const s = stack();
  targetName = `upload-${sourceDatabase.slice(-8)}`;
  const created = await call('POST', '/api/admin/targets', {
    json: {
      name: targetName,
      url: `postgres://${s.pgSuperuser}:${s.pgPassword}@127.0.0.1:${s.pgPort}/${sourceDatabase}`,
    },
  });
  expect(created.status).toBe(201);
  targetId = ((await created.json()) as { id: string }).id;
  dumpFile = path.join(scratchDir('upload-dump'), 'source.dump');
  dumpByHand(sourceDatabase, dumpFile);
});

async function call(
  method: string,
  url: string,
  options: { token?: string; json?: unknown; body?: Buffer; headers?: Record<string, string> } = {},
  onApp: LifeboatApp = app,
): Promise<Response> {
  const headers: Record<string, string> = {
    authorization: `Bearer ${options.token ?? tokens.admin}`,
    ...options.headers,
  };
  let body: string | Uint8Array | undefined;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  } else if (options.body !== undefined) {
    headers['content-type'] ??= 'application/octet-stream';
    body = new Uint8Array(options.body);
  }
  return onApp.request(url, { method, headers, ...(body !== undefined ? { body } : {}) });
}

async function upload(
  body: Buffer,
  query = '',
  options: { token?: string; headers?: Record<string, string> } = {},
  onApp: LifeboatApp = app,
) {
  const response = await call('POST', `/api/admin/backups/upload${query}`, { ...options, body }, onApp);
  return {
    status: response.status,
    body: (await response.json()) as Record<string, unknown> & { error?: { code: string; message: string } },
  };
}

/** A Lifeboat archive of the source database's real dump and one document, as the worker writes it. */
async function realArchive(
  options: {
    compression?: Compression;
    backupId?: string;
    target?: string;
    document?: string;
    /** When the dump started; a minute ago by default. */
    startedAt?: Date;
  } = {},
) {
  const dir = scratchDir('upload-archive');
  const document = path.join(dir, 'readme.txt');
  writeFileSync(document, options.document ?? 'documents that belong to the database\n');
  const compression = options.compression ?? 'zstd';
  const file = path.join(dir, 'archive');
  const now = new Date();
  const built = await writeArchive({
    sources: [
      {
        entryName: `database/${sourceDatabase}.dump`,
        file: dumpFile,
        sizeBytes: readFileSync(dumpFile).length,
        mtime: now,
      },
      {
        entryName: 'documents/readme.txt',
        file: document,
        sizeBytes: readFileSync(document).length,
        mtime: now,
      },
    ],
    manifest: {
      formatVersion: 1,
      lifeboatVersion: 'elsewhere',
      backupId: options.backupId ?? randomUUID(),
      target: options.target ?? targetName,
      database: { name: sourceDatabase, serverVersion: '15', serverVersionNum: 150000, sizeBytes: 1 },
      pgDump: { version: '15', format: 'custom', compression: 'none' },
      archive: { compression },
      trigger: 'manual',
      startedAt: (options.startedAt ?? new Date(now.getTime() - 60_000)).toISOString(),
      dumpFinishedAt: new Date(
        (options.startedAt?.getTime() ?? now.getTime() - 60_000) + 5_000,
      ).toISOString(),
      tables: [{ schema: 'public', name: 'invoices', rowEstimate: 500, sizeBytes: 8192 }],
      documents: { fileCount: 1, totalBytes: readFileSync(document).length },
      options: { tags: ['from-elsewhere'] },
    },
    outputFile: file,
    compression,
  });
  return { bytes: readFileSync(file), built };
}

/** A plain tar made by hand, holding what Lifeboat would never write. */
async function craftedTar(
  entries: { name: string; body?: string; type?: 'file' | 'symlink' | 'link'; linkname?: string }[],
): Promise<Buffer> {
  const file = path.join(scratchDir('upload-crafted'), 'crafted.tar');
  const pack = tarStream.pack();
  const done = pipeline(pack, createWriteStream(file));
  for (const entry of entries) {
    if (entry.type === 'symlink' || entry.type === 'link') {
      pack.entry({ name: entry.name, type: entry.type, linkname: entry.linkname ?? '/etc' });
    } else pack.entry({ name: entry.name }, entry.body ?? '');
  }
  pack.finalize();
  await done;
  return readFileSync(file);
}

/** Everything an upload could leave behind: staging files, stored objects, catalog rows. */
async function leftovers() {
  const { rows } = await db.query<{ count: string }>(
    'select count(*) from backups where target_id = $1 or requested_by = $2',
    [targetId, adminName],
  );
  return {
    staging: readdirSync(stagingDir),
    objects: await storage.list(''),
    backups: Number(rows[0]?.count),
  };
}

/** `name` in the staging directory and in every directory above it, up to the file system's root. */
function everywhereAbove(name: string): string[] {
  const places: string[] = [];
  for (let dir = stagingDir; ; dir = path.dirname(dir)) {
    places.push(path.join(dir, name));
    if (dir === path.dirname(dir)) return places;
  }
}

describe('POST /api/admin/backups/upload', () => {
  it('registers a real archive as a completed upload backup whose stored copy has the same sha256 and restores', async () => {
    const backupId = randomUUID();
    const { bytes, built } = await realArchive({ backupId });
    const uploaded = await upload(bytes, `?displayName=moved%20in&sha256=${built.sha256.toUpperCase()}`);
    expect(uploaded.status).toBe(201);
    const backup = uploaded.body as {
      id: string;
      workflowId: string;
      storageKey: string;
      manifest: Manifest;
      [key: string]: unknown;
    };
    expect(backup).toMatchObject({
      id: backupId,
      targetId,
      targetName,
      status: 'completed',
      trigger: 'upload',
      requestedBy: adminName,
      displayName: 'moved in',
      tags: ['from-elsewhere'],
      sizeBytes: bytes.length,
      sha256: built.sha256,
      md5: built.md5,
      startedAt: built.manifest.startedAt,
      progress: null,
      warnings: [],
      copies: [{ position: 0, storageUrl: storage.url, status: 'completed', sizeBytes: bytes.length }],
    });
    expect(backup.manifest).toEqual(built.manifest);
    expect(backup.workflowId).toMatch(
      new RegExp(`^upload/${targetName}/\\d{8}_\\d{6}-${backupId.slice(0, 8)}$`),
    );
    expect(backup.storageKey).toBe(
      archiveKey(targetName, new Date(built.manifest.startedAt), backupId, 'zstd'),
    );

    const stored = readFileSync(path.join(storageDir, backup.storageKey));
    expect(sha256(stored)).toBe(built.sha256);
    expect(readFileSync(path.join(storageDir, `${backup.storageKey}.md5`), 'utf8')).toBe(
      `${built.md5}  ${path.basename(backup.storageKey)}\n`,
    );
    expect(
      JSON.parse(readFileSync(path.join(storageDir, `${backup.storageKey}.manifest.json`), 'utf8')),
    ).toEqual(built.manifest);
    expect(readdirSync(stagingDir)).toEqual([]);

    const listed = await call('GET', `/api/admin/backups?target=${targetName}&trigger=upload`, {
      token: tokens.viewer,
    });
    expect(((await listed.json()) as { items: { id: string }[] }).items.map((b) => b.id)).toEqual([backupId]);
    const detail = await call('GET', `/api/admin/backups/${backupId}`);
    expect(await detail.json()).toMatchObject({ id: backupId, trigger: 'upload', status: 'completed' });

    // Restorable: the stored copy unpacks cleanly and its dump restores into a fresh database.
    const extracted = await extractArchive({
      file: path.join(storageDir, backup.storageKey),
      destination: path.join(scratchDir('upload-restore'), 'out'),
      expectedSha256: built.sha256,
    });
    const restored = await createDatabase('uploaded');
    restoreDumpByHand(restored, extracted.files.get(`database/${sourceDatabase}.dump`)!);
    expect(
      await sql(restored, 'select count(*)::int as n, sum(amount)::text as total from invoices'),
    ).toEqual([{ n: 500, total: '156562.50' }]);

    const again = await upload(bytes);
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({
      code: 'CONFLICT',
      message: expect.stringContaining(backupId) as unknown,
    });
  });

  it('gives an archive whose backup id is already taken a new id, and attaches it to the target named in the query', async () => {
    const taken = randomUUID();
    const first = await upload((await realArchive({ backupId: taken, compression: 'gzip' })).bytes);
    expect(first.status).toBe(201);
    const { bytes, built } = await realArchive({
      backupId: taken,
      compression: 'none',
      target: 'made-on-another-server',
      document: 'a different document\n',
    });
    const second = await upload(bytes, `?target=${targetId}`);
    expect(second.status).toBe(201);
    expect(second.body.id).not.toBe(taken);
    expect(second.body).toMatchObject({ targetName, trigger: 'upload', sha256: built.sha256 });
    expect(second.body.storageKey).toMatch(/\.tar$/);
    expect(sha256(readFileSync(path.join(storageDir, second.body.storageKey as string)))).toBe(built.sha256);
  });

  it("stores an upload in each of its target's own destinations, as the target's backups are, not in the default storage", async () => {
    const s = stack();
    const [primary, secondary] = [scratchDir('upload-primary'), scratchDir('upload-secondary')];
    const name = `${targetName}-own`;
    const created = await call('POST', '/api/admin/targets', {
      json: {
        name,
        url: `postgres://${s.pgSuperuser}:${s.pgPassword}@127.0.0.1:${s.pgPort}/${sourceDatabase}`,
        destinations: [`file://${primary}`, `file://${secondary}`],
      },
    });
    expect(created.status).toBe(201);
    const { bytes, built } = await realArchive({ backupId: randomUUID() });
    const uploaded = await upload(bytes, `?target=${name}`);
    expect(uploaded.status).toBe(201);
    const key = uploaded.body.storageKey as string;
    expect(uploaded.body).toMatchObject({
      targetName: name,
      storageUrl: `file://${primary}`,
      copies: [
        { position: 0, storageUrl: `file://${primary}`, status: 'completed' },
        { position: 1, storageUrl: `file://${secondary}`, status: 'completed' },
      ],
    });
    for (const dir of [primary, secondary]) {
      expect(sha256(readFileSync(path.join(dir, key)))).toBe(built.sha256);
      expect(existsSync(path.join(dir, `${key}.manifest.json`))).toBe(true);
    }
    expect(existsSync(path.join(storageDir, key))).toBe(false);
  });

  it('refuses path traversal with 400 VALIDATION_FAILED and writes nothing outside the staging directory', async () => {
    const before = await leftovers();
    for (const depth of [1, 2, 3, 4]) {
      const name = `escaped-${randomBytes(4).toString('hex')}.txt`;
      const tar = await craftedTar([
        { name: 'documents/ok.txt', body: 'harmless' },
        { name: `${'../'.repeat(depth)}${name}`, body: 'evil' },
        { name: 'manifest.json', body: '{}' },
      ]);
      const refused = await upload(tar);
      expect(refused.status, `depth ${depth}`).toBe(400);
      expect(refused.body.error).toMatchObject({
        code: 'VALIDATION_FAILED',
        message: expect.stringContaining('Unsafe path') as unknown,
      });
      for (const place of everywhereAbove(name)) expect(existsSync(place), place).toBe(false);
    }
    expect(await leftovers()).toEqual(before);
    expect(before.staging).toEqual([]);
  });

  it('refuses absolute paths, symbolic links and hard links with 400 VALIDATION_FAILED', async () => {
    const before = await leftovers();
    const outside = scratchDir('upload-outside');
    const attempts = [
      [{ name: path.join(outside, 'absolute.txt'), body: 'evil' }],
      [
        { name: 'documents/link', type: 'symlink' as const, linkname: outside },
        { name: 'documents/link/through-link.txt', body: 'evil' },
      ],
      [{ name: 'documents/hard', type: 'link' as const, linkname: '/etc/passwd' }],
    ];
    for (const entries of attempts) {
      const refused = await upload(await craftedTar(entries));
      expect(refused.status, entries[0]!.name).toBe(400);
      expect(refused.body.error?.code).toBe('VALIDATION_FAILED');
    }
    expect(readdirSync(outside)).toEqual([]);
    expect(await leftovers()).toEqual(before);
  });

  it('refuses a file that differs from its manifest sha256 with 422 CHECKSUM_MISMATCH and stores nothing', async () => {
    const before = await leftovers();
    const { bytes } = await realArchive({ compression: 'none' });
    // The dump is the first entry: its bytes start right after the 512-byte tar header.
    bytes[512 + 200]! ^= 0x01;
    const refused = await upload(bytes);
    expect(refused.status).toBe(422);
    expect(refused.body.error).toMatchObject({
      code: 'CHECKSUM_MISMATCH',
      message: expect.stringContaining(`database/${sourceDatabase}.dump`) as unknown,
    });

    const good = await realArchive();
    const wrongSha = await upload(good.bytes, `?sha256=${'0'.repeat(64)}`);
    expect(wrongSha.status).toBe(422);
    expect(wrongSha.body.error?.code).toBe('CHECKSUM_MISMATCH');
    expect(await leftovers()).toEqual(before);
  });

  it('refuses what is not an unencrypted Lifeboat archive with a 4xx and keeps nothing', async () => {
    const before = await leftovers();
    const notArchive = await upload(Buffer.from('this is not an archive at all\n'.repeat(40)));
    expect(notArchive.status).toBe(400);
    expect(notArchive.body.error?.code).toBe('VALIDATION_FAILED');

    const gzippedText = await upload(gzipSync(Buffer.from('plain text, gzipped')));
    expect(gzippedText.status).toBe(422);
    expect(gzippedText.body.error?.code).toBe('CHECKSUM_MISMATCH');

    const encrypted = await upload(Buffer.from('age-encryption.org/v1\n-> X25519 abc\n---\x00binary'));
    expect(encrypted.status).toBe(400);
    expect(encrypted.body.error).toMatchObject({
      code: 'VALIDATION_FAILED',
      message: expect.stringContaining('unencrypted') as unknown,
    });

    const empty = await call('POST', '/api/admin/backups/upload', {
      body: Buffer.alloc(0),
    });
    expect(empty.status).toBe(400);

    const noManifest = await upload(await craftedTar([{ name: 'documents/a.txt', body: 'a' }]));
    expect(noManifest.status).toBe(422);
    expect(noManifest.body.error?.message).toContain('no manifest.json');
    expect(await leftovers()).toEqual(before);
  });

  it('refuses an archive over the size limit with 400, streamed or announced, and removes what it staged', async () => {
    const before = await leftovers();
    const limited = createApp({
      ...deps,
      upload: { stagingDir, limits: { maxUploadBytes: 1024 } },
    });
    const { bytes } = await realArchive();
    expect(bytes.length).toBeGreaterThan(1024);
    const streamed = await upload(bytes, '', {}, limited);
    expect(streamed.status).toBe(400);
    expect(streamed.body.error).toMatchObject({
      code: 'VALIDATION_FAILED',
      details: { maxUploadBytes: 1024 },
    });
    const announced = await upload(
      bytes,
      '',
      { headers: { 'content-length': String(bytes.length) } },
      limited,
    );
    expect(announced.status).toBe(400);
    expect(announced.body.error?.code).toBe('VALIDATION_FAILED');
    expect(await leftovers()).toEqual(before);
  });

  it('refuses an archive whose manifest time lies in the future with 400 and keeps nothing', async () => {
    // Within the clock skew it is an ordinary upload.
    const skewed = await upload((await realArchive({ startedAt: new Date(Date.now() + 60_000) })).bytes);
    expect(skewed.status, JSON.stringify(skewed.body)).toBe(201);

    const before = await leftovers();
    const { bytes } = await realArchive({ startedAt: new Date(Date.now() + 24 * 3_600_000) });
    const refused = await upload(bytes);
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({
      code: 'VALIDATION_FAILED',
      message: expect.stringContaining('lies in the future') as unknown,
    });
    expect(await leftovers()).toEqual(before);
  });

  it('refuses oversized path and pax headers, an oversized manifest.json and too many unpacked bytes with 400', async () => {
    const before = await leftovers();
    const longPath = await craftedTar([{ name: `documents/${'x'.repeat(70_000)}`, body: 'x' }]);
    const header = await upload(longPath);
    expect(header.status).toBe(400);
    expect(header.body.error).toMatchObject({
      code: 'VALIDATION_FAILED',
      message: expect.stringContaining('header') as unknown,
    });

    const bigManifest = await craftedTar([{ name: 'manifest.json', body: ' '.repeat(1024 * 1024) }]);
    const small = createApp({ ...deps, upload: { stagingDir, limits: { maxUnpackedBytes: 512 * 1024 } } });
    const unpacked = await upload(bigManifest, '', {}, small);
    expect(unpacked.status).toBe(400);
    expect(unpacked.body.error).toMatchObject({
      code: 'VALIDATION_FAILED',
      message: expect.stringContaining('unpacks to more than 524288 bytes') as unknown,
    });
    expect(await leftovers()).toEqual(before);
  });

  it('answers 403 to viewers and operators and 404 for a target that does not exist', async () => {
    const before = await leftovers();
    const { bytes } = await realArchive();
    for (const token of [tokens.viewer, tokens.operator]) {
      const refused = await upload(bytes, '', { token });
      expect(refused.status).toBe(403);
      expect(refused.body.error?.code).toBe('FORBIDDEN');
    }
    const unknownQuery = await upload(bytes, '?target=no-such-target');
    expect(unknownQuery.status).toBe(404);
    expect(unknownQuery.body.error?.code).toBe('NOT_FOUND');

    const foreign = await realArchive({ target: 'made-on-another-server' });
    const unknownManifest = await upload(foreign.bytes);
    expect(unknownManifest.status).toBe(404);
    expect(unknownManifest.body.error).toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining('made-on-another-server') as unknown,
    });
    expect(await leftovers()).toEqual(before);
  });

  it('is described in the OpenAPI document with the archive as a binary body', async () => {
    const doc = (await (await app.request('/api/openapi.json')).json()) as {
      paths: Record<string, Record<string, { requestBody: unknown; responses: Record<string, unknown> }>>;
    };
    const operation = doc.paths['/api/admin/backups/upload']?.post;
    expect(operation?.requestBody).toMatchObject({
      required: true,
      content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
    });
    expect(Object.keys(operation?.responses ?? {})).toEqual(
      expect.arrayContaining(['201', '400', '403', '404', '409', '422']),
    );
  });

  it('writes every attempt to the audit log, allowed or refused', async () => {
    const { bytes } = await realArchive();
    const accepted = await upload(bytes);
    expect(accepted.status).toBe(201);
    await upload(bytes, '', { token: tokens.viewer });
    await upload(await craftedTar([{ name: '../escape.txt', body: 'evil' }]));
    const { rows } = await db.query<{
      outcome: string;
      status: number;
      error_code: string | null;
      resource_id: string | null;
    }>(
      `select outcome, status, error_code, resource_id from audit_log
       where path = '/api/admin/backups/upload' and actor = any($1) order by id desc limit 3`,
      [[adminName, viewerName]],
    );
    expect(rows).toEqual([
      { outcome: 'failed', status: 400, error_code: 'VALIDATION_FAILED', resource_id: null },
      { outcome: 'denied', status: 403, error_code: 'FORBIDDEN', resource_id: null },
      { outcome: 'success', status: 201, error_code: null, resource_id: accepted.body.id },
    ]);
  });
});
