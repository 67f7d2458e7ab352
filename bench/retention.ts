// The retention benchmark: planRetention over 100,000 backups (one an hour for about eleven years, every 50th
// failed, every 997th protected), in UTC and in zones with DST. Not a test.
import { planRetention, retentionPolicySchema, type RetentionCandidate } from '../domain/retention.ts';
import { parseOptions, wholeNumbers } from './lib/options.ts';
import { machineFacts, writeResults } from './lib/results.ts';
import { runRounds, summarize } from './lib/rounds.ts';

const contenders = ['UTC', 'Europe/Berlin', 'America/New_York'];
const options = parseOptions('retention', {
  contenders,
  baseline: 'UTC',
  runs: 7,
  options: { backups: '100000' },
});
const count = wholeNumbers(options.values.backups, 'backups', 1)[0]!;
const start = Date.UTC(2015, 0, 1);
const backups: RetentionCandidate[] = Array.from({ length: count }, (_, i) => ({
  id: `b${i}`,
  time: new Date(start + i * 3_600_000 + (i % 7) * 60_000),
  status: i % 50 === 0 ? 'failed' : 'completed',
  protected: i % 997 === 0,
  sizeBytes: 1_000_000 + (i % 13) * 1000,
  trigger: i % 100 === 0 ? 'manual' : 'scheduled',
}));
const now = new Date(start + count * 3_600_000);
const policy = {
  keepLast: 5,
  keepHourly: 24,
  keepDaily: 30,
  keepWeekly: 12,
  keepMonthly: 24,
  keepYearly: 10,
};
const machine = machineFacts();

const rounds = await runRounds(options.contenders, options.runs, (timeZone) => {
  const parsed = retentionPolicySchema.parse({ ...policy, timeZone });
  const startedMs = performance.now();
  const { keep } = planRetention(backups, parsed, now);
  return Promise.resolve({ ms: performance.now() - startedMs, backups: count, kept: keep.length });
});
const parameters = { runs: options.runs, backups: count, ...policy };
const summary = summarize(rounds, options.contenders);
writeResults(options.outFile, {
  bench: 'retention',
  command: options.command,
  machine,
  parameters,
  rounds,
  summary,
});
