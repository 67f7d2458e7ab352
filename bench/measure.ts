// Measuring instruments: wall-clock timing of child processes, a process's resident memory, medians.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

/** Runs `file args` to completion and resolves with its wall-clock duration; rejects on a non-zero exit. */
export async function timeProcess(
  file: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<number> {
  const startedMs = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`${file} exited with ${code}: ${stderr.trim()}`));
    });
  });
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

export interface RssSample {
  atMs: number;
  rssBytes: number;
}

export interface RssSampler {
  /** Stops polling: every sample, the highest VmRSS seen, and the kernel's VmHWM at that moment. */
  stop(): { samples: RssSample[]; polledPeakBytes: number; hwmBytes: number | undefined };
}

/** Polls VmRSS of `pid` every `intervalMs`, keeping each sample with its wall-clock time. */
export function sampleRss(pid: number, intervalMs = 100): RssSampler {
  const samples: RssSample[] = [];
  const take = () => {
    const rssBytes = readStatusBytes(pid, 'VmRSS');
    if (rssBytes !== undefined) samples.push({ atMs: Date.now(), rssBytes });
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      const polledPeakBytes = Math.max(0, ...samples.map((sample) => sample.rssBytes));
      return { samples, polledPeakBytes, hwmBytes: readStatusBytes(pid, 'VmHWM') };
    },
  };
}

/**
 * The highest sampled RSS between two wall-clock times, counting the samples just before and just after
 * them too, so that a window shorter than the polling interval still has a value (NaN without samples).
 */
export function peakBetween(samples: readonly RssSample[], fromMs: number, toMs: number): number {
  const first = Math.max(
    0,
    samples.findLastIndex((sample) => sample.atMs <= fromMs),
  );
  const after = samples.findIndex((sample) => sample.atMs >= toMs);
  const inside = samples.slice(first, after === -1 ? samples.length : after + 1);
  return inside.length ? Math.max(...inside.map((sample) => sample.rssBytes)) : Number.NaN;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
