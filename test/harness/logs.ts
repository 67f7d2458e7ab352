// Where the logs of a test run go: files under <root>/logs, one folder per test file, never the terminal.
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { formatWithOptions } from 'node:util';
import { afterEach, expect, inject } from 'vitest';

/** This test file's log folder, <root>/logs/<file name without .test.ts>. */
export function testLogsDir(): string {
  const testPath = expect.getState().testPath ?? 'outside-a-test-file';
  const dir = path.join(inject('stack').logsDir, path.basename(testPath).replace(/\.test\.ts$/, ''));
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** A log file of this test file, e.g. `worker` → <root>/logs/restore/worker.log. */
export function testLogFile(name: string): string {
  return path.join(testLogsDir(), `${name}.log`);
}

/** Appends one entry, formatted as console.log would print it, without colours. */
export function appendLog(file: string, ...values: unknown[]): void {
  appendFileSync(file, `${formatWithOptions({ colors: false, depth: 8 }, ...values)}\n`);
}

/** Adds this file's log folder to the error of every test of the file that fails. */
export function pointFailuresAtLogs(): void {
  afterEach(({ task }) => {
    if (task.result?.state !== 'fail') return;
    for (const error of task.result.errors ?? []) error.message += `\n\nlogs: ${testLogsDir()}`;
  });
}
