// What every benchmark writes: bench/out/<name>.json with the machine, the code measured and the figures.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';

export const benchRoot = path.resolve(import.meta.dirname, '..');
export const outDir = path.join(benchRoot, 'out');

export function log(line: string): void {
  console.log(`bench: ${line}`);
}

const command = (file: string, ...args: string[]) => execFileSync(file, args, { encoding: 'utf8' }).trim();

/** The commit and the files outside bench/ that differ from it: others may edit the checkout during a run. */
function codeVersion(): string {
  const root = path.resolve(benchRoot, '..');
  const commit = command('git', '-C', root, 'rev-parse', '--short', 'HEAD');
  const status = command('git', '-C', root, 'status', '--porcelain', '--', '.', ':!bench');
  const changed = status
    .split('\n')
    .filter(Boolean)
    .map((line) => line.slice(3));
  return changed.length ? `${commit} with uncommitted changes to ${changed.join(', ')}` : commit;
}

export type MachineFacts = ReturnType<typeof machineFacts> & { postgres?: string; pgDump?: string };

export function machineFacts() {
  const [cpuinfo, meminfo] = ['/proc/cpuinfo', '/proc/meminfo'].map((file) => readFileSync(file, 'utf8'));
  const gib = (field: string) =>
    Math.floor(Number(new RegExp(`${field}:\\s+(\\d+)`).exec(meminfo!)?.[1]) / 2 ** 20);
  return {
    date: new Date().toISOString(),
    cpu: `${availableParallelism()} × ${/^model name\s*:\s*(.+)$/m.exec(cpuinfo!)?.[1]}`,
    ...{ kernel: command('uname', '-sr'), node: process.version },
    memory: `${gib('MemTotal')} GiB, ${gib('MemAvailable')} GiB available`,
    /** Read again at the end of the run, and kept as `codeAtEnd` if it changed. */
    code: codeVersion(),
    codeAtEnd: undefined as string | undefined,
  };
}

/** Writes the results as JSON, noting the code at the end when it is not what it was at the start. */
export function writeResults(
  file: string,
  results: { machine: MachineFacts } & Record<string, unknown>,
): void {
  const codeAtEnd = codeVersion();
  if (codeAtEnd !== results.machine.code) results.machine.codeAtEnd = codeAtEnd;
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  log(`wrote ${file}; its tables: node bench/render.ts ${path.relative(process.cwd(), file)}`);
}
