// Rounds of contenders in an order rotated each round, then medians, extremes and ratios to the baseline.
import { log } from './results.ts';

export interface Round<C extends string, M> {
  order: C[];
  results: Record<C, M>;
}

/** Of every numeric field of one contender's measurements over the rounds. */
export type ContenderSummary = Record<'median' | 'min' | 'max', Record<string, number>>;

/** A measure of a contender over the baseline's in the same run: of the medians, and round by round. */
export interface Ratio {
  ofMedians: number;
  perRound: number[];
  medianOfRounds: number;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : ((sorted[middle - 1] ?? NaN) + (sorted[middle] ?? NaN)) / 2;
}

/** A measurement that has not ended in 30 minutes is stuck (a workflow task failing over and over, say). */
function withinLimit<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not end within 30 minutes`)), 30 * 60_000);
  });
  return Promise.race([work, limit]).finally(() => clearTimeout(timer));
}

/** `runs` rounds of `measure` over the contenders, rotated by one each round so none always runs first. */
export async function runRounds<C extends string, M extends { ms: number }>(
  contenders: readonly C[],
  runs: number,
  measure: (contender: C) => Promise<M>,
): Promise<Round<C, M>[]> {
  const rounds: Round<C, M>[] = [];
  for (let index = 0; index < runs; index++) {
    const shift = index % contenders.length;
    const order = [...contenders.slice(shift), ...contenders.slice(0, shift)];
    const round = { order, results: {} as Record<C, M> };
    for (const contender of order) {
      const measured = (round.results[contender] = await withinLimit(measure(contender), contender));
      log(`round ${index + 1}/${runs} ${contender}: ${(measured.ms / 1000).toFixed(2)} s`);
    }
    rounds.push(round);
  }
  return rounds;
}

const field = (measured: unknown, name: string) => (measured as Record<string, unknown>)[name];
const statistics = { median, min: (v: number[]) => Math.min(...v), max: (v: number[]) => Math.max(...v) };

export function summarize<C extends string>(rounds: readonly Round<C, object>[], contenders: readonly C[]) {
  const summary = {} as Record<C, ContenderSummary>;
  for (const contender of contenders) {
    const runs = rounds.map((round) => round.results[contender]);
    const fields = Object.keys(runs[0] ?? {}).filter((name) => typeof field(runs[0], name) === 'number');
    const values = (name: string) => runs.map((run) => field(run, name) as number);
    const over = (statistic: keyof typeof statistics) =>
      Object.fromEntries(fields.map((name) => [name, statistics[statistic](values(name))]));
    summary[contender] = { median: over('median'), min: over('min'), max: over('max') };
  }
  return summary;
}

/** `name` of each contender that has it, over `baseName` (the same unless given) of the baseline. */
export function ratios<C extends string>(
  rounds: Round<C, object>[],
  baseline: C,
  name: string,
  baseName = name,
) {
  const result: Partial<Record<C, Ratio>> = {};
  for (const contender of rounds[0]?.order ?? []) {
    const values = rounds.map((round) => field(round.results[contender], name) as number);
    const base = rounds.map((round) => field(round.results[baseline], baseName) as number);
    if (values.some((value) => typeof value !== 'number')) continue;
    const perRound = values.map((value, index) => value / base[index]!);
    const ofMedians = median(values) / median(base);
    result[contender] = { ofMedians, perRound, medianOfRounds: median(perRound) };
  }
  return result;
}
