// A dump spooled to a local file as it arrives, and read back as bounded archive parts while it grows.
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { ArchiveSource } from './write.ts';

/** Bounds of one part: a part starts once `minBytes` are spooled (or the dump ended) and holds at most `maxBytes`. */
export interface PartBounds {
  minBytes: number;
  maxBytes: number;
}

export const defaultPartBounds: PartBounds = { minBytes: 4 * 1024 ** 2, maxBytes: 64 * 1024 ** 2 };

/**
 * Copies `input` (pg_dump's standard output) into `file` as fast as it comes, so that pg_dump never waits
 * for compression or upload and its snapshot on the source is released as early as a dump to a file would
 * release it. Readers learn how many bytes are safely in the file (`spooledBytes`) and wait for more.
 */
export class DumpSpool {
  #spooled = 0;
  #ended = false;
  #failure: Error | undefined;
  #waiters: Array<() => void> = [];
  /** Settles when every byte of `input` is in the file (or the copy failed). */
  readonly finished: Promise<void>;

  readonly file: string;

  constructor(file: string, input: Readable) {
    this.file = file;
    this.finished = this.#copy(input);
    // Failures are seen through `finished` and `waitBeyond`; this keeps an unobserved one from crashing.
    this.finished.catch(() => undefined);
  }

  get spooledBytes(): number {
    return this.#spooled;
  }

  get ended(): boolean {
    return this.#ended;
  }

  async #copy(input: Readable): Promise<void> {
    const handle = await open(this.file, 'w', 0o600);
    try {
      for await (const chunk of input) {
        const buffer = chunk as Buffer;
        let offset = 0;
        while (offset < buffer.length) {
          const { bytesWritten } = await handle.write(buffer, offset, buffer.length - offset);
          offset += bytesWritten;
        }
        this.#spooled += buffer.length;
        this.#wake();
      }
      this.#ended = true;
    } catch (error) {
      this.#failure = error as Error;
      input.destroy();
      throw error;
    } finally {
      await handle.close();
      this.#wake();
    }
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /** Stops a reader waiting on the spool: `waitBeyond` rejects with `error` from now on. */
  abort(error: Error): void {
    this.#failure ??= error;
    this.#wake();
  }

  /** Resolves once more than `bytes` are spooled or the input has ended; rejects when the copy failed. */
  async waitBeyond(bytes: number): Promise<void> {
    for (;;) {
      if (this.#failure) throw this.#failure;
      if (this.#spooled > bytes || this.#ended) return;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }
}

/**
 * The spooled dump as archive parts, in order, each ending where the spool had reached when it was cut
 * (so its size is known before its tar header is written). Waits for `bounds.minBytes` before cutting a
 * part, so that parts stay few when the dump outruns the archive and small when the archive keeps up.
 * A dump of zero bytes still yields one, empty, part. `beforeLastPart` runs once the dump has ended,
 * before the last part is cut (once): the caller waits there for pg_dump's exit status.
 */
export async function* spooledParts(
  spool: DumpSpool,
  partName: (index: number) => string,
  beforeLastPart: () => Promise<void>,
  bounds: PartBounds = defaultPartBounds,
): AsyncGenerator<ArchiveSource> {
  let offset = 0;
  let confirmed = false;
  for (let index = 0; ; index++) {
    await spool.waitBeyond(offset + bounds.minBytes - 1);
    if (spool.ended && !confirmed) {
      await beforeLastPart();
      confirmed = true;
    }
    const available = spool.spooledBytes - offset;
    const sizeBytes = Math.min(available, bounds.maxBytes);
    const last = spool.ended && sizeBytes === available;
    if (sizeBytes === 0 && !(last && index === 0)) return;
    yield { entryName: partName(index), file: spool.file, start: offset, sizeBytes, mtime: new Date() };
    offset += sizeBytes;
    if (last) return;
  }
}
