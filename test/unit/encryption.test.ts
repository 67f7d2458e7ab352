// age encryption stages: round trips through stream.pipeline, every way decryption can fail, key syntax.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createGzip, createGunzip } from 'node:zlib';
import { Readable, Writable, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  decryptStream,
  encryptStream,
  generateIdentity,
  isAgeEncrypted,
  recipientOf,
} from '../../archive/encryption.ts';
import { ageRecipientsSchema, isAgeIdentity, isAgeRecipient } from '../../domain/age-keys.ts';
import { LifeboatError } from '../../domain/errors.ts';
import { tempDir } from '../support/temp-dirs.ts';

const mib = 1024 * 1024;
const ageChunkBytes = 64 * 1024;
const oddChunkSizes = [1, 7, 4093, 65_535, 65_536, 65_537, 100_003];

type KeyPair = { identity: string; recipient: string };
let alice: KeyPair;
let bob: KeyPair;
let mallory: KeyPair;
let quantumSafe: KeyPair;

beforeAll(async () => {
  [alice, bob, mallory, quantumSafe] = await Promise.all([
    generateIdentity(),
    generateIdentity(),
    generateIdentity(),
    generateIdentity({ postQuantum: true }),
  ]);
});

/** `data` as a stream of chunks whose sizes cycle through `sizes`. */
function chunked(data: Buffer, sizes: readonly number[] = oddChunkSizes): Readable {
  return Readable.from(
    (function* () {
      for (let offset = 0, i = 0; offset < data.length; i++) {
        const size = sizes[i % sizes.length] ?? 1;
        yield data.subarray(offset, offset + size);
        offset += size;
      }
    })(),
  );
}

/** Runs `data` through the stages and returns everything that comes out. */
async function through(data: Buffer, ...stages: Duplex[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      parts.push(chunk);
      callback();
    },
  });
  await pipeline([chunked(data), ...stages, sink]);
  return Buffer.concat(parts);
}

const encrypt = (data: Buffer, ...recipients: string[]) => through(data, encryptStream(recipients));
const decrypt = (data: Buffer, ...identities: string[]) => through(data, decryptStream(identities));

async function decryptionError(data: Buffer, identity: string): Promise<LifeboatError> {
  const error: unknown = await decrypt(data, identity).then(
    () => undefined,
    (rejection: unknown) => rejection,
  );
  expect(error).toBeInstanceOf(LifeboatError);
  expect(error).toMatchObject({ code: 'DECRYPTION_FAILED' });
  return error as LifeboatError;
}

/** How many bytes a stage accepts, each write awaited, while nobody reads its output. */
async function bytesAcceptedWithoutReader(stage: Duplex, chunks: Iterable<Buffer>): Promise<number> {
  let accepted = 0;
  for (const chunk of chunks) {
    const written = await Promise.race([
      new Promise<boolean>((resolve) => stage.write(chunk, () => resolve(true))),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 100)),
    ]);
    if (!written) break;
    accepted += chunk.length;
  }
  stage.destroy();
  return accepted;
}

function* slices(data: Buffer, size: number): Generator<Buffer> {
  for (let offset = 0; offset < data.length; offset += size) yield data.subarray(offset, offset + size);
}

/** The error `run` throws (synchronously), to look at its fields. */
function thrownBy(run: () => unknown): Error {
  try {
    run();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a throw');
}

describe('encryptStream and decryptStream', () => {
  it('round-trip 5 MiB of random bytes through stream.pipeline, whatever the chunk sizes', async () => {
    const data = randomBytes(5 * mib + 123);
    const roundTripped = await through(
      data,
      createGzip({ level: 1 }),
      encryptStream([alice.recipient]),
      decryptStream([alice.identity]),
      createGunzip(),
    );
    expect(roundTripped.equals(data)).toBe(true);
  });

  it('write a standard age file: the header line, then binary, and decryptable from differently sized chunks', async () => {
    const data = randomBytes(3 * ageChunkBytes + 5);
    const ciphertext = await encrypt(data, alice.recipient);
    expect(isAgeEncrypted(ciphertext)).toBe(true);
    expect(ciphertext.subarray(0, ciphertext.indexOf('\n---')).toString('ascii')).toMatch(
      /^age-encryption\.org\/v1\n-> X25519 /,
    );
    const parts: Buffer[] = [];
    await pipeline(
      chunked(ciphertext, [3, 65_552, 1]),
      decryptStream([alice.identity]),
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          parts.push(chunk);
          callback();
        },
      }),
    );
    expect(Buffer.concat(parts).equals(data)).toBe(true);
  });

  it.each([
    ['nothing', 0],
    ['one byte', 1],
    ['exactly one age chunk', ageChunkBytes],
    ['exactly two age chunks', 2 * ageChunkBytes],
  ])('round-trip %s', async (_name, size) => {
    const data = randomBytes(size);
    const ciphertext = await encrypt(data, alice.recipient);
    expect((await decrypt(ciphertext, alice.identity)).equals(data)).toBe(true);
  });

  it('encrypt to two recipients, and either identity decrypts', async () => {
    const data = randomBytes(200_000);
    const ciphertext = await encrypt(data, alice.recipient, bob.recipient);
    expect((await decrypt(ciphertext, alice.identity)).equals(data)).toBe(true);
    expect((await decrypt(ciphertext, bob.identity)).equals(data)).toBe(true);
    expect((await decrypt(ciphertext, mallory.identity, bob.identity)).equals(data)).toBe(true);
  });

  it('encrypt to a post-quantum recipient that its hybrid identity decrypts', async () => {
    const data = randomBytes(100_000);
    const ciphertext = await encrypt(data, quantumSafe.recipient);
    expect(ciphertext.subarray(0, 64).toString('latin1')).toContain('-> mlkem768x25519 ');
    expect((await decrypt(ciphertext, quantumSafe.identity)).equals(data)).toBe(true);
  });

  it('leave no plaintext visible in the ciphertext', async () => {
    const marker = 'LIFEBOAT-PLAINTEXT-MARKER';
    const data = Buffer.from(`${marker}\n`.repeat(10_000));
    const ciphertext = await encrypt(data, alice.recipient);
    expect(ciphertext.includes(marker)).toBe(false);
    expect(ciphertext.includes('MARKER')).toBe(false);
  });

  it('stop accepting input while nobody reads the output (backpressure)', async () => {
    const plaintext = slices(Buffer.alloc(64 * mib), ageChunkBytes);
    expect(await bytesAcceptedWithoutReader(encryptStream([alice.recipient]), plaintext)).toBeLessThan(
      2 * mib,
    );
    const ciphertext = slices(await encrypt(randomBytes(16 * mib), alice.recipient), ageChunkBytes);
    expect(await bytesAcceptedWithoutReader(decryptStream([alice.identity]), ciphertext)).toBeLessThan(
      2 * mib,
    );
  });

  it('pass an upstream failure through the pipeline and let go of everything', async () => {
    const failing = Readable.from(
      (function* () {
        yield randomBytes(100_000);
        throw new Error('the dump failed');
      })(),
    );
    await expect(
      pipeline(
        failing,
        encryptStream([alice.recipient]),
        decryptStream([alice.identity]),
        new Writable({
          write: (_chunk, _encoding, callback) => callback(),
        }),
      ),
    ).rejects.toThrow('the dump failed');
  });
});

describe('decryptStream failures', () => {
  let data: Buffer;
  let ciphertext: Buffer;
  beforeAll(async () => {
    data = randomBytes(5 * ageChunkBytes + 1000);
    ciphertext = await encrypt(data, alice.recipient);
  });

  it('names a wrong identity and never repeats the key', async () => {
    const error = await decryptionError(ciphertext, mallory.identity);
    expect(error.message).toMatch(
      /none of the given identities can open this archive \(it was encrypted to other recipients\)/i,
    );
    expect(JSON.stringify({ message: error.message, details: error.details })).not.toContain(
      mallory.identity.slice(16),
    );
  });

  it('reports a post-quantum identity given for a classic archive as a wrong identity', async () => {
    const error = await decryptionError(ciphertext, quantumSafe.identity);
    expect(error.message).toMatch(/none of the given identities can open this archive/i);
  });

  it('reports a flipped byte in the middle as damage', async () => {
    const tampered = Buffer.from(ciphertext);
    const middle = Math.floor(tampered.length / 2);
    tampered[middle] = (tampered[middle] ?? 0) ^ 0x01;
    const error = await decryptionError(tampered, alice.identity);
    expect(error.message).toMatch(/is damaged or truncated/);
  });

  it('reports a changed header MAC as damage', async () => {
    const tampered = Buffer.from(ciphertext);
    const mac = tampered.indexOf('\n--- ') + 5;
    tampered[mac] = tampered[mac] === 0x41 ? 0x42 : 0x41;
    const error = await decryptionError(tampered, alice.identity);
    expect(error.message).toMatch(/is damaged or truncated/);
  });

  it.each([
    ['in the middle of the payload', (length: number) => Math.floor(length / 2)],
    ['at a chunk boundary', (length: number) => length - 1000 - 16],
    ['by the last byte', (length: number) => length - 1],
    ['inside the header', () => 40],
    ['inside the header line', () => 10],
  ])('reports a file truncated %s as damage', async (_name, cut) => {
    const error = await decryptionError(ciphertext.subarray(0, cut(ciphertext.length)), alice.identity);
    expect(error.message).toMatch(/is damaged or truncated/);
  });

  it('reports bytes appended after the end as damage', async () => {
    const error = await decryptionError(Buffer.concat([ciphertext, Buffer.from('extra')]), alice.identity);
    expect(error.message).toMatch(/is damaged or truncated/);
  });

  it.each([
    ['a plain archive', randomBytes(300_000)],
    ['a text file without a newline', Buffer.alloc(3 * mib, 'a')],
    ['an ASCII-armored age file', Buffer.from('-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n')],
    ['an empty file', Buffer.alloc(0)],
  ])('reports %s as not an age file', async (_name, plain) => {
    const error = await decryptionError(plain, alice.identity);
    expect(error.message).toMatch(/is not an age-encrypted file/);
  });
});

describe('isAgeEncrypted', () => {
  it('recognises the age header line and nothing else', async () => {
    expect(isAgeEncrypted(await encrypt(Buffer.from('x'), alice.recipient))).toBe(true);
    expect(isAgeEncrypted(Buffer.from('age-encryption.org/v1\n-> X25519'))).toBe(true);
    expect(isAgeEncrypted(Buffer.from('age-encryption.org/v1'))).toBe(false);
    expect(isAgeEncrypted(Buffer.from('age-encryption.org/v2\n'))).toBe(false);
    expect(isAgeEncrypted(Buffer.from([0x1f, 0x8b, 0x08, 0x00]))).toBe(false);
    expect(isAgeEncrypted(Buffer.alloc(0))).toBe(false);
  });
});

describe('keys', () => {
  const changeOneCharacter = (key: string, at: number): string =>
    key.slice(0, at) + (key[at] === 'q' || key[at] === 'Q' ? 'p' : 'q') + key.slice(at + 1);

  it('generateIdentity makes a key pair that recipientOf agrees with', async () => {
    expect(alice.identity).toMatch(/^AGE-SECRET-KEY-1[0-9A-Z]{58}$/);
    expect(alice.recipient).toMatch(/^age1[0-9a-z]{58}$/);
    expect(await recipientOf(alice.identity)).toBe(alice.recipient);
    expect(quantumSafe.identity).toMatch(/^AGE-SECRET-KEY-PQ-1/);
    expect(quantumSafe.recipient).toMatch(/^age1pq1/);
    expect(await recipientOf(quantumSafe.identity)).toBe(quantumSafe.recipient);
  });

  it('isAgeRecipient accepts X25519 and post-quantum recipients and nothing close to them', () => {
    expect(isAgeRecipient(alice.recipient)).toBe(true);
    expect(isAgeRecipient(quantumSafe.recipient)).toBe(true);
    expect(isAgeRecipient(changeOneCharacter(alice.recipient, 20))).toBe(false);
    expect(isAgeRecipient(changeOneCharacter(quantumSafe.recipient, 900))).toBe(false);
    expect(isAgeRecipient(alice.recipient.slice(0, -1))).toBe(false);
    expect(isAgeRecipient(`${alice.recipient}q`)).toBe(false);
    expect(isAgeRecipient(alice.recipient.toUpperCase())).toBe(false);
    expect(isAgeRecipient(` ${alice.recipient}`)).toBe(false);
    expect(isAgeRecipient(alice.identity)).toBe(false);
    expect(
      isAgeRecipient('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN'),
    ).toBe(false);
    expect(isAgeRecipient('')).toBe(false);
  });

  it('isAgeIdentity accepts X25519 and post-quantum identities and nothing close to them', () => {
    expect(isAgeIdentity(alice.identity)).toBe(true);
    expect(isAgeIdentity(quantumSafe.identity)).toBe(true);
    expect(isAgeIdentity(changeOneCharacter(alice.identity, 30))).toBe(false);
    expect(isAgeIdentity(alice.identity.toLowerCase())).toBe(false);
    expect(isAgeIdentity(alice.identity.slice(0, -2))).toBe(false);
    expect(isAgeIdentity(alice.recipient)).toBe(false);
    expect(isAgeIdentity(`${alice.identity}\n`)).toBe(false);
  });

  it('ageRecipientsSchema takes 1 to 20 distinct recipients, trimmed', () => {
    expect(ageRecipientsSchema.parse([` ${alice.recipient}\n`, bob.recipient])).toEqual([
      alice.recipient,
      bob.recipient,
    ]);
    expect(ageRecipientsSchema.safeParse([quantumSafe.recipient]).success).toBe(true);
    const messages = (input: unknown) =>
      ageRecipientsSchema.safeParse(input).error?.issues.map((issue) => issue.message) ?? [];
    expect(messages([])).toEqual([expect.stringMatching(/at least one age recipient/)]);
    expect(messages(Array.from({ length: 21 }, () => alice.recipient))).toContainEqual(
      expect.stringMatching(/at most 20 recipients/),
    );
    expect(messages([alice.recipient, bob.recipient, alice.recipient])).toEqual([
      expect.stringMatching(/the same recipient as number 1/),
    ]);
    expect(messages([alice.recipient, quantumSafe.recipient])).toEqual([
      expect.stringMatching(/can't be mixed/),
    ]);
    expect(messages(['age1tag1qqqq'])).toEqual([expect.stringMatching(/hardware-key/)]);
    expect(messages(['hunter2'])).toEqual([expect.stringMatching(/starts with age1/)]);
  });

  it('ageRecipientsSchema turns down a private key without repeating it', () => {
    const result = ageRecipientsSchema.safeParse([alice.identity]);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toMatch(/private key/);
    expect(JSON.stringify(result.error?.issues)).not.toContain(alice.identity.slice(16));
  });

  it('encryptStream refuses a bad recipient with VALIDATION_FAILED, before any data flows', () => {
    for (const recipients of [
      ['age1notarecipient'],
      [alice.recipient, 'ssh-rsa AAAA'],
      [],
      [alice.identity],
    ]) {
      expect(() => encryptStream(recipients)).toThrow(
        expect.objectContaining({ name: 'LifeboatError', code: 'VALIDATION_FAILED' }),
      );
    }
    const pastedIdentity = thrownBy(() => encryptStream([alice.identity]));
    expect(pastedIdentity.message).toMatch(/private key/);
    expect(pastedIdentity.message).not.toContain(alice.identity.slice(16));
    expect(() => encryptStream([alice.recipient, quantumSafe.recipient])).toThrow(/can't be mixed/);
  });

  it('decryptStream and recipientOf refuse a malformed identity with VALIDATION_FAILED, without repeating it', async () => {
    const mistyped = changeOneCharacter(alice.identity, 30);
    for (const identities of [[mistyped], [], [alice.recipient]]) {
      expect(() => decryptStream(identities)).toThrow(
        expect.objectContaining({ name: 'LifeboatError', code: 'VALIDATION_FAILED' }),
      );
    }
    expect(thrownBy(() => decryptStream([mistyped])).message).not.toContain(mistyped.slice(16));
    await expect(recipientOf(mistyped)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });
});

// The reference implementation (Debian's `age` package, which scripts/setup.sh installs); X25519 only, which
// its version supports.
describe('interoperability with the age command-line tool', () => {
  it('age -d opens what encryptStream wrote', async () => {
    const keyFile = path.join(tempDir('age-interop'), 'key.txt');
    writeFileSync(keyFile, `${alice.identity}\n`, { mode: 0o600 });
    const data = randomBytes(mib + 17);
    const ciphertext = await encrypt(data, bob.recipient, alice.recipient);
    const decrypted = execFileSync('age', ['-d', '-i', keyFile], { input: ciphertext, maxBuffer: 4 * mib });
    expect(decrypted.equals(data)).toBe(true);
  });

  it('decryptStream opens what age -e wrote', async () => {
    const data = randomBytes(mib + 17);
    const ciphertext = execFileSync('age', ['-e', '-r', alice.recipient], {
      input: data,
      maxBuffer: 4 * mib,
    });
    expect((await decrypt(ciphertext, alice.identity)).equals(data)).toBe(true);
  });
});
