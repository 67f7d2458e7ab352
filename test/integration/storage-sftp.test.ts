// The storage contract against a real OpenSSH server, plus what only an SFTP backend can get wrong.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createSftpStorage } from '../../storage/sftp/backend.ts';
import type { Storage } from '../../storage/storage.ts';
import { startSftpServer, type SftpServer } from '../harness/sftp-server.ts';
import { describeStorageContract } from '../storage/contract.ts';
import { failingBody, readAll } from '../support/streams.ts';

let server: SftpServer;
const opened: Storage[] = [];

beforeAll(async () => {
  server = await startSftpServer();
});

afterAll(async () => {
  try {
    for (const storage of opened.splice(0)) await storage.close?.();
  } finally {
    await server?.stop();
  }
});

function open(url: string, env: Record<string, string> = {}): Storage {
  const storage = createSftpStorage(new URL(url), (name) => env[name]);
  opened.push(storage);
  return storage;
}

/** sshd's log since `from` characters; the tests in this file run one at a time. */
function logSince(from: number): string {
  return readFileSync(server.logFile, 'utf8').slice(from);
}

function logLength(): number {
  return readFileSync(server.logFile, 'utf8').length;
}

describeStorageContract('sftp', () => Promise.resolve(open(server.url(`contract-${randomUUID()}`))));

it('opens one connection lazily and reuses it for every call', async () => {
  const before = logLength();
  const storage = open(server.url(`reuse-${randomUUID()}`));
  expect(logSince(before)).not.toContain('Accepted publickey');
  await storage.put('a/one', Readable.from([Buffer.from('1')]));
  await storage.put('b/two', Readable.from([Buffer.from('2')]));
  expect(await storage.list('')).toEqual(['a/one', 'b/two']);
  expect((await readAll(await storage.get('a/one'))).toString()).toBe('1');
  await storage.delete('a/one');
  expect(logSince(before).match(/Accepted publickey/g)).toHaveLength(1);
});

it('reconnects after the server drops the connection', async () => {
  const storage = open(server.url(`drop-${randomUUID()}`));
  await storage.put('kept', Readable.from([Buffer.from('still here')]));
  await server.dropConnections();
  // The client learns of the drop when the socket closes; a call racing that close fails retryably, and
  // the activity's retry covers it. This test is about the call after the drop is known.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  expect((await readAll(await storage.get('kept'))).toString()).toBe('still here');
});

it('closes cleanly with a download abandoned midway, and can be opened again', async () => {
  const url = server.url(`abandoned-${randomUUID()}`);
  const storage = open(url);
  const body = randomBytes(4 * 1024 * 1024);
  await storage.put('large', Readable.from([body]));
  const download = await storage.get('large');
  for await (const chunk of download) {
    expect((chunk as Buffer).length).toBeGreaterThan(0);
    break;
  }
  expect(download.destroyed).toBe(true);
  await storage.close?.();
  expect((await readAll(await open(url).get('large'))).equals(body)).toBe(true);
});

it('refuses a host key that does not match the fingerprint, before sending any credentials', async () => {
  const wrong = `SHA256:${createHash('sha256').update('another server').digest('base64').replace(/=+$/, '')}`;
  const subdir = `mitm-${randomUUID()}`;
  const before = logLength();
  const storage = open(server.url(subdir, { hostKey: wrong }));
  const failure = storage.put('x', Readable.from([Buffer.from('secret rows')]));
  await expect(failure).rejects.toMatchObject({ code: 'AUTH_FAILED' });
  const { message } = (await failure.catch((error: unknown) => error)) as Error;
  expect(message).toContain('man-in-the-middle');
  expect(message).toContain(wrong);
  expect(message).toContain(server.hostKeyFingerprint);
  await expect(storage.stat('x')).rejects.toMatchObject({ code: 'AUTH_FAILED' });
  expect(existsSync(path.join(server.rootDir, subdir))).toBe(false);
  expect(logSince(before)).not.toMatch(/publickey|Accepted|Failed/);
});

it('refuses with AUTH_FAILED a key the server does not accept', async () => {
  const stranger = server.createClientKey({ authorized: false });
  const storage = open(server.url(`stranger-${randomUUID()}`, { privateKeyFile: stranger }));
  await expect(storage.put('x', Readable.from([Buffer.from('x')]))).rejects.toMatchObject({
    code: 'AUTH_FAILED',
    message: expect.stringContaining(`${server.user}@127.0.0.1:${server.port}`) as unknown,
  });
});

it('authenticates with a passphrase-protected key whose passphrase comes from the environment', async () => {
  const passphrase = 'correct horse battery staple';
  const keyFile = server.createClientKey({ passphrase });
  const url = server.url(`passphrase-${randomUUID()}`, {
    privateKeyFile: keyFile,
    privateKeyPassphraseEnv: 'SFTP_KEY_PASSPHRASE',
  });
  const storage = open(url, { SFTP_KEY_PASSPHRASE: passphrase });
  await storage.put('k', Readable.from([Buffer.from('unlocked')]));
  expect((await readAll(await storage.get('k'))).toString()).toBe('unlocked');

  const wrongPassphrase = open(url, { SFTP_KEY_PASSPHRASE: 'wrong passphrase' });
  const failure = wrongPassphrase.stat('k').catch((error: unknown) => error);
  await expect(failure).resolves.toMatchObject({ code: 'AUTH_FAILED' });
  expect(((await failure) as Error).message).not.toContain('wrong passphrase');
});

it('refuses with AUTH_FAILED a password the server does not accept, without repeating it', async () => {
  const storage = open(
    server.url(`password-${randomUUID()}`, { privateKeyFile: undefined, passwordEnv: 'SFTP_PASSWORD' }),
    { SFTP_PASSWORD: 'hunter2-not-accepted' },
  );
  const failure = storage.list('').catch((error: unknown) => error);
  await expect(failure).resolves.toMatchObject({ code: 'AUTH_FAILED' });
  expect(((await failure) as Error).message).not.toContain('hunter2');
});

it('answers STORAGE_UNAVAILABLE within seconds when the server is down, and releases the body', async () => {
  const gone = await startSftpServer();
  const url = gone.url('down', { privateKeyFile: server.privateKeyFile });
  await gone.stop();
  const storage = open(url);
  const body = Readable.from([Buffer.from('x')]);
  const started = Date.now();
  await expect(storage.put('x', body)).rejects.toMatchObject({
    code: 'STORAGE_UNAVAILABLE',
    message: expect.stringContaining(`127.0.0.1:${gone.port}`) as unknown,
  });
  await expect(storage.stat('x')).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
  expect(Date.now() - started).toBeLessThan(12_000);
  expect(body.destroyed).toBe(true);
});

it('round-trips a 20 MiB object byte-exact, written readable by its owner only', async () => {
  const subdir = `large-${randomUUID()}`;
  const storage = open(server.url(subdir));
  const body = randomBytes(20 * 1024 * 1024);
  const chunks = Array.from({ length: body.length / (64 * 1024) }, (_, index) =>
    body.subarray(index * 64 * 1024, (index + 1) * 64 * 1024),
  );
  expect(await storage.put('t/large.tar', Readable.from(chunks))).toEqual({
    key: 't/large.tar',
    sizeBytes: body.length,
  });
  expect((await readAll(await storage.get('t/large.tar'))).equals(body)).toBe(true);
  const file = path.join(server.rootDir, subdir, 't', 'large.tar');
  expect(readFileSync(file).equals(body)).toBe(true);
  expect(statSync(file).mode & 0o777).toBe(0o600);
  expect(readdirSync(path.dirname(file))).toEqual(['large.tar']);
});

it('leaves no .part file behind when a put fails midway', async () => {
  const subdir = `failed-${randomUUID()}`;
  const storage = open(server.url(subdir));
  await storage.put('t/archive.tar', Readable.from([Buffer.from('previous')]));
  await expect(storage.put('t/archive.tar', failingBody(512 * 1024))).rejects.toMatchObject({
    code: 'STORAGE_UNAVAILABLE',
  });
  await expect(storage.put('t/new.tar', failingBody(512 * 1024))).rejects.toThrow('source broke');
  expect(readdirSync(path.join(server.rootDir, subdir, 't'))).toEqual(['archive.tar']);
  expect(readFileSync(path.join(server.rootDir, subdir, 't', 'archive.tar'), 'utf8')).toBe('previous');
});

it('lists keys ending in .part but not another writer’s temporary files', async () => {
  const subdir = `temporary-${randomUUID()}`;
  const storage = open(server.url(subdir));
  await storage.put('t/notes.part', Readable.from([Buffer.from('a real object')]));
  writeFileSync(path.join(server.rootDir, subdir, 't', `.archive.tar.${randomUUID()}.part`), 'half');
  mkdirSync(path.join(server.rootDir, subdir, 't', 'empty-dir'));
  expect(await storage.list('t/')).toEqual(['t/notes.part']);
});

it('lists keys under a prefix that ends inside a name', async () => {
  const subdir = `prefix-${randomUUID()}`;
  const storage = open(server.url(subdir));
  for (const key of ['t/ab/x', 't/abc', 't/b/y', 'u/a'])
    await storage.put(key, Readable.from([Buffer.from(key)]));
  expect(await storage.list('t/a')).toEqual(['t/ab/x', 't/abc']);
  expect(await storage.list('t')).toEqual(['t/ab/x', 't/abc', 't/b/y']);
  expect(await storage.list('v/')).toEqual([]);
});
