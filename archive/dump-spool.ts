// A dump file that pg_dump is still writing, and the bounded archive parts cut from it as it grows.
import { open, type FileHandle } from 'node:fs/promises';
import type { ArchiveSource } from './write.ts';

/** Bounds of one part: a part starts once `minBytes` are spooled (or the dump ended) and holds at most `maxBytes`. */
export interface PartBounds {
  minBytes: number;
  maxBytes: number;
}

export const defaultPartBounds: PartBounds = { minBytes: 4 * 1024 ** 2, maxBytes: 64 * 1024 ** 2 };

/** How often the file's size is looked at while the dump runs. */
const pollMs = 20;

/**
 * The file a dump is being written to (by another process, at its own pace) and how far it has got. Every
 * byte below `spooledBytes` is in the file and stays as it is: the writer only appends. `ended` is set once
 * `finished` (the writer's exit) resolved and the final size was read; when it rejects, readers waiting
 * for more bytes get its error.
 */
export class DumpSpool {
  readonly file: string;
  #spooled = 0;
  #ended = false;
  #failure: Error | undefined;
  #waiters: Array<() => void> = [];
  #handle: Promise<FileHandle>;
  #timer: NodeJS.Timeout;

  constructor(file: string, finished: Promise<void>) {
    this.file = file;
    this.#handle = open(file, 'r');
    this.#handle.catch(() => undefined);
    this.#timer = setInterval(() => void this.#measure(), pollMs);
    finished.then(
      async () => {
        await this.#measure();
        this.#ended = true;
        this.#stop();
      },
      (error: Error) => this.abort(error),
    );
  }

  get spooledBytes(): number {
    return this.#spooled;
  }

  get ended(): boolean {
    return this.#ended;
  }

  async #measure(): Promise<void> {
    try {
      const size = (await (await this.#handle).stat()).size;
      if (size > this.#spooled) {
        this.#spooled = size;
        this.#wake();
      }
    } catch (error) {
      this.abort(error as Error);
    }
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  #stop(): void {
    clearInterval(this.#timer);
    this.#wake();
    this.#handle.then((handle) => handle.close()).catch(() => undefined);
  }

  /** Stops the spool: readers waiting on it get `error` (the first one given), and it reads no more. */
  abort(error: Error): void {
    this.#failure ??= error;
    this.#stop();
  }

  /** Resolves once more than `bytes` are spooled or the dump has ended; rejects when it failed. */
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
 * A dump of zero bytes still yields one, empty, part.
 */
export async function* spooledParts(
  spool: DumpSpool,
  partName: (index: number) => string,
  bounds: PartBounds = defaultPartBounds,
): AsyncGenerator<ArchiveSource> {
  let offset = 0;
  for (let index = 0; ; index++) {
    await spool.waitBeyond(offset + bounds.minBytes - 1);
    const available = spool.spooledBytes - offset;
    const sizeBytes = Math.min(available, bounds.maxBytes);
    const last = spool.ended && sizeBytes === available;
    if (sizeBytes === 0 && !(last && index === 0)) return;
    yield { entryName: partName(index), file: spool.file, start: offset, sizeBytes, mtime: new Date() };
    offset += sizeBytes;
    if (last) return;
  }
}
