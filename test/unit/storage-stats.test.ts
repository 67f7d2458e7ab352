// Storage recommendations: quota warnings, the missing off-machine copy, targets without a backup.
import { describe, expect, it } from 'vitest';
import { recommend } from '../../catalog/storage-stats.ts';

const base = {
  countsByStatus: { completed: 3 },
  degradedBackups: 0,
  destinations: [{ url: 's3://bucket/lifeboat', backups: 3, bytes: 900 }],
  targets: [
    {
      name: 'shop',
      backups: 3,
      bytes: 900,
      newestCompletedAt: '2026-01-01T00:00:00.000Z',
      offMachineCopy: true,
    },
  ],
  totalBytes: 900,
  quota: null,
};

describe('recommend', () => {
  it('has nothing to say about a healthy setup', () => {
    expect(recommend(base)).toEqual([]);
  });

  it('warns from 80% of the quota and says when it is exceeded', () => {
    expect(
      recommend({ ...base, quota: { maxStorageBytes: 1000, usedBytes: 900, usedFraction: 0.9 } }).map(
        (r) => r.code,
      ),
    ).toEqual(['QUOTA_NEARLY_FULL']);
    expect(
      recommend({ ...base, quota: { maxStorageBytes: 800, usedBytes: 900, usedFraction: 1.125 } }).map(
        (r) => r.code,
      ),
    ).toEqual(['QUOTA_EXCEEDED']);
  });

  it('asks for an off-machine copy, a first backup of every target, and a look at failures', () => {
    const advice = recommend({
      ...base,
      countsByStatus: { completed: 3, failed: 2 },
      degradedBackups: 0,
      destinations: [{ url: 'file:///var/lib/lifeboat', backups: 3, bytes: 900 }],
      targets: [
        { ...base.targets[0]!, offMachineCopy: false },
        { name: 'crm', backups: 0, bytes: 0, newestCompletedAt: null, offMachineCopy: false },
      ],
    });
    expect(advice.map((r) => r.code)).toEqual([
      'NO_OFF_MACHINE_COPY',
      'TARGET_WITHOUT_BACKUP',
      'FAILED_BACKUPS',
    ]);
    expect(advice[0]?.message).toMatch(/^shop: /);
    expect(advice[1]?.message).toContain('crm');
  });
});
