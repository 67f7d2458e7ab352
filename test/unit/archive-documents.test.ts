// The documents a backup reads: listed inside the allowed roots, then opened without following links, so
// that a file or a directory swapped for a link after the listing is never read.
import {
  mkdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listDocuments, writeArchive } from '../../archive/write.ts';
import { manifestBase } from '../support/manifest.ts';
import { tempDir } from '../support/temp-dirs.ts';

const secret = 'the contents of a file outside the documents directory';

function fixture() {
  const dir = realpathSync(tempDir('documents'));
  const docs = path.join(dir, 'docs');
  mkdirSync(path.join(docs, 'sub'), { recursive: true });
  writeFileSync(path.join(docs, 'a.txt'), 'alpha alpha alpha alpha alpha alpha alpha alpha alpha');
  writeFileSync(path.join(docs, 'sub', 'b.txt'), 'beta beta beta beta beta beta beta beta beta beta');
  const outside = path.join(dir, 'outside');
  mkdirSync(path.join(outside, 'sub'), { recursive: true });
  for (const file of ['a.txt', path.join('sub', 'b.txt')]) writeFileSync(path.join(outside, file), secret);
  return { dir, docs, outside, policy: { roots: [docs], own: [] } };
}

function archiveOf(dir: string, sources: Awaited<ReturnType<typeof listDocuments>>) {
  const outputFile = path.join(dir, `out-${Math.random().toString(16).slice(2)}.tar`);
  const written = writeArchive({
    sources,
    manifest: { ...manifestBase, archive: { compression: 'none' } },
    outputFile,
    compression: 'none',
  });
  return { written, outputFile };
}

describe('listDocuments and writeArchive', () => {
  it('do not follow a file swapped for a symbolic link after the listing: the backup is retried', async () => {
    const { dir, docs, outside, policy } = fixture();
    const sources = await listDocuments(docs, policy);
    rmSync(path.join(docs, 'a.txt'));
    symlinkSync(path.join(outside, 'a.txt'), path.join(docs, 'a.txt'));
    const { written, outputFile } = archiveOf(dir, sources);
    await expect(written).rejects.toMatchObject({ code: 'SOURCE_CHANGED' });
    expect(readFileSync(outputFile).includes(secret)).toBe(false);

    // The retry lists again and skips the link.
    const again = await listDocuments(docs, policy);
    expect(again.map((source) => source.entryName)).toEqual(['documents/sub/b.txt']);
  });

  it('do not read through a directory swapped for a link after the listing', async () => {
    const { dir, docs, outside, policy } = fixture();
    const sources = await listDocuments(docs, policy);
    renameSync(path.join(docs, 'sub'), path.join(dir, 'moved-away'));
    symlinkSync(path.join(outside, 'sub'), path.join(docs, 'sub'));
    const { written, outputFile } = archiveOf(dir, sources);
    await expect(written).rejects.toMatchObject({ code: 'SOURCE_CHANGED' });
    expect(readFileSync(outputFile).includes(secret)).toBe(false);
  });

  it('refuse a file replaced by another one, even a regular file', async () => {
    const { dir, docs, policy } = fixture();
    const sources = await listDocuments(docs, policy);
    // Written beside it and renamed over it, as editors save: another inode at the same path.
    const replacement = path.join(docs, '.a.txt.new');
    writeFileSync(replacement, 'alpha alpha alpha alpha alpha alpha alpha alpha alpha');
    renameSync(replacement, path.join(docs, 'a.txt'));
    await expect(archiveOf(dir, sources).written).rejects.toMatchObject({ code: 'SOURCE_CHANGED' });
  });

  it('refuse a documents directory the policy does not allow before reading anything', async () => {
    const { docs, outside } = fixture();
    await expect(listDocuments(outside, { roots: [docs], own: [] })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
    });
    await expect(listDocuments(docs, { roots: [docs], own: [path.join(docs, 'sub')] })).rejects.toMatchObject(
      {
        code: 'VALIDATION_FAILED',
      },
    );
  });
});
