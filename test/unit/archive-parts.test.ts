// The streamed layout: a dump spooled while it is written, archived as bounded parts, joined again on reading.
import { createHash } from 'node:crypto';
import { appendFileSync, createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tarStream from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { DumpSpool, spooledParts } from '../../archive/dump-spool.ts';
import { extractArchive } from '../../archive/read.ts';
import { writeArchive, type ArchiveSource } from '../../archive/write.ts';
import type { ManifestFile } from '../../domain/manifest.ts';
import { dumpPartEntryName, parseDumpPartEntryName } from '../../domain/naming.ts';
import { manifestBase } from '../support/manifest.ts';
import { tempDir } from '../support/temp-dirs.ts';

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
const bounds = { minBytes: 1000, maxBytes: 7000 };

/** Bytes whose pattern shifts every 256 bytes, so that a misplaced part would show. */
function dumpBytes(length: number): Buffer {
  return Buffer.from(Array.from({ length }, (_, i) => (i * 31 + (i >> 8) * 7) % 256));
}

const partsOf = (files: readonly ManifestFile[]) => {
  const parts = files.filter((file) => parseDumpPartEntryName(file.path));
  return {
    path: 'database/shop.dump',
    sizeBytes: parts.reduce((sum, part) => sum + part.sizeBytes, 0),
    parts: parts.map((part) => part.path),
  };
};

/**
 * An archive of the new layout, made as the backup makes it: the dump file grows by small appends, at
 * intervals, while the archive is already being written from it.
 */
async function streamedArchive(dumpLength = 50_000, copyTo?: PassThrough) {
  const dir = tempDir('parts');
  const content = dumpBytes(dumpLength);
  const spoolFile = path.join(dir, 'spool.dump');
  writeFileSync(spoolFile, '');
  const feeding = (async () => {
    for (let offset = 0; offset < content.length; offset += 1500) {
      appendFileSync(spoolFile, content.subarray(offset, offset + 1500));
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  })();
  const spool = new DumpSpool(spoolFile, feeding);
  const doc = path.join(dir, 'doc.txt');
  writeFileSync(doc, 'a document');
  async function* sources(): AsyncGenerator<ArchiveSource> {
    yield* spooledParts(spool, (index) => dumpPartEntryName('shop', index), bounds);
    yield { entryName: 'documents/doc.txt', file: doc, sizeBytes: 10, mtime: new Date() };
  }
  const file = path.join(dir, 'archive.tar.zst');
  const built = await writeArchive({
    sources: sources(),
    manifest: (files) => ({ ...manifestBase, formatVersion: 2, dumpParts: partsOf(files) }),
    outputFile: file,
    compression: 'zstd',
    ...(copyTo ? { copyTo } : {}),
  });
  return { dir, file, built, content };
}

/** A plain tar with these entries in this order, for archives Lifeboat would never write. */
async function tarOf(dir: string, entries: { name: string; body: Buffer | string }[]) {
  const pack = tarStream.pack();
  const file = path.join(dir, `crafted-${entries.length}.tar`);
  const done = pipeline(pack, createWriteStream(file));
  for (const entry of entries) pack.entry({ name: entry.name }, entry.body);
  pack.finalize();
  await done;
  return file;
}

describe('the streamed archive layout', () => {
  it('writes the dump as ordered parts no larger than the bound, listed with their sha256 in the manifest', async () => {
    const { built, content } = await streamedArchive();
    const parts = built.manifest.files.filter((file) => file.path.startsWith('database/'));
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.map((part) => part.path)).toEqual(parts.map((_, index) => dumpPartEntryName('shop', index)));
    expect(parts.every((part) => part.sizeBytes <= bounds.maxBytes)).toBe(true);
    expect(built.manifest.dumpParts).toEqual({
      path: 'database/shop.dump',
      sizeBytes: content.length,
      parts: parts.map((part) => part.path),
    });
    let offset = 0;
    for (const part of parts) {
      expect(part.sha256).toBe(sha256(content.subarray(offset, offset + part.sizeBytes)));
      offset += part.sizeBytes;
    }
    expect(built.manifest.files.at(-1)?.path).toBe('documents/doc.txt');
  });

  it('extracts the parts joined into one dump file, byte for byte the dump', async () => {
    const { dir, file, built, content } = await streamedArchive();
    const result = await extractArchive({
      file,
      destination: path.join(dir, 'out'),
      expectedSha256: built.sha256,
    });
    expect([...result.files.keys()].sort()).toEqual(['database/shop.dump', 'documents/doc.txt']);
    expect(readFileSync(result.files.get('database/shop.dump')!).equals(content)).toBe(true);
    expect(result.manifest).toEqual(built.manifest);
  });

  it('sends the same bytes to the copy it streams to as it writes to the archive file', async () => {
    const copy = new PassThrough();
    const chunks: Buffer[] = [];
    copy.on('data', (chunk: Buffer) => chunks.push(chunk));
    const { file } = await streamedArchive(30_000, copy);
    expect(Buffer.concat(chunks).equals(readFileSync(file))).toBe(true);
  });

  it('still yields one, empty, part for an empty dump', async () => {
    const { built } = await streamedArchive(0);
    expect(built.manifest.dumpParts).toEqual({
      path: 'database/shop.dump',
      sizeBytes: 0,
      parts: ['database/shop.dump.000000'],
    });
  });

  it('fails the archive with the dump when pg_dump ends badly', async () => {
    const dir = tempDir('parts');
    const spoolFile = path.join(dir, 'spool.dump');
    writeFileSync(spoolFile, dumpBytes(3000));
    const spool = new DumpSpool(spoolFile, Promise.reject(new Error('pg_dump failed: boom')));
    await expect(
      writeArchive({
        sources: spooledParts(spool, (index) => dumpPartEntryName('shop', index), bounds),
        manifest: manifestBase,
        outputFile: path.join(dir, 'archive.tar'),
        compression: 'none',
      }),
    ).rejects.toThrow('boom');
  });
});

describe('reading a dump written as parts', () => {
  const good = (bodies: string[]) => {
    const files = bodies.map((body, index) => ({
      path: dumpPartEntryName('shop', index),
      sizeBytes: body.length,
      sha256: sha256(body),
    }));
    return { ...manifestBase, formatVersion: 2, files, dumpParts: partsOf(files) };
  };

  it('refuses a part whose bytes were changed with CHECKSUM_MISMATCH', async () => {
    const dir = tempDir('parts');
    const manifest = JSON.stringify(good(['first part', 'second part']));
    const file = await tarOf(dir, [
      { name: 'database/shop.dump.000000', body: 'first part' },
      { name: 'database/shop.dump.000001', body: 'secondXpart' },
      { name: 'manifest.json', body: manifest },
    ]);
    await expect(extractArchive({ file, destination: path.join(dir, 'out') })).rejects.toMatchObject({
      code: 'CHECKSUM_MISMATCH',
      message: expect.stringContaining('database/shop.dump.000001') as unknown,
    });
  });

  it('refuses parts out of order, a part missing from the manifest, and a dump both whole and in parts', async () => {
    const dir = tempDir('parts');
    const manifest = JSON.stringify(good(['first part', 'second part']));
    const swapped = await tarOf(dir, [
      { name: 'database/shop.dump.000001', body: 'second part' },
      { name: 'database/shop.dump.000000', body: 'first part' },
      { name: 'manifest.json', body: manifest },
    ]);
    await expect(extractArchive({ file: swapped, destination: path.join(dir, 'a') })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
    });
    const dropped = await tarOf(dir, [
      { name: 'database/shop.dump.000000', body: 'first part' },
      { name: 'manifest.json', body: manifest },
    ]);
    await expect(extractArchive({ file: dropped, destination: path.join(dir, 'b') })).rejects.toMatchObject({
      code: 'CHECKSUM_MISMATCH',
    });
    const both = await tarOf(dir, [
      { name: 'database/shop.dump.000000', body: 'first part' },
      { name: 'database/shop.dump', body: 'whole' },
      { name: 'manifest.json', body: manifest },
    ]);
    await expect(extractArchive({ file: both, destination: path.join(dir, 'c') })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      message: expect.stringContaining('appears twice') as unknown,
    });
  });

  it('refuses parts whose manifest does not describe them as a dump', async () => {
    const dir = tempDir('parts');
    const manifest: Partial<ReturnType<typeof good>> = good(['first part']);
    delete manifest.dumpParts;
    const file = await tarOf(dir, [
      { name: 'database/shop.dump.000000', body: 'first part' },
      { name: 'manifest.json', body: JSON.stringify(manifest) },
    ]);
    await expect(extractArchive({ file, destination: path.join(dir, 'out') })).rejects.toMatchObject({
      code: 'CHECKSUM_MISMATCH',
    });
  });
});
