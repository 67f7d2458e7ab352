// worker/memory.env, the worker's and the API's process settings (malloc arenas, V8 heap), as name → value:
// scripts/start.sh sources the file, the Dockerfile repeats it, the memory benchmark starts processes with it.
import { readFileSync } from 'node:fs';
import path from 'node:path';

export const memorySettingsFile = path.join(import.meta.dirname, 'memory.env');

/** KEY=VALUE lines, comments and blank lines skipped, one pair of double quotes around a value taken off. */
export function parseEnvFile(text: string): Record<string, string> {
  const pairs = text
    .split('\n')
    .map((line) => /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim()))
    .filter((match) => match !== null)
    .map((match): [string, string] => [match[1]!, match[2]!.replace(/^"(.*)"$/, '$1')]);
  return Object.fromEntries(pairs);
}

export function readMemorySettings(file = memorySettingsFile): Record<string, string> {
  return parseEnvFile(readFileSync(file, 'utf8'));
}
