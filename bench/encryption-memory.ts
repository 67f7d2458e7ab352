// Benchmark: age encryption stages on generated data, throughput and peak RSS against a PassThrough.
// Run: node bench/encryption-memory.ts [--mib 1024]   (one process; figures are ratios to the baseline, not asserts)
import { createHash, randomBytes } from 'node:crypto';
import { PassThrough, Readable, Writable, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { decryptStream, encryptStream, generateIdentity } from '../archive/encryption.ts';
import { readStatusBytes, resetPeakRss } from './measure.ts';

const { values } = parseArgs({ options: { mib: { type: 'string', default: '1024' } } });
const totalBytes = Number(values.mib) * 1024 * 1024;
const chunkBytes = 64 * 1024;
// Random, so nothing downstream could shortcut it; one block reused, so generating costs nothing.
const block = randomBytes(1024 * 1024);

/** `bytes` of data in 64 KiB chunks, produced as fast as the pipeline takes them. */
function generated(bytes: number): Readable {
  let produced = 0;
  return new Readable({
    read() {
      if (produced >= bytes) return void this.push(null);
      const offset = produced % block.length;
      const chunk = block.subarray(offset, offset + Math.min(chunkBytes, bytes - produced));
      produced += chunk.length;
      this.push(chunk);
    },
  });
}

/** Counts and hashes what arrives; `pauseMsPerMib` makes it a slow consumer (a slow upload). */
function sink(pauseMsPerMib = 0): Writable & { bytes: number; sha256: () => string } {
  const hash = createHash('sha256');
  let sinceLastPause = 0;
  const writable = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      result.bytes += chunk.length;
      sinceLastPause += chunk.length;
      if (pauseMsPerMib > 0 && sinceLastPause >= 1024 * 1024) {
        sinceLastPause = 0;
        sleep(pauseMsPerMib).then(() => callback(), callback);
      } else callback();
    },
  });
  const result = Object.assign(writable, { bytes: 0, sha256: () => hash.digest('hex') });
  return result;
}

interface Measured {
  name: string;
  inputBytes: number;
  seconds: number;
  rssBeforeBytes: number;
  peakRssBytes: number;
}

async function measure(
  name: string,
  inputBytes: number,
  stages: () => Duplex[],
  pauseMsPerMib = 0,
): Promise<Measured & { outputSha256: string; outputBytes: number }> {
  globalThis.gc?.();
  const rssBeforeBytes = readStatusBytes(process.pid, 'VmRSS') ?? Number.NaN;
  if (!resetPeakRss(process.pid)) throw new Error('cannot reset the peak RSS mark (/proc/self/clear_refs)');
  const out = sink(pauseMsPerMib);
  const startedMs = performance.now();
  await pipeline([generated(inputBytes), ...stages(), out]);
  const seconds = (performance.now() - startedMs) / 1000;
  const peakRssBytes = readStatusBytes(process.pid, 'VmHWM') ?? Number.NaN;
  return {
    name,
    inputBytes,
    seconds,
    rssBeforeBytes,
    peakRssBytes,
    outputSha256: out.sha256(),
    outputBytes: out.bytes,
  };
}

const { identity, recipient } = await generateIdentity();
const expected = await measure('plain input (reference hash)', totalBytes, () => []);
const slowBytes = Math.min(totalBytes, 256 * 1024 * 1024);
const runs = [
  await measure('PassThrough (baseline)', totalBytes, () => [new PassThrough()]),
  await measure('encryptStream', totalBytes, () => [encryptStream([recipient])]),
  await measure('encryptStream → decryptStream', totalBytes, () => [
    encryptStream([recipient]),
    decryptStream([identity]),
  ]),
  await measure('PassThrough, slow consumer', slowBytes, () => [new PassThrough()], 2),
  await measure(
    'encrypt → decrypt, slow consumer',
    slowBytes,
    () => [encryptStream([recipient]), decryptStream([identity])],
    2,
  ),
];
const roundTrip = runs[2];
if (roundTrip?.outputSha256 !== expected.outputSha256 || roundTrip.outputBytes !== totalBytes) {
  throw new Error('the round trip did not give back the input');
}

const mib = (bytes: number) => bytes / 1024 / 1024;
const [baseline, , , slowBaseline] = runs;
console.log(
  `node ${process.version}, ${mib(totalBytes)} MiB in ${chunkBytes / 1024} KiB chunks (slow consumer: ${mib(slowBytes)} MiB, 2 ms pause per MiB)`,
);
console.log(
  '| pipeline | MiB/s | × baseline time | RSS before MiB | peak RSS MiB | peak growth MiB | peak × baseline |',
);
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const run of runs) {
  const reference = run.inputBytes === totalBytes ? baseline : slowBaseline;
  if (!reference) continue;
  const growth = run.peakRssBytes - run.rssBeforeBytes;
  console.log(
    `| ${run.name} | ${(mib(run.inputBytes) / run.seconds).toFixed(0)} | ${(run.seconds / reference.seconds).toFixed(1)} | ` +
      `${mib(run.rssBeforeBytes).toFixed(0)} | ${mib(run.peakRssBytes).toFixed(0)} | ${mib(growth).toFixed(1)} | ` +
      `${(run.peakRssBytes / reference.peakRssBytes).toFixed(2)} |`,
  );
}
