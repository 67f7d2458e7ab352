// The storage contract as tests: every backend runs this one suite against a real server or directory.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { putLocalFile, type Storage } from '../../storage/storage.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LifeboatError } from '../../domain/errors.ts';
import { failingBody, readAll } from '../support/streams.ts';

export function describeStorageContract(name: string, open: () => Promise<Storage>): void {
  describe(`${name} storage`, () => {
    it('gives back exactly the bytes put under a key', async () => {
      const storage = await open();
      const body = randomBytes(3 * 1024 * 1024 + 17);
      const stored = await storage.put('t/a/archive.tar', Readable.from([body]));
      expect(stored).toEqual({ key: 't/a/archive.tar', sizeBytes: body.length });
      expect((await readAll(await storage.get('t/a/archive.tar'))).equals(body)).toBe(true);
      expect(await storage.stat('t/a/archive.tar')).toEqual({
        key: 't/a/archive.tar',
        sizeBytes: body.length,
      });
    });

    it('stores a local file through putLocalFile, and the file can go afterwards', async () => {
      const storage = await open();
      const dir = mkdtempSync(path.join(tmpdir(), 'lifeboat-contract-'));
      const file = path.join(dir, 'archive.tar');
      const body = randomBytes(2 * 1024 * 1024 + 3);
      writeFileSync(file, body);
      expect(await putLocalFile(storage, 'f/archive.tar', file)).toEqual({
        key: 'f/archive.tar',
        sizeBytes: body.length,
      });
      rmSync(dir, { recursive: true });
      expect((await readAll(await storage.get('f/archive.tar'))).equals(body)).toBe(true);
      expect(await storage.list('f/')).toEqual(['f/archive.tar']);
    });

    it('stores an empty object', async () => {
      const storage = await open();
      await storage.put('empty', Readable.from([]));
      expect(await storage.stat('empty')).toEqual({ key: 'empty', sizeBytes: 0 });
    });

    it('replaces an object put again under the same key', async () => {
      const storage = await open();
      await storage.put('k', Readable.from([Buffer.from('first version, longer')]));
      await storage.put('k', Readable.from([Buffer.from('second')]));
      expect((await readAll(await storage.get('k'))).toString()).toBe('second');
      expect(await storage.list('k')).toEqual(['k']);
    });

    it('leaves nothing visible when the body fails midway', async () => {
      const storage = await open();
      await expect(storage.put('broken/object', failingBody(256 * 1024))).rejects.toThrow();
      expect(await storage.stat('broken/object')).toBeUndefined();
      expect(await storage.list('broken')).toEqual([]);
    });

    it('keeps the previous object when a replacement fails midway', async () => {
      const storage = await open();
      await storage.put('keep', Readable.from([Buffer.from('good')]));
      await expect(storage.put('keep', failingBody(1024))).rejects.toThrow();
      expect((await readAll(await storage.get('keep'))).toString()).toBe('good');
    });

    it('answers NOT_FOUND for a missing object and undefined from stat', async () => {
      const storage = await open();
      await expect(storage.get('missing')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect(await storage.stat('missing')).toBeUndefined();
    });

    it('deletes idempotently', async () => {
      const storage = await open();
      await storage.put('gone', Readable.from([Buffer.from('x')]));
      await storage.delete('gone');
      await storage.delete('gone');
      expect(await storage.stat('gone')).toBeUndefined();
    });

    it('lists finished keys under a prefix, sorted', async () => {
      const storage = await open();
      for (const key of ['p/b', 'p/a', 'p/c/d', 'q/a'])
        await storage.put(key, Readable.from([Buffer.from(key)]));
      expect(await storage.list('p/')).toEqual(['p/a', 'p/b', 'p/c/d']);
      expect(await storage.list('')).toEqual(['p/a', 'p/b', 'p/c/d', 'q/a']);
    });

    it('refuses keys that could leave the storage root', async () => {
      const storage = await open();
      for (const key of ['../x', '/abs', 'a/../../b', 'a//b', '']) {
        await expect(storage.put(key, Readable.from([Buffer.from('x')]))).rejects.toBeInstanceOf(
          LifeboatError,
        );
      }
    });

    it('has a URL without credentials', async () => {
      const storage = await open();
      expect(storage.url).not.toMatch(/:[^/@]+@/);
    });
  });
}
