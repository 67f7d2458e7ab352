// domain/restore/plan.ts and failure.ts: what each mode asks of pg_restore, and what a failed attempt proves.
import { describe, expect, it } from 'vitest';
import { isPermanent, nonRetryableCodes } from '../../domain/errors.ts';
import { provablyRolledBack, restoreAttemptDetails } from '../../domain/restore/failure.ts';
import type { RestoreOptions } from '../../domain/restore/options.ts';
import { planRestore } from '../../domain/restore/plan.ts';
import type { ArchiveToc, TocEntry } from '../../domain/restore/toc.ts';

const table = (id: number, oid: number, name: string): TocEntry => ({
  id,
  oid,
  desc: 'TABLE',
  schema: 'sales',
  name,
  owner: 'app',
  deps: [],
});

const toc: ArchiveToc = {
  entries: [table(10, 100, 'customers'), table(11, 101, 'orders'), table(12, 102, 'empty')],
  dataEntries: [
    { id: 20, oid: 100, desc: 'TABLE DATA' },
    { id: 21, oid: 101, desc: 'TABLE DATA' },
    { id: 22, oid: 0, desc: 'BLOBS' },
  ],
};

const options = (overrides: Partial<RestoreOptions>): RestoreOptions => ({
  mode: 'full',
  tables: [],
  documents: false,
  noOwner: false,
  terminateConnections: false,
  ...overrides,
});

const counted = [
  { schema: 'sales', name: 'customers', rows: 3 },
  { schema: 'sales', name: 'orders', rows: 5 },
];

describe('the plan of a restore', () => {
  it('in mode full wipes the database and expects every table with the rows its COPY carried', () => {
    const plan = planRestore(options({ noOwner: true }), toc, [], '/tmp/list');
    expect(plan.selectArgs).toEqual(['--no-owner', '--no-privileges']);
    expect(plan.prelude).toContain('DROP SCHEMA IF EXISTS');
    expect(plan.listIds).toBeNull();
    expect(plan.expected(counted).map((t) => `${t.name}:${t.rows}`)).toEqual([
      'customers:3',
      'empty:0',
      'orders:5',
    ]);
  });

  it('in mode schema-only expects every table empty', () => {
    const plan = planRestore(options({ mode: 'schema-only' }), toc, [], '/tmp/list');
    expect(plan.selectArgs).toEqual(['--schema-only']);
    expect(plan.expected(counted).every((t) => t.rows === 0)).toBe(true);
  });

  it('in mode data-only empties the tables with rows, and the large objects, with triggers off', () => {
    const plan = planRestore(options({ mode: 'data-only' }), toc, [], '/tmp/list');
    expect(plan.selectArgs).toEqual(['--data-only']);
    expect(plan.prelude).toMatch(/^SET session_replication_role = replica;\n/);
    expect(plan.prelude).toContain('lo_unlink');
    expect(plan.expected(counted).map((t) => t.name)).toEqual(['customers', 'orders']);
  });

  it('in mode tables lists what it restores, and names the tables the dump lacks', () => {
    const selected = [
      { schema: 'sales', name: 'orders' },
      { schema: 'sales', name: 'missing' },
    ];
    const plan = planRestore(options({ mode: 'tables', tables: selected }), toc, selected, '/tmp/list');
    expect(plan.selectArgs).toEqual(['--use-list=/tmp/list']);
    expect(plan.listIds).toEqual([21]);
    expect(plan.unknown).toEqual([{ schema: 'sales', name: 'missing' }]);
    expect(plan.expected(counted)).toEqual([
      { schema: 'sales', name: 'orders', rows: 5 },
      { schema: 'sales', name: 'missing', rows: 0 },
    ]);
  });
});

describe('a failed restore attempt', () => {
  it('proves nothing was committed only when it is the first and only attempt and it rolled back', () => {
    const rolledBack = restoreAttemptDetails({ rolledBack: true, attempt: 1, code: 'x' });
    expect(rolledBack).toEqual({ rolledBack: true, committed: undefined, attempt: 1 });
    expect(provablyRolledBack(rolledBack, 1)).toBe(true);
    expect(provablyRolledBack(rolledBack, 2)).toBe(false);
    expect(provablyRolledBack(restoreAttemptDetails({ rolledBack: true, attempt: 2 }), 1)).toBe(false);
    expect(provablyRolledBack(restoreAttemptDetails({ committed: 'unknown', attempt: 1 }), 1)).toBe(false);
    expect(provablyRolledBack(restoreAttemptDetails(undefined), 1)).toBe(false);
  });

  it('is not retried for a permanent code, nor for the codes a step adds', () => {
    const codes = nonRetryableCodes('PG_RESTORE_FAILED');
    expect(codes).toContain('PG_RESTORE_FAILED');
    expect(codes.filter((code) => code !== 'PG_RESTORE_FAILED').every(isPermanent)).toBe(true);
    expect(codes).toEqual(expect.arrayContaining(['VERIFY_FAILED', 'CONFLICT', 'CHECKSUM_MISMATCH']));
  });
});
