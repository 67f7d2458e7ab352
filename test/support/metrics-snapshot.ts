// A metrics snapshot in which every metric has samples, and the metric names its exposition holds: what the
// unit tests of /metrics, the alert rules and the dashboard compare against.
import { createMetrics, type MetricsSnapshot } from '../../services/metrics.ts';

export const fullSnapshot: MetricsSnapshot = {
  targets: [
    {
      id: '00000000-0000-4000-8000-000000000001',
      name: 'shop',
      createdAt: '2026-06-01T00:00:00.000Z',
      lastSuccess: {
        backupId: '00000000-0000-4000-8000-00000000000a',
        startedAt: '2026-06-10T03:00:00.000Z',
        finishedAt: '2026-06-10T03:02:30.000Z',
        durationMs: 150_000,
        sizeBytes: 7_340_032,
        degraded: true,
      },
      lastFailure: null,
      consecutiveFailures: 0,
    },
    {
      id: '00000000-0000-4000-8000-000000000002',
      name: 'crm',
      createdAt: '2026-06-09T00:00:00.000Z',
      lastSuccess: null,
      lastFailure: {
        backupId: '00000000-0000-4000-8000-00000000000b',
        startedAt: '2026-06-10T04:00:00.000Z',
        finishedAt: '2026-06-10T04:00:01.000Z',
        errorCode: 'AUTH_FAILED',
        errorMessage: 'password authentication failed',
      },
      consecutiveFailures: 2,
    },
  ],
  backups: [
    { target: 'shop', status: 'completed', trigger: 'scheduled', count: 5 },
    { target: 'shop', status: 'completed', trigger: 'manual', count: 1 },
    { target: 'crm', status: 'failed', trigger: 'scheduled', count: 2 },
  ],
  copies: [
    { target: 'shop', storageUrl: 'file:///var/lib/lifeboat/backups', status: 'completed', count: 6 },
    {
      target: 'shop',
      storageUrl:
        's3://offsite/shop?endpoint=https://minio.example:9000&accessKeyIdEnv=LIFEBOAT_STORAGE_KEY&secretAccessKeyEnv=LIFEBOAT_STORAGE_SECRET',
      status: 'completed',
      count: 5,
    },
    {
      target: 'shop',
      storageUrl: 's3://offsite/shop?endpoint=https://minio.example:9000&region=eu-west-1',
      status: 'failed',
      count: 1,
    },
  ],
  storage: {
    destinations: [
      { url: 'file:///var/lib/lifeboat/backups', bytes: 44_040_192 },
      {
        url: 'sftp://backup@vault.example:22/srv/lifeboat?hostKey=SHA256:abc&passwordEnv=LIFEBOAT_STORAGE_SFTP',
        bytes: 1024,
      },
    ],
    maxStorageBytes: 100_000_000,
  },
  restores: [
    { target: 'shop', status: 'completed', count: 2 },
    { target: 'shop', status: 'failed', count: 1 },
  ],
  lastRestores: [{ target: 'shop', finishedAt: '2026-06-09T10:00:20.000Z', durationMs: 20_000 }],
  drills: [{ targetName: 'shop', lastSuccessAt: '2026-06-09T11:00:00.000Z', lastRtoSeconds: 42.5 }],
  notificationFailures: [{ channel: 'ops-mail', failed: 3 }],
};

/** The exposition of `fullSnapshot` as the API would serve it. */
export async function renderFullSnapshot(): Promise<string> {
  return createMetrics(() => Promise.resolve(fullSnapshot), {
    version: '0.0.0-test',
    notifications: true,
  }).render();
}

/** The name of every sample in an exposition (histograms' _bucket, _sum and _count included). */
export function sampleNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const line of exposition.split('\n')) {
    const name = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line)?.[1];
    if (name) names.add(name);
  }
  return names;
}

/** The metric names an expression reads: Lifeboat's own and the process metrics. */
export function metricNamesIn(expression: string): string[] {
  return [...expression.matchAll(/\b(?:lifeboat|process|nodejs)_[a-z0-9_]+/g)].map((match) => match[0]);
}
