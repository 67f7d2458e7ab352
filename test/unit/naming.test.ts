// Names people read: workflow ids, archive names and keys derive from the target, time and backup id.
import { describe, expect, it } from 'vitest';
import {
  archiveKey,
  backupWorkflowId,
  compactUtcTimestamp,
  dumpEntryName,
  isValidTargetName,
  manifestSidecarKey,
  md5SidecarKey,
} from '../../domain/naming.ts';

const at = new Date('2026-03-05T07:08:09.999Z');
const id = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';

describe('naming', () => {
  it('formats UTC timestamps that sort as text', () => {
    expect(compactUtcTimestamp(at)).toBe('20260305_070809');
  });

  it('derives the workflow id and the object keys from target, time and id', () => {
    expect(backupWorkflowId('shop', at, id)).toBe('backup/shop/20260305_070809-0a1b2c3d');
    expect(archiveKey('shop', at, id, 'zstd')).toBe('shop/shop_backup_20260305_070809_0a1b2c3d.tar.zst');
    expect(archiveKey('shop', at, id, 'gzip')).toBe('shop/shop_backup_20260305_070809_0a1b2c3d.tar.gz');
    expect(archiveKey('shop', at, id, 'none')).toBe('shop/shop_backup_20260305_070809_0a1b2c3d.tar');
    expect(archiveKey('shop', at, id, 'zstd', true)).toBe(
      'shop/shop_backup_20260305_070809_0a1b2c3d.tar.zst.age',
    );
    expect(manifestSidecarKey('shop/x.tar')).toBe('shop/x.tar.manifest.json');
    expect(md5SidecarKey('shop/x.tar')).toBe('shop/x.tar.md5');
  });

  it('makes database names safe as archive paths', () => {
    expect(dumpEntryName('shop')).toBe('database/shop.dump');
    expect(dumpEntryName('../we ird/db')).toBe('database/.._we_ird_db.dump');
  });

  it('accepts only simple target names', () => {
    expect(isValidTargetName('shop-eu_1')).toBe(true);
    for (const name of ['', 'Shop', '../x', '-x', 'a b', 'x'.repeat(64)])
      expect(isValidTargetName(name)).toBe(false);
  });
});
