// Measuring instruments: wall-clock time of a child process, a process's memory and CPU from /proc, polled,
// and an incompressible stream to feed what is measured.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Runs `file args` to completion and resolves with its wall-clock duration; rejects on a non-zero exit. */
export async function timeProcess(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const startedMs = performance.now();
  await run(file, args, { env });
  return performance.now() - startedMs;
}

/** A field of /proc/<pid>/status in bytes (VmRSS, VmHWM), or undefined once the process is gone. */
export function readStatusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Resets the kernel's peak-RSS mark (VmHWM) to the current RSS, so that the peak read later belongs to
 * what happened in between, not to the process's start-up. Needs root or the same user; false if refused.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat (100 ticks a second). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export type Sample = { atMs: number; value: number };

/** Polls `read` every `intervalMs`, keeping each value with its wall-clock time; `stop` takes a last one. */
export function poll(read: () => number | undefined, intervalMs = 100): { stop(): Sample[] } {
  const samples: Sample[] = [];
  const take = () => {
    const value = read();
    if (value !== undefined) samples.push({ atMs: Date.now(), value });
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return samples;
    },
  };
}

/** The values between two times, with those just before and after, so a short window still has some. */
function between(samples: readonly Sample[], fromMs: number, toMs: number): number[] {
  const first = Math.max(
    0,
    samples.findLastIndex((sample) => sample.atMs <= fromMs),
  );
  const after = samples.findIndex((sample) => sample.atMs >= toMs);
  return samples.slice(first, after === -1 ? samples.length : after + 1).map((sample) => sample.value);
}

/** The highest value between two times (NaN without samples): a polled peak RSS. */
export function peakBetween(samples: readonly Sample[], fromMs: number, toMs: number): number {
  const values = between(samples, fromMs, toMs);
  return values.length ? Math.max(...values) : NaN;
}

/** How much a growing value grew between two times: the CPU seconds used in a window. */
export function growthBetween(samples: readonly Sample[], fromMs: number, toMs: number): number {
  const values = between(samples, fromMs, toMs);
  return values.length ? values[values.length - 1]! - values[0]! : NaN;
}

// Random, so that nothing downstream could shortcut it; one block reused, so that generating costs nothing.
const block = randomBytes(1024 * 1024);

/** `bytes` of incompressible data in `chunkBytes` chunks, as fast as they are read; the same each time. */
export function randomStream(bytes: number, chunkBytes = 64 * 1024): Readable {
  let produced = 0;
  return new Readable({
    read() {
      const offset = produced % block.length;
      const chunk = block.subarray(offset, offset + Math.min(chunkBytes, bytes - produced));
      produced += chunk.length;
      this.push(chunk.length ? chunk : null);
    },
  });
}
