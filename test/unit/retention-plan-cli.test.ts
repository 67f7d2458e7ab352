// `lifeboat retention plan`: timestamps in, a JSON plan out, times exactly as given.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseTimestamp, planFromText, policyFromFlags } from '../../cli/retention-plan.ts';

const cli = path.resolve(import.meta.dirname, '../../cli/lifeboat.js');

function runCli(args: string[], input: string) {
  return spawnSync(process.execPath, [cli, 'retention', 'plan', ...args], { input, encoding: 'utf8' });
}

describe('retention plan', () => {
  it('prints keep (with reasons) and remove, newest first, each time as it was written', () => {
    const input = [
      '2026-05-01T12:00:00Z',
      '2026-05-03T12:00:00+02:00',
      '2026-05-03T08:00:00Z',
      '',
      '2026-05-04T12:00:00.000Z',
    ].join('\n');
    const result = runCli(['--keep-daily', '2'], input);
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      keep: [
        { time: '2026-05-04T12:00:00.000Z', reasons: ['daily', 'newest'] },
        { time: '2026-05-03T12:00:00+02:00', reasons: ['daily'] },
      ],
      remove: [{ time: '2026-05-03T08:00:00Z' }, { time: '2026-05-01T12:00:00Z' }],
    });
  });

  it('buckets by calendar in the given time zone', () => {
    // 23:30Z on 28 March is already 29 March in Berlin, so the two evening backups fill two days there.
    const input = '2026-03-28T10:00:00Z\n2026-03-28T22:30:00Z\n2026-03-28T23:30:00Z\n';
    const berlin = planFromText(input, { keepDaily: '2', timezone: 'Europe/Berlin' }, new Date());
    const utc = planFromText(input, { keepDaily: '1' }, new Date());
    expect(berlin.remove).toEqual([{ time: '2026-03-28T10:00:00Z' }]);
    expect(utc.keep.map((k) => k.time)).toEqual(['2026-03-28T23:30:00Z']);
  });

  it('reads a time without an offset as wall-clock time in the zone', () => {
    expect(parseTimestamp('2026-07-01T09:00', 'Europe/Berlin', 1).toISOString()).toBe(
      '2026-07-01T07:00:00.000Z',
    );
    expect(parseTimestamp('2026-07-01T09:00:00-0530', 'UTC', 1).toISOString()).toBe(
      '2026-07-01T14:30:00.000Z',
    );
  });

  it('accepts "unlimited" and refuses bad flags and lines with a clear message', () => {
    expect(policyFromFlags({ keepDaily: 'unlimited' }).keepDaily).toBe(-1);
    expect(() => policyFromFlags({ keepDaily: 'lots' })).toThrow(/--keep-daily takes a whole number/);
    expect(() => policyFromFlags({ timezone: 'Mars/Olympus' })).toThrow(/not an IANA time zone/);
    const bad = runCli(['--keep-last', '1'], '2026-05-01T12:00:00Z\nyesterday\n');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('line 2: "yesterday" is not an ISO-8601 timestamp');
  });
});
