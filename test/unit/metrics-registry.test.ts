// The /metrics registry over a given snapshot: samples and labels, destinations without secrets, what
// happens when the catalog cannot be read, and one catalog read per scrape.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../services/metrics.ts';
import { fullSnapshot, renderFullSnapshot } from '../support/metrics-snapshot.ts';

const lifeboatLines = (text: string) => text.split('\n').filter((line) => line.startsWith('lifeboat_'));

describe('the metrics registry', () => {
  it('shows the snapshot as pgbackrest-style gauges and counters', async () => {
    const lines = lifeboatLines(await renderFullSnapshot());
    expect(lines).toEqual(
      expect.arrayContaining([
        'lifeboat_up 1',
        `lifeboat_backup_last_success_timestamp_seconds{target="shop"} ${Date.parse('2026-06-10T03:02:30Z') / 1000}`,
        'lifeboat_backup_last_duration_seconds{target="shop"} 150',
        'lifeboat_backup_last_size_bytes{target="shop"} 7340032',
        'lifeboat_backup_consecutive_failures{target="crm"} 2',
        `lifeboat_target_created_timestamp_seconds{target="crm"} ${Date.parse('2026-06-09T00:00:00Z') / 1000}`,
        'lifeboat_backups_total{target="shop",status="completed",trigger="scheduled"} 5',
        'lifeboat_backups_total{target="crm",status="failed",trigger="scheduled"} 2',
        'lifeboat_storage_used_bytes{destination="file:///var/lib/lifeboat/backups"} 44040192',
        'lifeboat_storage_quota_bytes 100000000',
        'lifeboat_restores_total{target="shop",status="failed"} 1',
        'lifeboat_restore_last_duration_seconds{target="shop"} 20',
        'lifeboat_notifications_failed_total{channel="ops-mail"} 3',
        `lifeboat_drill_last_success_timestamp_seconds{target="shop"} ${Date.parse('2026-06-09T11:00:00Z') / 1000}`,
        'lifeboat_drill_last_rto_seconds{target="shop"} 42.5',
      ]),
    );
    // A target without a success has no last-success samples rather than a zero.
    expect(lines.filter((line) => line.includes('last_') && line.includes('"crm"'))).toEqual([]);
    expect(lines.filter((line) => line.startsWith('lifeboat_drill_') && line.includes('"crm"'))).toEqual([]);
  });

  it('labels destinations without query parameters, credential names or passwords', async () => {
    const lines = lifeboatLines(await renderFullSnapshot());
    expect(lines).toContain(
      'lifeboat_backup_copies{target="shop",destination="s3://offsite/shop?endpoint=https://minio.example:9000",status="completed"} 5',
    );
    expect(lines).toContain(
      'lifeboat_storage_used_bytes{destination="sftp://backup@vault.example:22/srv/lifeboat"} 1024',
    );
    const text = lines.join('\n');
    for (const secret of ['LIFEBOAT_STORAGE_', 'Env=', 'hostKey', 'region='])
      expect(text).not.toContain(secret);
  });

  it('adds up destinations whose display forms coincide', async () => {
    const metrics = createMetrics(
      () =>
        Promise.resolve({
          ...fullSnapshot,
          copies: [
            {
              target: 'shop',
              storageUrl: 's3://b/p?endpoint=http://h:9&accessKeyIdEnv=LIFEBOAT_STORAGE_A',
              status: 'completed',
              count: 2,
            },
            {
              target: 'shop',
              storageUrl: 's3://b/p?endpoint=http://h:9&region=x',
              status: 'completed',
              count: 3,
            },
          ],
        }),
      { version: 'test', notifications: false, processMetrics: false },
    );
    const copies = lifeboatLines(await metrics.render()).filter((line) =>
      line.startsWith('lifeboat_backup_copies'),
    );
    expect(copies).toEqual([
      'lifeboat_backup_copies{target="shop",destination="s3://b/p?endpoint=http://h:9",status="completed"} 5',
    ]);
  });

  it('answers lifeboat_up 0 and no catalog samples when the catalog cannot be read, then recovers', async () => {
    let fail = true;
    const metrics = createMetrics(
      () => (fail ? Promise.reject(new Error('connection refused')) : Promise.resolve(fullSnapshot)),
      { version: 'test', notifications: true, processMetrics: false },
    );
    const down = lifeboatLines(await metrics.render());
    // Label-less gauges always have a value: the quota reads 0, as it does without a budget.
    expect(down).toEqual([
      'lifeboat_up 0',
      expect.stringMatching(/^lifeboat_build_info\{version="test",nodejs_version="\d+\.\d+\.\d+"\} 1$/),
      'lifeboat_storage_quota_bytes 0',
    ]);
    fail = false;
    expect(lifeboatLines(await metrics.render())).toContain(
      'lifeboat_backups_total{target="crm",status="failed",trigger="scheduled"} 2',
    );
  });

  it('reads the catalog once per scrape and never mixes two scrapes', async () => {
    let reads = 0;
    const metrics = createMetrics(
      async () => {
        reads++;
        await new Promise((resolve) => setTimeout(resolve, 5));
        return {
          ...fullSnapshot,
          backups: [{ target: 'shop', status: 'completed', trigger: 'manual', count: reads }],
        };
      },
      { version: 'test', notifications: false, processMetrics: false },
    );
    const [first, second] = await Promise.all([metrics.render(), metrics.render()]);
    expect(reads).toBe(2);
    expect(first).toContain('lifeboat_backups_total{target="shop",status="completed",trigger="manual"} 1');
    expect(second).toContain('lifeboat_backups_total{target="shop",status="completed",trigger="manual"} 2');
  });

  it('leaves out the notification metric when no source is wired', async () => {
    const metrics = createMetrics(() => Promise.resolve(fullSnapshot), {
      version: 'test',
      notifications: false,
      processMetrics: false,
    });
    expect(await metrics.render()).not.toContain('lifeboat_notifications_failed_total');
  });

  it('passes promtool check metrics, process metrics included', async () => {
    const text = await renderFullSnapshot();
    expect(text).toContain('process_resident_memory_bytes');
    expect(execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })).toBe('');
  });
});
