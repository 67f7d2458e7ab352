// The options every benchmark takes (node:util parseArgs): --runs, --contenders (with the baseline), --out.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { outDir } from './results.ts';

/** A comma-separated list of whole numbers, each at least `min`. */
export function wholeNumbers(text: string, option: string, min: number): number[] {
  const numbers = text.split(',').map(Number);
  if (numbers.every((value) => Number.isInteger(value) && value >= min)) return numbers;
  throw new Error(`--${option} wants whole numbers ≥ ${min}, separated by commas (got "${text}")`);
}

/** Parses the shared options and the benchmark's own (`options`: name → default), all strings. */
export function parseOptions<C extends string, E extends string = never>(
  bench: string,
  spec: { contenders: readonly C[]; baseline: C; runs: number; options?: Record<E, string> },
) {
  const defaults = { runs: String(spec.runs), contenders: spec.contenders.join(','), ...spec.options };
  const options: Record<string, { type: 'string'; default?: string }> = { out: { type: 'string' } };
  for (const [name, value] of Object.entries<string>(defaults))
    options[name] = { type: 'string', default: value };
  const argv = process.argv.slice(2);
  const values = parseArgs({ args: argv, options }).values as Record<E | 'runs' | 'contenders', string>;
  const contenders = values.contenders.split(',') as C[];
  const known =
    contenders.every((name) => spec.contenders.includes(name)) && contenders.includes(spec.baseline);
  if (!known || new Set(contenders).size !== contenders.length) {
    const names = `${spec.contenders.join(', ')}, including ${spec.baseline}`;
    throw new Error(`--contenders wants distinct names from ${names} (got "${values.contenders}")`);
  }
  const outFile = path.resolve((values as { out?: string }).out ?? path.join(outDir, `${bench}.json`));
  const command = ['bash bench/run.sh', bench, ...argv].join(' ');
  return { runs: wholeNumbers(values.runs, 'runs', 1)[0]!, contenders, outFile, command, values };
}
