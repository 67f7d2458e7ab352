// Schedule input: presets map to their cron, and cron expressions are checked field by field.
import { describe, expect, it } from 'vitest';
import { cronProblem, scheduleCron, scheduleInputSchema } from '../../domain/schedule.ts';

describe('cron validation', () => {
  it('accepts standard expressions, names, steps, lists, macros and @every', () => {
    for (const cron of [
      '0 3 * * *',
      '*/15 0-6,22-23 * * MON-FRI',
      '0 0 1 JAN,JUL *',
      '0 12 * * 7',
      '@daily',
      '@every 10m',
      '@every 30s',
    ]) {
      expect(cronProblem(cron), cron).toBeUndefined();
    }
  });

  it('names the field that is wrong', () => {
    expect(cronProblem('61 * * * *')).toMatch(/^minute/);
    expect(cronProblem('0 24 * * *')).toMatch(/^hour/);
    expect(cronProblem('0 0 0 * *')).toMatch(/^day of month/);
    expect(cronProblem('0 0 * 13 *')).toMatch(/^month/);
    expect(cronProblem('0 0 * * 5-2')).toMatch(/runs backwards/);
    expect(cronProblem('0 0 * *')).toMatch(/expected 5 fields/);
    expect(cronProblem('@every 5s')).toMatch(/at least 10s/);
    expect(cronProblem('*/0 * * * *')).toMatch(/step/);
  });
});

describe('schedule input', () => {
  it('maps presets to their cron expressions', () => {
    expect(scheduleCron({ frequency: 'hourly' })).toBe('0 * * * *');
    expect(scheduleCron({ frequency: 'daily' })).toBe('0 3 * * *');
    expect(scheduleCron({ frequency: 'weekly' })).toBe('0 3 * * 0');
    expect(scheduleCron({ frequency: 'monthly' })).toBe('0 3 1 * *');
  });

  it('wants exactly one of frequency and cron, and a real time zone', () => {
    expect(scheduleInputSchema.safeParse({ name: 'a', target: 't' }).success).toBe(false);
    expect(
      scheduleInputSchema.safeParse({ name: 'a', target: 't', frequency: 'daily', cron: '0 * * * *' })
        .success,
    ).toBe(false);
    expect(
      scheduleInputSchema.safeParse({ name: 'a', target: 't', frequency: 'daily', timeZone: 'Nowhere/City' })
        .success,
    ).toBe(false);
    const ok = scheduleInputSchema.safeParse({
      name: 'a',
      target: 't',
      cron: '0 2 * * *',
      timeZone: 'Asia/Tokyo',
    });
    expect(ok.success && ok.data).toMatchObject({ enabled: true, options: { tags: [], format: 'custom' } });
  });
});
