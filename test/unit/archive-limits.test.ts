// The reader's bounds on what an archive may make it hold in memory: long path and pax headers, and
// manifest.json.
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import tarStream from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { extractArchive } from '../../archive/read.ts';
import { tempDir } from '../support/temp-dirs.ts';

async function tarOf(entries: { name: string; body: string; pax?: Record<string, string> }[]) {
  const dir = tempDir('limits');
  const file = path.join(dir, 'crafted.tar');
  const pack = tarStream.pack();
  const done = pipeline(pack, createWriteStream(file));
  for (const entry of entries) {
    // tar-stream writes a pax header for `pax`, which its types do not name.
    const header = { name: entry.name, ...(entry.pax ? { pax: entry.pax } : {}) };
    pack.entry(header, entry.body);
  }
  pack.finalize();
  await done;
  return { file, destination: path.join(dir, 'out') };
}

describe('extractArchive limits', () => {
  it('refuses a path longer than maxHeaderBytes with VALIDATION_FAILED', async () => {
    const archive = await tarOf([{ name: `documents/${'a'.repeat(2_000)}`, body: 'x' }]);
    await expect(extractArchive({ ...archive, limits: { maxHeaderBytes: 1_024 } })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      message: expect.stringContaining('header') as unknown,
    });
  });

  it('refuses pax records longer than maxHeaderBytes', async () => {
    const archive = await tarOf([{ name: 'documents/a', body: 'x', pax: { comment: 'c'.repeat(4_000) } }]);
    await expect(extractArchive({ ...archive, limits: { maxHeaderBytes: 1_024 } })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
    });
  });

  it('refuses a manifest.json larger than maxManifestBytes before reading it', async () => {
    const archive = await tarOf([{ name: 'manifest.json', body: `{"x":"${'m'.repeat(5_000)}"}` }]);
    await expect(extractArchive({ ...archive, limits: { maxManifestBytes: 4_096 } })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      message: expect.stringContaining('manifest.json is larger than 4096 bytes') as unknown,
    });
  });
});
