// Streams over an open SFTP file handle, with several requests in flight each way.
import { Readable, Writable } from 'node:stream';
import type { SFTPWrapper } from 'ssh2';
import { call } from './session.ts';

const maxWritesInFlight = 8;
const maxReadsInFlight = 8;
const readChunkBytes = 256 * 1024;

/**
 * Writes a stream to an open SFTP handle with several requests in flight, which a connection with any
 * latency needs for throughput; memory holds at most `maxWritesInFlight` chunks. The caller closes the
 * handle, so it can fsync first.
 */
export class HandleWriter extends Writable {
  bytesWritten = 0;
  readonly #sftp: SFTPWrapper;
  readonly #handle: Buffer;
  #offset = 0;
  #inFlight = 0;
  #error: Error | undefined;
  #onSettled: (() => void) | undefined;

  constructor(sftp: SFTPWrapper, handle: Buffer) {
    super({ highWaterMark: 1024 * 1024 });
    this.#sftp = sftp;
    this.#handle = handle;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#error) return callback(this.#error);
    this.#inFlight += 1;
    this.#sftp.write(this.#handle, chunk, 0, chunk.length, this.#offset, (error) => {
      this.#inFlight -= 1;
      if (error) this.#error ??= error;
      else this.bytesWritten += chunk.length;
      const settled = this.#onSettled;
      this.#onSettled = undefined;
      settled?.();
    });
    this.#offset += chunk.length;
    if (this.#inFlight < maxWritesInFlight) callback();
    else this.#onSettled = () => callback(this.#error);
  }

  override _final(callback: (error?: Error | null) => void): void {
    const whenDrained = (): void => {
      if (this.#inFlight === 0) callback(this.#error);
      else this.#onSettled = whenDrained;
    };
    whenDrained();
  }
}

/**
 * Reads an open SFTP handle with several requests in flight (ssh2's own read stream keeps one, which
 * any latency turns into a trickle); memory holds at most `maxReadsInFlight` chunks. Closes the handle
 * when it ends or is destroyed, and fails with `toError(error)`.
 */
export class HandleReader extends Readable {
  readonly #sftp: SFTPWrapper;
  readonly #handle: Buffer;
  readonly #sizeBytes: number;
  readonly #toError: (error: unknown) => Error;
  readonly #reads: Promise<Buffer>[] = [];
  #nextOffset = 0;

  constructor(sftp: SFTPWrapper, handle: Buffer, sizeBytes: number, toError: (error: unknown) => Error) {
    super({ highWaterMark: readChunkBytes });
    this.#sftp = sftp;
    this.#handle = handle;
    this.#sizeBytes = sizeBytes;
    this.#toError = toError;
  }

  #readAt(offset: number, length: number): Promise<Buffer> {
    const buffer = Buffer.allocUnsafe(length);
    const fill = async (filled: number): Promise<Buffer> => {
      if (filled === length) return buffer;
      const bytesRead = await call<number>((done) =>
        this.#sftp.read(this.#handle, buffer, filled, length - filled, offset + filled, done),
      );
      if (bytesRead === 0) {
        throw new Error(`the object ended at byte ${offset + filled} of ${this.#sizeBytes}`);
      }
      return fill(filled + bytesRead);
    };
    const reading = fill(0);
    // A read still in flight when the stream is destroyed has nobody left to tell.
    reading.catch(() => undefined);
    return reading;
  }

  override _read(): void {
    while (this.#reads.length < maxReadsInFlight && this.#nextOffset < this.#sizeBytes) {
      const length = Math.min(readChunkBytes, this.#sizeBytes - this.#nextOffset);
      this.#reads.push(this.#readAt(this.#nextOffset, length));
      this.#nextOffset += length;
    }
    const next = this.#reads.shift();
    if (!next) {
      this.push(null);
      return;
    }
    next.then(
      (chunk) => this.push(chunk),
      (error: unknown) => this.destroy(this.#toError(error)),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Closing a handle only for reading cannot lose data; its failure (a dropped connection) is moot.
    try {
      this.#sftp.close(this.#handle, () => callback(error));
    } catch {
      callback(error);
    }
  }
}
