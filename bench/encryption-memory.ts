// The encryption memory benchmark: age encryption stages over generated data, throughput and peak RSS of this
// process against a PassThrough, with a fast and a slow consumer (a slow upload), --mib of data. Not a test.
import { createHash } from 'node:crypto';
import { PassThrough, Writable, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { decryptStream, encryptStream, generateIdentity } from '../archive/encryption.ts';
import { randomStream, readStatusBytes, resetPeakRss } from './lib/measure.ts';
import { parseOptions, wholeNumbers } from './lib/options.ts';
import { machineFacts, writeResults } from './lib/results.ts';
import { runRounds, summarize } from './lib/rounds.ts';

const { identity, recipient } = await generateIdentity();
/** The stages of each pipeline, and whether its consumer pauses 2 ms per MiB (on at most 256 MiB). */
const pipelines: Record<string, [() => Duplex[], boolean]> = {
  passthrough: [() => [new PassThrough()], false],
  encrypt: [() => [encryptStream([recipient])], false],
  'encrypt-decrypt': [() => [encryptStream([recipient]), decryptStream([identity])], false],
  'passthrough-slow': [() => [new PassThrough()], true],
  'encrypt-decrypt-slow': [() => [encryptStream([recipient]), decryptStream([identity])], true],
};
const [contenders, baseline] = [Object.keys(pipelines), 'passthrough'];
const options = parseOptions('encryption-memory', {
  contenders,
  baseline,
  runs: 1,
  options: { mib: '1024' },
});
const totalBytes = wholeNumbers(options.values.mib, 'mib', 1)[0]! * 2 ** 20;
const slowBytes = Math.min(totalBytes, 256 * 2 ** 20);

/** Streams `bytes` through the stages into a hashing sink; the sha256 proves a round trip gives back the input. */
async function measure(bytes: number, stages: Duplex[], pauseMsPerMib = 0) {
  globalThis.gc?.();
  const rssBeforeBytes = readStatusBytes(process.pid, 'VmRSS') ?? NaN;
  if (!resetPeakRss(process.pid)) throw new Error('cannot reset the peak RSS mark (/proc/self/clear_refs)');
  const [hash, counted] = [createHash('sha256'), { bytes: 0 }];
  // Hashes what arrives; a slow consumer (a slow upload) rests `pauseMsPerMib` after each MiB.
  const take = async (chunk: Buffer) => {
    hash.update(chunk);
    counted.bytes += chunk.length;
    if (pauseMsPerMib && counted.bytes % 2 ** 20 < chunk.length) await sleep(pauseMsPerMib);
  };
  const sink = new Writable({ write: (chunk: Buffer, _, done) => void take(chunk).then(() => done(), done) });
  const startedMs = performance.now();
  await pipeline([randomStream(bytes), ...stages, sink]);
  const ms = performance.now() - startedMs;
  const peakRssBytes = readStatusBytes(process.pid, 'VmHWM') ?? NaN;
  const [outputBytes, sha256] = [counted.bytes, hash.digest('hex')];
  return { ms, inputBytes: bytes, outputBytes, rssBeforeBytes, peakRssBytes, sha256 };
}

const machine = machineFacts();
const expected = { [totalBytes]: await measure(totalBytes, []), [slowBytes]: await measure(slowBytes, []) };
const rounds = await runRounds(options.contenders, options.runs, async (name) => {
  const [stages, slow] = pipelines[name]!;
  const measured = await measure(slow ? slowBytes : totalBytes, stages(), slow ? 2 : 0);
  if (name.startsWith('encrypt-decrypt') && measured.sha256 !== expected[measured.inputBytes]!.sha256) {
    throw new Error(`${name}: the round trip did not give back the input`);
  }
  return measured;
});
const parameters = { runs: options.runs, totalBytes, slowBytes, chunkBytes: 64 * 1024, slowPauseMsPerMib: 2 };
const [bench, summary] = ['encryption-memory', summarize(rounds, options.contenders)];
writeResults(options.outFile, { bench, command: options.command, machine, parameters, rounds, summary });
