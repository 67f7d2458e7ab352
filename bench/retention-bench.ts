// Benchmark: planRetention over 100,000 backups (hourly for ~11 years), in UTC and in a DST zone.
// Run: node bench/retention-bench.ts   (reports the median of several runs; not a test)
import { planRetention, retentionPolicySchema, type RetentionCandidate } from '../domain/retention.ts';

const count = 100_000;
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

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

for (const timeZone of ['UTC', 'Europe/Berlin', 'America/New_York']) {
  const policy = retentionPolicySchema.parse({
    keepLast: 5,
    keepHourly: 24,
    keepDaily: 30,
    keepWeekly: 12,
    keepMonthly: 24,
    keepYearly: 10,
    timeZone,
  });
  const times: number[] = [];
  let kept = 0;
  for (let run = 0; run < 7; run++) {
    const began = performance.now();
    const plan = planRetention(backups, policy, now);
    times.push(performance.now() - began);
    kept = plan.keep.length;
  }
  console.log(
    `${timeZone.padEnd(17)} ${count} backups: median ${median(times).toFixed(1)} ms (min ${Math.min(...times).toFixed(1)}, max ${Math.max(...times).toFixed(1)}), kept ${kept}`,
  );
}
