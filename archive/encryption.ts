// age encryption of archives as Node stream stages: recipients (public keys) to back up, identities to restore.
import { Duplex } from 'node:stream';
import {
  Decrypter,
  Encrypter,
  generateHybridIdentity,
  generateX25519Identity,
  identityToRecipient,
} from 'age-encryption';
import {
  ageRecipientProblem,
  isAgeIdentity,
  mixedRecipientsProblem,
  mixesRecipientKinds,
} from '../domain/age-keys.ts';
import { LifeboatError } from '../domain/errors.ts';

const ageMagic = Buffer.from('age-encryption.org/v1\n', 'ascii');

// age-encryption 0.3.1 reports a file encrypted to other keys only by this message.
const noIdentityMatchedMessage = "no identity matched any of the file's recipients";

const wrongKey = (): LifeboatError =>
  new LifeboatError(
    'DECRYPTION_FAILED',
    'None of the given identities can open this archive (it was encrypted to other recipients).',
  );
const notAge = (): LifeboatError =>
  new LifeboatError('DECRYPTION_FAILED', 'The archive is not an age-encrypted file.');
const damaged = (reason?: string): LifeboatError =>
  new LifeboatError(
    'DECRYPTION_FAILED',
    'The encrypted archive is damaged or truncated (age cannot authenticate it): use another copy of this backup.',
    reason === undefined ? undefined : { reason },
  );

/** Whether these first bytes of a file begin an age-encrypted file (binary, not ASCII-armored). */
export function isAgeEncrypted(firstBytes: Buffer): boolean {
  return firstBytes.subarray(0, ageMagic.length).equals(ageMagic);
}

/**
 * A stream stage that encrypts to every recipient: any one of their identities can decrypt.
 * Output is a standard binary age file (`age -d -i key.txt` opens it).
 * Throws VALIDATION_FAILED when a recipient is malformed or the list is empty or mixed.
 */
export function encryptStream(recipients: readonly string[]): Duplex {
  if (recipients.length === 0) {
    throw new LifeboatError('VALIDATION_FAILED', 'Encryption needs at least one age recipient (age1...).');
  }
  recipients.forEach((recipient, index) => {
    const problem = ageRecipientProblem(recipient);
    if (problem)
      throw new LifeboatError('VALIDATION_FAILED', `Recipient ${index + 1} is unusable: ${problem}.`);
  });
  if (mixesRecipientKinds(recipients)) {
    throw new LifeboatError(
      'VALIDATION_FAILED',
      `Recipients are unusable together: ${mixedRecipientsProblem}.`,
    );
  }
  const encrypter = new Encrypter();
  for (const recipient of recipients) encrypter.addRecipient(recipient);
  return webStage(
    (plaintext) => encrypter.encrypt(plaintext),
    (error) => (error instanceof Error ? error : new Error(String(error))),
  );
}

/**
 * A stream stage that decrypts an age file with any of the identities. Fails with DECRYPTION_FAILED
 * when no identity matches, the input is not age, or it is damaged or truncated; plaintext already
 * passed on before a damaged chunk is authentic, but the whole output is only complete and
 * trustworthy once the stream ends without error.
 * Throws VALIDATION_FAILED when an identity is malformed or the list is empty.
 */
export function decryptStream(identities: readonly string[]): Duplex {
  if (identities.length === 0) {
    throw new LifeboatError(
      'VALIDATION_FAILED',
      'Decryption needs at least one age identity (AGE-SECRET-KEY-1...).',
    );
  }
  identities.forEach((identity, index) => {
    if (!isAgeIdentity(identity)) {
      throw new LifeboatError(
        'VALIDATION_FAILED',
        `Identity ${index + 1} is not an age identity: expected a private key that starts with AGE-SECRET-KEY-1 (or AGE-SECRET-KEY-PQ-1), as written by age-keygen.`,
      );
    }
  });
  const decrypter = new Decrypter();
  for (const identity of identities) decrypter.addIdentity(identity);
  return webStage(
    (ciphertext) => decrypter.decrypt(ciphertext.pipeThrough(requireAgeMagic())),
    decryptionFailure,
  );
}

/** A new X25519 key pair (post-quantum hybrid on request), as `age-keygen` (`-pq`) would make. */
export async function generateIdentity(
  options: { postQuantum?: boolean } = {},
): Promise<{ identity: string; recipient: string }> {
  const identity = options.postQuantum ? await generateHybridIdentity() : await generateX25519Identity();
  return { identity, recipient: await identityToRecipient(identity) };
}

/** The recipient (public key) of an identity, like `age-keygen -y`. Throws VALIDATION_FAILED on a malformed identity. */
export async function recipientOf(identity: string): Promise<string> {
  if (!isAgeIdentity(identity)) {
    throw new LifeboatError(
      'VALIDATION_FAILED',
      'Not an age identity: expected a private key that starts with AGE-SECRET-KEY-1 (or AGE-SECRET-KEY-PQ-1).',
    );
  }
  return identityToRecipient(identity);
}

function decryptionFailure(error: unknown): Error {
  if (error instanceof LifeboatError) return error;
  if (error instanceof Error && error.message === noIdentityMatchedMessage) return wrongKey();
  return damaged(error instanceof Error ? error.message : String(error));
}

/**
 * Passes bytes through once they begin with the age header line. Checked here rather than left to
 * age-encryption, which buffers a whole first line before judging it: a large file without a
 * newline would be read into memory.
 */
function requireAgeMagic(): TransformStream<Uint8Array, Uint8Array> {
  let checkedBytes = 0;
  return new TransformStream({
    transform(chunk, controller) {
      const end = Math.min(ageMagic.length - checkedBytes, chunk.length);
      for (let i = 0; i < end; i++) {
        if (chunk[i] !== ageMagic[checkedBytes + i]) throw notAge();
      }
      checkedBytes += end;
      controller.enqueue(chunk);
    },
    flush() {
      if (checkedBytes === 0) throw notAge();
      if (checkedBytes < ageMagic.length) throw damaged();
    },
  });
}

/**
 * A Node Duplex around age-encryption's web streams. age needs the whole input as one
 * ReadableStream and hands its output back only after the header (a promise), so written chunks go
 * into a TransformStream that age reads, and reads pull from age's output one chunk at a time.
 * Every queue on the way holds at most a chunk or two, so backpressure reaches the writer and
 * memory stays flat. Every failure, from either side, is reported through `failure`.
 */
function webStage(
  start: (input: ReadableStream<Uint8Array>) => Promise<ReadableStream<Uint8Array>>,
  failure: (error: unknown) => Error,
): Duplex {
  const inbound = new TransformStream<Uint8Array, Uint8Array>();
  const writer = inbound.writable.getWriter();
  const output = start(inbound.readable);
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  const stage = new Duplex({
    write(chunk: Buffer, _encoding, callback) {
      writer.write(chunk).then(
        () => callback(),
        (error: unknown) => callback(failure(error)),
      );
    },
    final(callback) {
      writer.close().then(
        () => callback(),
        (error: unknown) => callback(failure(error)),
      );
    },
    read() {
      output
        .then(async (readable) => {
          reader ??= readable.getReader();
          const { done, value } = await reader.read();
          stage.push(done ? null : value);
        })
        .catch((error: unknown) => stage.destroy(failure(error)));
    },
    destroy(error, callback) {
      const reason = error ?? new Error('The age stream was closed early.');
      writer.abort(reason).catch(() => undefined);
      output.then((readable) => (reader ?? readable).cancel(reason)).catch(() => undefined);
      callback(error);
    },
  });
  // Fails the stage as soon as age rejects the header, even while nobody is reading yet.
  output.catch((error: unknown) => stage.destroy(failure(error)));
  return stage;
}
