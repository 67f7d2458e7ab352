// Smaller things a backup reports: which pg_dump complaint is a privilege problem, and how many copies
// of a degraded backup are left.
import { describe, expect, it } from 'vitest';
import type { BackupCopy } from '../../catalog/backups.ts';
import { classifyDumpStderr } from '../../postgres/pg-dump.ts';
import { copyWarnings } from '../../services/backups.ts';

describe('classifyDumpStderr', () => {
  it("turns PostgreSQL's own privilege errors into AUTH_FAILED", () => {
    expect(
      classifyDumpStderr('pg_dump: error: query failed: ERROR:  permission denied for table secrets').code,
    ).toBe('AUTH_FAILED');
    expect(
      classifyDumpStderr(
        'pg_dump: error: connection to server at "db" failed: FATAL:  permission denied for database "shop"',
      ).code,
    ).toBe('AUTH_FAILED');
  });

  it('leaves a local file that cannot be opened a retryable PG_DUMP_FAILED', () => {
    const error = classifyDumpStderr(
      'pg_dump: error: could not open output file "/work/x.dump": Permission denied',
    );
    expect(error.code).toBe('PG_DUMP_FAILED');
    expect(error.message).toContain('Permission denied');
  });
});

describe('copyWarnings', () => {
  const copy = (position: number, status: BackupCopy['status']) =>
    ({
      position,
      storageUrl: `file:///copy-${position}`,
      status,
      errorCode: status === 'failed' ? 'STORAGE_UNAVAILABLE' : null,
      errorMessage: status === 'failed' ? 'down.' : null,
    }) as BackupCopy;

  it('counts the copies that are left, whatever the number that failed', () => {
    const warnings = copyWarnings([copy(0, 'completed'), copy(1, 'failed'), copy(2, 'failed')]);
    expect(warnings).toHaveLength(2);
    for (const warning of warnings) expect(warning).toContain('Only 1 of 3 destinations hold this backup.');
    expect(copyWarnings([copy(0, 'completed'), copy(1, 'failed')])[0]).toContain('Only 1 of 2');
    expect(copyWarnings([copy(0, 'completed')])).toEqual([]);
  });
});
