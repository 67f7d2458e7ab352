import { describe, expect, it } from 'vitest';
import {
  chooseCopy,
  drillDatabaseName,
  drillEnding,
  drillServerProblem,
  drillWorkflowId,
  estimateShortfalls,
  evaluateAssertion,
  missingObjects,
} from '../../domain/drill/checks.ts';

describe('a drill', () => {
  it('has a readable workflow id and a scratch database under the sweep prefix', () => {
    expect(drillWorkflowId('shop', '2026-12-01T03:00:07.123Z', 'abc')).toBe(
      'drill/shop/20261201T030007Z-abc',
    );
    expect(drillDatabaseName('0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0')).toBe(
      'lifeboat_drill_0f1e2d3c4b5a69788796a5b4c3d2e1f0',
    );
  });

  it('fails when a check failed, naming it, and passes over skipped checks', () => {
    const ended = drillEnding({
      checks: [
        { name: 'archive', status: 'passed', detail: 'ok', durationMs: 1 },
        { name: 'amcheck', status: 'skipped', detail: 'not installed', durationMs: 0 },
        { name: 'assertion', label: 'orders', status: 'failed', detail: 'returned 3', durationMs: 2 },
      ],
      rtoSeconds: 4,
      checksSeconds: 1,
      peakBytes: 10,
      brokenCopy: null,
    });
    expect(ended).toMatchObject({
      status: 'failed',
      errorCode: 'VERIFY_FAILED',
      errorMessage: 'orders: returned 3',
    });
    expect(
      drillEnding({ ...ended, checks: ended.checks.slice(0, 2), brokenCopy: null, checksSeconds: 1 }).status,
    ).toBe('passed');
  });

  it('rotates through the copies: never drilled first, then the one drilled longest ago', () => {
    const copies = [
      { storageUrl: 'file:///a', position: 0 },
      { storageUrl: 's3://b', position: 1 },
    ];
    expect(chooseCopy(copies, new Map())).toBe('file:///a');
    expect(chooseCopy(copies, new Map([['file:///a', '2026-12-01T00:00:00Z']]))).toBe('s3://b');
    const both = new Map([
      ['file:///a', '2026-12-02T00:00:00Z'],
      ['s3://b', '2026-12-01T00:00:00Z'],
    ]);
    expect(chooseCopy(copies, both)).toBe('s3://b');
  });
});

describe('the schema check', () => {
  it('lists what the dump has and the restored database lacks, functions compared without spaces', () => {
    const entries = [
      { desc: 'TABLE', schema: 'sales', name: 'orders' },
      { desc: 'INDEX', schema: 'sales', name: 'orders_customer' },
      { desc: 'FUNCTION', schema: 'audit', name: 'touch(a integer, b text)' },
      { desc: 'EXTENSION', schema: null, name: 'pg_trgm' },
      { desc: 'COMMENT', schema: null, name: 'EXTENSION pg_trgm' },
      { desc: 'FK CONSTRAINT', schema: 'sales', name: 'orders orders_customer_id_fkey' },
    ];
    const present = [
      { kind: 'TABLE', schema: 'sales', name: 'orders' },
      { kind: 'FUNCTION', schema: 'audit', name: 'touch(a integer,b text)' },
      { kind: 'EXTENSION', schema: null, name: 'pg_trgm' },
    ];
    expect(missingObjects(entries, present)).toEqual([
      'INDEX sales.orders_customer',
      'FK CONSTRAINT sales.orders orders_customer_id_fkey',
    ]);
  });
});

describe('an assertion', () => {
  it('compares a number with its operator', () => {
    expect(
      evaluateAssertion({ name: 'n', sql: 'x', operator: '>', value: 1000 }, '3000', '2026-12-01T00:00:00Z'),
    ).toEqual({
      passed: true,
      detail: 'returned 3000; expected > 1000',
    });
    expect(
      evaluateAssertion({ name: 'n', sql: 'x', operator: '=', value: 2 }, 3, '2026-12-01T00:00:00Z').passed,
    ).toBe(false);
    expect(evaluateAssertion({ name: 'n', sql: 'x' }, null, '2026-12-01T00:00:00Z')).toEqual({
      passed: false,
      detail: 'returned null, not a number',
    });
  });

  it('checks a time against the backup time', () => {
    const within = { name: 't', sql: 'x', withinHoursOfBackup: 26 };
    expect(evaluateAssertion(within, new Date('2026-11-30T06:00:00Z'), '2026-12-01T03:00:00Z').passed).toBe(
      true,
    );
    const stale = evaluateAssertion(within, new Date('2026-11-28T00:00:00Z'), '2026-12-01T03:00:00Z');
    expect(stale.passed).toBe(false);
    expect(stale.detail).toContain('75.0 h before the backup');
  });
});

describe('the estimate check', () => {
  it('flags a table restored with less than half its rows at backup time, and leaves small tables out', () => {
    const manifest = [
      { schema: 'sales', name: 'orders', rowEstimate: 3000 },
      { schema: 'sales', name: 'customers', rowEstimate: 400 },
      { schema: 'public', name: 'tiny', rowEstimate: 40 },
    ];
    const restored = [
      { schema: 'sales', name: 'orders', rows: 0 },
      { schema: 'sales', name: 'customers', rows: 380 },
      { schema: 'public', name: 'tiny', rows: 0 },
    ];
    expect(estimateShortfalls(manifest, restored)).toEqual([
      'sales.orders holds 0 rows, against about 3000 when the backup was taken',
    ]);
  });
});

describe('a drill server', () => {
  it('drills backups of its own major version or an older one, never a newer one', () => {
    expect(drillServerProblem({ name: 'd', versionNum: 150012 }, 150004)).toBeNull();
    expect(drillServerProblem({ name: 'd', versionNum: 170002 }, 130020)).toBeNull();
    expect(drillServerProblem({ name: 'old', versionNum: 140011 }, 150004)).toBe(
      "The drill server old runs PostgreSQL 14, older than the backup's 15: a drill needs the same major version or a newer one.",
    );
  });
});
