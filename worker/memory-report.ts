// The worker's memory, split the way RSS is spent (V8 heap, external, array buffers, the native rest), as
// one log line every few seconds when LIFEBOAT_MEMORY_REPORT_MS asks for it: what the memory benchmark reads.
import { readFileSync } from 'node:fs';
import v8 from 'node:v8';

export interface MemoryReport {
  atMs: number;
  rssBytes: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
  /** C++ objects bound to JS objects, Buffers and ArrayBuffers included. */
  externalBytes: number;
  arrayBuffersBytes: number;
  /** RSS − V8 heap committed − external: Node, libuv, glibc's arenas, the Temporal core (Rust), code. */
  nativeBytes: number;
  /** The kernel's resident set split: anonymous memory and file-backed pages (code of node and the core). */
  rssAnonBytes: number;
  rssFileBytes: number;
  heapLimitBytes: number;
}

function statusKb(status: string, field: string): number {
  return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
}

/** /proc/self/status, or nothing where there is no /proc (the kernel figures are then NaN). */
function readStatus(): string {
  try {
    return readFileSync('/proc/self/status', 'utf8');
  } catch {
    return '';
  }
}

export function memoryReport(): MemoryReport {
  const usage = process.memoryUsage();
  const status = readStatus();
  return {
    atMs: Date.now(),
    rssBytes: usage.rss,
    heapUsedBytes: usage.heapUsed,
    heapTotalBytes: usage.heapTotal,
    externalBytes: usage.external,
    arrayBuffersBytes: usage.arrayBuffers,
    nativeBytes: usage.rss - usage.heapTotal - usage.external,
    rssAnonBytes: statusKb(status, 'RssAnon'),
    rssFileBytes: statusKb(status, 'RssFile'),
    heapLimitBytes: v8.getHeapStatistics().heap_size_limit,
  };
}

/** The prefix of a report line; the JSON of a MemoryReport follows it. */
export const memoryReportPrefix = 'lifeboat memory ';

/** Logs a report every `intervalMs` (0: never); the timer does not keep the process alive. */
export function startMemoryReports(
  intervalMs: number,
  write = (line: string) => console.log(line),
): () => void {
  if (intervalMs <= 0) return () => undefined;
  const timer = setInterval(() => write(memoryReportPrefix + JSON.stringify(memoryReport())), intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
