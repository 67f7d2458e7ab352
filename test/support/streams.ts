// Streams for storage tests: read one back whole, or send a body that breaks part way.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A body that fails after `goodBytes`, like a network or disk error in the middle of an upload. */
export function failingBody(goodBytes: number): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(randomBytes(goodBytes));
      } else {
        this.destroy(new Error('source broke'));
      }
    },
  });
}
