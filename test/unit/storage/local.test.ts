// The storage contract on a local directory, plus what only the local backend promises.
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { expect, it } from 'vitest';
import { createLocalStorage } from '../../../storage/local/backend.ts';
import { describeStorageContract } from '../../storage/contract.ts';
import { tempDir } from '../../support/temp-dirs.ts';

describeStorageContract('local', () => Promise.resolve(createLocalStorage(tempDir('local'))));

it('writes archives readable by their owner only', async () => {
  const root = tempDir('local');
  const storage = createLocalStorage(root);
  await storage.put('t/archive.tar', Readable.from([Buffer.from('secret rows')]));
  expect(statSync(path.join(root, 't', 'archive.tar')).mode & 0o777).toBe(0o600);
  expect(readdirSync(path.join(root, 't'))).toEqual(['archive.tar']);
});
