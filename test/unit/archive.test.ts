// The archive writer: a tar that system tar reads, every file hashed, the manifest last and complete.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { countBytes, digestStream, listDocuments, writeArchive } from '../../archive/write.ts';
import type { Manifest } from '../../domain/manifest.ts';
import { manifestBase } from '../support/manifest.ts';
import { tempDir } from '../support/temp-dirs.ts';

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

function fixture() {
  const dir = tempDir('archive');
  const dump = path.join(dir, 'dump.bin');
  writeFileSync(dump, Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256)));
  const docs = path.join(dir, 'docs');
  mkdirSync(path.join(docs, 'b'), { recursive: true });
  writeFileSync(path.join(docs, 'b', 'z.txt'), 'zed');
  writeFileSync(path.join(docs, 'a.txt'), 'alpha');
  writeFileSync(path.join(docs, 'empty'), '');
  return { dir, dump, docs };
}

describe('writeArchive', () => {
  it.each(['zstd', 'gzip', 'none'] as const)(
    'writes a %s tar whose entries, manifest and checksums agree',
    async (compression) => {
      const { dir, dump, docs } = fixture();
      const documents = await listDocuments(docs, { roots: [dir], own: [] });
      expect(documents.map((d) => d.entryName)).toEqual([
        'documents/a.txt',
        'documents/b/z.txt',
        'documents/empty',
      ]);
      const output = path.join(dir, 'out.tar');
      const built = await writeArchive({
        sources: [
          { entryName: 'database/shop.dump', file: dump, sizeBytes: 70_000, mtime: new Date() },
          ...documents,
        ],
        manifest: { ...manifestBase, archive: { compression } },
        outputFile: output,
        compression,
      });

      const archive = readFileSync(output);
      const magic = archive.subarray(0, 4).toString('hex');
      expect(magic.startsWith({ zstd: '28b52ffd', gzip: '1f8b', none: '' }[compression])).toBe(true);
      expect(built.sizeBytes).toBe(archive.length);
      expect(built.sha256).toBe(sha256(archive));
      expect(built.md5).toBe(createHash('md5').update(archive).digest('hex'));
      expect(execFileSync('tar', ['-tf', output], { encoding: 'utf8' }).trim().split('\n')).toEqual([
        'database/shop.dump',
        'documents/a.txt',
        'documents/b/z.txt',
        'documents/empty',
        'manifest.json',
      ]);
      const extracted = path.join(dir, 'x');
      mkdirSync(extracted);
      execFileSync('tar', ['-xf', output, '-C', extracted]);
      const manifest = JSON.parse(readFileSync(path.join(extracted, 'manifest.json'), 'utf8')) as Manifest;
      expect(manifest).toEqual(built.manifest);
      for (const file of manifest.files)
        expect(sha256(readFileSync(path.join(extracted, file.path)))).toBe(file.sha256);
    },
  );

  it('fails, retryably, when a file shrinks while it is archived', async () => {
    const { dir, dump } = fixture();
    await expect(
      writeArchive({
        sources: [{ entryName: 'database/shop.dump', file: dump, sizeBytes: 90_000, mtime: new Date() }],
        manifest: manifestBase,
        outputFile: path.join(dir, 'bad.tar'),
        compression: 'none',
      }),
    ).rejects.toMatchObject({ code: 'SOURCE_CHANGED' });
  });
});

describe('countBytes', () => {
  it('loses nothing when the consumer starts reading later', async () => {
    const body = Buffer.from('x'.repeat(10_000));
    let counted = 0;
    const stream = countBytes(Readable.from([body.subarray(0, 4000), body.subarray(4000)]), (total) => {
      counted = total;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await digestStream(stream)).toEqual({ sha256: sha256(body), sizeBytes: body.length });
    expect(counted).toBe(body.length);
  });
});
