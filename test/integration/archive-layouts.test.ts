// Both archive layouts, end to end: a streamed backup whose dump spans several parts, restored through
// Lifeboat and by hand with the README's commands; an archive of the old layout (one dump entry) and one of
// the new, uploaded and restored; a changed part refused.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeArchive, type ArchiveSource } from '../../archive/write.ts';
import { getBackup } from '../../catalog/backups.ts';
import type { Compression } from '../../domain/naming.ts';
import { dumpEntryName, dumpPartEntryName } from '../../domain/naming.ts';
import { dumpByHand, restoreDumpByHand } from '../harness/fixtures.ts';
import { backUp, snapshot, startRestore, waitForRestore, type DatabaseSnapshot } from '../harness/restore.ts';
import { createDatabase, scratchDir, sql, useStack } from '../harness/stack.ts';

const s = useStack();
let source: string;
let target: { id: string; name: string };
let atBackup: DatabaseSnapshot;
let dumpFile: string;

// Over 64 MiB of random bytes (incompressible, as a real database's files and images are), so that the
// dump cannot fit in one part whatever the timing.
beforeAll(async () => {
  source = await createDatabase('layout');
  await sql(
    source,
    `create extension if not exists pgcrypto;
     create table blobs (id int primary key, body bytea not null);
     insert into blobs select g, gen_random_bytes(1024) from generate_series(1, 72000) g;
     create table notes (id serial primary key, note text);
     insert into notes (note) select 'note ' || g from generate_series(1, 2000) g;`,
  );
  target = await s.createTarget(`layout-${source.slice(-8)}`, source);
  atBackup = await snapshot(source);
  dumpFile = path.join(scratchDir('layout-dump'), 'source.dump');
  dumpByHand(source, dumpFile);
}, 300_000);

/** The archive of the old layout (the dump as one entry) or of the new (as parts of `partBytes`). */
async function archiveOf(layout: 'whole' | 'parts', compression: Compression, partBytes = 8 * 1024 ** 2) {
  const size = statSync(dumpFile).size;
  const now = new Date();
  const sources: ArchiveSource[] = [];
  if (layout === 'whole') {
    sources.push({ entryName: dumpEntryName(source), file: dumpFile, sizeBytes: size, mtime: now });
  } else {
    for (let start = 0, index = 0; start < size; start += partBytes, index++) {
      const sizeBytes = Math.min(partBytes, size - start);
      sources.push({
        entryName: dumpPartEntryName(source, index),
        file: dumpFile,
        start,
        sizeBytes,
        mtime: now,
      });
    }
  }
  const file = path.join(scratchDir('layout-archive'), `archive-${layout}`);
  const built = await writeArchive({
    sources,
    manifest: {
      formatVersion: layout === 'whole' ? 1 : 2,
      lifeboatVersion: 'elsewhere',
      backupId: randomUUID(),
      target: target.name,
      database: { name: source, serverVersion: '15', serverVersionNum: 150000, sizeBytes: 1 },
      pgDump: { version: '15', format: 'custom', compression: 'none' },
      archive: { compression },
      trigger: 'manual',
      startedAt: new Date(now.getTime() - 60_000).toISOString(),
      dumpFinishedAt: new Date(now.getTime() - 55_000).toISOString(),
      ...(layout === 'parts'
        ? {
            dumpParts: {
              path: dumpEntryName(source),
              sizeBytes: size,
              parts: sources.map((part) => part.entryName),
            },
          }
        : {}),
      tables: [],
      documents: null,
      options: { tags: [] },
    },
    outputFile: file,
    compression,
  });
  return { bytes: readFileSync(file), built, sources };
}

async function upload(body: Buffer) {
  const response = await s.api.app.request(`/api/admin/backups/upload?target=${target.name}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${s.api.tokens.admin}`, 'content-type': 'application/octet-stream' },
    body: new Uint8Array(body),
  });
  return {
    status: response.status,
    body: (await response.json()) as { id?: string; error?: { code: string; message: string } },
  };
}

/** A full restore of the backup into a new database, through the API; returns the database's name. */
async function restoreThroughLifeboat(backupId: string): Promise<string> {
  const name = `layout_new_${Date.now().toString(36)}`;
  const { operationId } = await startRestore(s.api, backupId, {
    mode: 'full',
    destination: { database: name },
  });
  expect(await waitForRestore(s.api, operationId)).toMatchObject({ status: 'completed' });
  return name;
}

describe('a streamed backup', () => {
  it('writes a dump larger than one part as several parts, which restore through Lifeboat and by hand', async () => {
    const backupId = await backUp(s.api, target.name);
    const backup = await getBackup(s.db, backupId);
    const parts = backup.manifest!.dumpParts!;
    expect(parts.path).toBe(dumpEntryName(source));
    expect(parts.parts.length).toBeGreaterThan(1);
    expect(parts.parts).toEqual(parts.parts.map((_, index) => dumpPartEntryName(source, index)));

    expect(await snapshot(await restoreThroughLifeboat(backupId))).toEqual(atBackup);

    // By hand, with the README's commands as separate programs: zstd, tar, cat, sha256sum, pg_restore -j 2.
    const work = scratchDir('layout-by-hand');
    const archive = path.join(s.storageDir, backup.storageKey!);
    execFileSync('sh', ['-c', 'cd "$1" && zstd -dc "$2" | tar -x', 'sh', work, archive]);
    expect(readdirSync(path.join(work, 'database')).sort()).toEqual(parts.parts.map((p) => path.basename(p)));
    const sums = backup.manifest!.files.map((file) => `${file.sha256}  ${file.path}\n`).join('');
    execFileSync('sha256sum', ['--check', '--quiet', '--strict', '-'], { cwd: work, input: sums });
    const joined = path.join(work, `${source}.dump`);
    execFileSync('sh', ['-c', 'cd "$1" && cat database/"$2".dump.* > "$2".dump', 'sh', work, source]);
    expect(statSync(joined).size).toBe(parts.sizeBytes);
    const byHand = await createDatabase('layout_hand');
    restoreDumpByHand(byHand, joined, 2);
    expect(await snapshot(byHand)).toEqual(atBackup);
  });
});

describe('archives of both layouts made elsewhere', () => {
  it('registers and restores an archive of the old layout, the dump as one entry', async () => {
    const { bytes } = await archiveOf('whole', 'zstd');
    const uploaded = await upload(bytes);
    expect(uploaded.status, JSON.stringify(uploaded.body)).toBe(201);
    expect(await snapshot(await restoreThroughLifeboat(uploaded.body.id!))).toEqual(atBackup);
  });

  it('registers and restores an archive of the new layout, the dump as parts', async () => {
    const { bytes, sources } = await archiveOf('parts', 'gzip');
    expect(sources.length).toBeGreaterThan(1);
    const uploaded = await upload(bytes);
    expect(uploaded.status, JSON.stringify(uploaded.body)).toBe(201);
    expect(await snapshot(await restoreThroughLifeboat(uploaded.body.id!))).toEqual(atBackup);
  });

  it('refuses an archive of the new layout whose second part was changed with CHECKSUM_MISMATCH', async () => {
    const partBytes = 1024 ** 2;
    const { bytes } = await archiveOf('parts', 'none', partBytes);
    // Uncompressed: the second part's bytes follow the first part and the two 512-byte headers.
    bytes[512 + partBytes + 512 + 100]! ^= 0x01;
    const refused = await upload(bytes);
    expect(refused.status).toBe(422);
    expect(refused.body.error).toMatchObject({
      code: 'CHECKSUM_MISMATCH',
      message: expect.stringContaining(dumpPartEntryName(source, 1)) as unknown,
    });
  });
});
