// Reading archives back: checksums before anything is unpacked, no entry may leave the staging directory.
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import tarStream from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { extractArchive, safeEntryPath } from '../../archive/read.ts';
import { writeArchive } from '../../archive/write.ts';
import { manifestBase } from '../support/manifest.ts';
import { tempDir } from '../support/temp-dirs.ts';

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

async function goodArchive() {
  const dir = tempDir('reader');
  const dump = path.join(dir, 'dump.bin');
  writeFileSync(dump, Buffer.from(Array.from({ length: 50_000 }, (_, i) => (i * 13) % 256)));
  const doc = path.join(dir, 'doc.txt');
  writeFileSync(doc, 'a document');
  const file = path.join(dir, 'archive.tar.zst');
  const built = await writeArchive({
    sources: [
      { entryName: 'database/shop.dump', file: dump, sizeBytes: 50_000, mtime: new Date() },
      { entryName: 'documents/doc.txt', file: doc, sizeBytes: 10, mtime: new Date() },
    ],
    manifest: manifestBase,
    outputFile: file,
    compression: 'zstd',
  });
  return { dir, file, built, dump };
}

/** A plain tar with the given entries, made by hand to hold what Lifeboat would never write. */
async function craftedTar(
  dir: string,
  entries: { name: string; body?: string; type?: 'file' | 'symlink'; linkname?: string }[],
) {
  const pack = tarStream.pack();
  const file = path.join(dir, 'crafted.tar');
  const done = pipeline(pack, createWriteStream(file));
  for (const entry of entries) {
    if (entry.type === 'symlink')
      pack.entry({ name: entry.name, type: 'symlink', linkname: entry.linkname ?? '/etc/passwd' });
    else pack.entry({ name: entry.name }, entry.body ?? '');
  }
  pack.finalize();
  await done;
  return file;
}

describe('extractArchive', () => {
  it('unpacks a good archive and checks every file against the manifest', async () => {
    const { dir, file, built, dump } = await goodArchive();
    const result = await extractArchive({
      file,
      destination: path.join(dir, 'out'),
      expectedSha256: built.sha256,
    });
    expect(result.sha256).toBe(built.sha256);
    expect(result.manifest).toEqual(built.manifest);
    expect(readFileSync(result.files.get('database/shop.dump')!).equals(readFileSync(dump))).toBe(true);
    expect(readFileSync(result.files.get('documents/doc.txt')!, 'utf8')).toBe('a document');
  });

  it('refuses a flipped byte with CHECKSUM_MISMATCH before unpacking anything', async () => {
    const { dir, file, built } = await goodArchive();
    const bytes = readFileSync(file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    writeFileSync(file, bytes);
    const destination = path.join(dir, 'out');
    await expect(extractArchive({ file, destination, expectedSha256: built.sha256 })).rejects.toMatchObject({
      code: 'CHECKSUM_MISMATCH',
    });
    expect(existsSync(destination)).toBe(false);
  });

  it('notices a flipped byte even without a recorded checksum, and leaves nothing behind', async () => {
    const { dir, file } = await goodArchive();
    const bytes = readFileSync(file);
    bytes[Math.floor(bytes.length / 3)]! ^= 0x40;
    writeFileSync(file, bytes);
    const destination = path.join(dir, 'out');
    await expect(extractArchive({ file, destination })).rejects.toMatchObject({ code: 'CHECKSUM_MISMATCH' });
    expect(existsSync(destination)).toBe(false);
  });

  it('refuses path traversal and writes nothing outside the staging directory', async () => {
    const dir = tempDir('reader');
    const file = await craftedTar(dir, [
      { name: 'documents/ok.txt', body: 'ok' },
      { name: '../../escaped.txt', body: 'evil' },
    ]);
    await expect(extractArchive({ file, destination: path.join(dir, 'out') })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      message: expect.stringContaining('Unsafe path') as unknown,
    });
    expect(existsSync(path.join(dir, 'escaped.txt'))).toBe(false);
    expect(existsSync(path.resolve(dir, '..', 'escaped.txt'))).toBe(false);
    expect(existsSync(path.join(dir, 'out'))).toBe(false);
  });

  it('refuses links, absolute paths and files the manifest does not list', async () => {
    const dir = tempDir('reader');
    const link = await craftedTar(dir, [{ name: 'documents/link', type: 'symlink' }]);
    await expect(extractArchive({ file: link, destination: path.join(dir, 'a') })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
    });
    const absolute = await craftedTar(dir, [{ name: '/etc/cron.d/evil', body: 'x' }]);
    await expect(extractArchive({ file: absolute, destination: path.join(dir, 'b') })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
    });
    const manifest = JSON.stringify({ ...manifestBase, files: [] });
    const extra = await craftedTar(dir, [
      { name: 'documents/extra.txt', body: 'x' },
      { name: 'manifest.json', body: manifest },
    ]);
    await expect(extractArchive({ file: extra, destination: path.join(dir, 'c') })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      message: expect.stringContaining('not in the manifest') as unknown,
    });
  });

  it('refuses a file whose content differs from its manifest sha256', async () => {
    const dir = tempDir('reader');
    const manifest = JSON.stringify({
      ...manifestBase,
      files: [{ path: 'database/shop.dump', sizeBytes: 5, sha256: sha256('other') }],
    });
    const file = await craftedTar(dir, [
      { name: 'database/shop.dump', body: 'hello' },
      { name: 'manifest.json', body: manifest },
    ]);
    await expect(extractArchive({ file, destination: path.join(dir, 'out') })).rejects.toMatchObject({
      code: 'CHECKSUM_MISMATCH',
    });
  });
});

describe('safeEntryPath', () => {
  it('keeps plain relative paths and refuses the rest', () => {
    expect(safeEntryPath('documents/a/b.txt')).toBe('documents/a/b.txt');
    expect(safeEntryPath('documents/dir/')).toBe('documents/dir');
    for (const bad of ['', '/abs', '../x', 'a/../b', 'a/./b', 'a//b', 'C:/win', 'a\\b', 'nul\0byte']) {
      expect(safeEntryPath(bad), bad).toBeUndefined();
    }
  });
});
