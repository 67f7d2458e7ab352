// A manifest for archive tests: every field but the files, which each test lists itself.
import type { Manifest } from '../../domain/manifest.ts';

export const manifestBase: Omit<Manifest, 'files'> = {
  formatVersion: 1,
  lifeboatVersion: 'test',
  backupId: '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
  target: 'shop',
  database: { name: 'shop', serverVersion: '15.4', serverVersionNum: 150004, sizeBytes: 1 },
  pgDump: { version: '15.4', format: 'custom', compression: 'none' },
  archive: { compression: 'zstd' },
  trigger: 'manual',
  startedAt: '2026-01-01T00:00:00.000Z',
  dumpFinishedAt: '2026-01-01T00:00:05.000Z',
  tables: [],
  documents: null,
  options: { tags: [] },
};
