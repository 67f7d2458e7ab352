// Prometheus metrics: gauges and counters read from the catalog at scrape time into a registry of their own,
// named as the pgbackrest and barman exporters name theirs, plus the process's own metrics.
import type pg from 'pg';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { drillMetricsByTarget } from '../catalog/drills.ts';
import {
  backupCopyCounts,
  finishedBackupCounts,
  finishedRestoreCounts,
  lastRestoreSuccesses,
} from '../catalog/metrics.ts';
import { failedDeliveriesByChannel } from '../catalog/notifications.ts';
import { getSettings } from '../catalog/settings.ts';
import { targetSummaries, type TargetSummary } from '../catalog/stats.ts';
import { storageStats } from '../catalog/storage-stats.ts';
import { storageUrlDisplay } from '../domain/storage-url.ts';

/** Failed notification deliveries by channel, as the notifications catalog counts them. */
export type NotificationFailureCounts = (
  db: pg.Pool,
) => Promise<readonly { channel: string; failed: number }[]>;

/** Everything one scrape shows, read in one go. */
export interface MetricsSnapshot {
  targets: TargetSummary[];
  backups: { target: string; status: string; trigger: string; count: number }[];
  copies: { target: string; storageUrl: string; status: string; count: number }[];
  storage: { destinations: { url: string; bytes: number }[]; maxStorageBytes: number | null };
  restores: { target: string; status: string; count: number }[];
  lastRestores: { target: string; finishedAt: string; durationMs: number }[];
  /** Per target, the newest drill that passed. */
  drills: { targetName: string; lastSuccessAt: string | null; lastRtoSeconds: number | null }[];
  /** Null when no source is wired, or when it did not answer. */
  notificationFailures: { channel: string; failed: number }[] | null;
}

/**
 * A scrape's catalog reads: a fixed handful of grouped queries, whatever the number of backups. A failing
 * read of the notification deliveries leaves only their metric out.
 */
export async function readMetricsSnapshot(
  db: pg.Pool,
  notifications: NotificationFailureCounts | undefined = failedDeliveriesByChannel,
): Promise<MetricsSnapshot> {
  const settings = await getSettings(db);
  const [targets, backups, copies, storage, restores, lastRestores, drills] = await Promise.all([
    targetSummaries(db, null),
    finishedBackupCounts(db),
    backupCopyCounts(db),
    storageStats(db, settings.maxStorageBytes),
    finishedRestoreCounts(db),
    lastRestoreSuccesses(db),
    drillMetricsByTarget(db),
  ]);
  let notificationFailures: MetricsSnapshot['notificationFailures'] = null;
  if (notifications) {
    try {
      notificationFailures = [...(await notifications(db))];
    } catch (error) {
      console.error(`lifeboat metrics: notification failures left out: ${(error as Error).message}`);
    }
  }
  return {
    targets,
    backups,
    copies,
    storage: {
      destinations: storage.destinations.map(({ url, bytes }) => ({ url, bytes })),
      maxStorageBytes: storage.quota?.maxStorageBytes ?? null,
    },
    restores,
    lastRestores,
    drills,
    notificationFailures,
  };
}

type Reading = { ok: true; snapshot: MetricsSnapshot } | { ok: false };

type Sample<L extends string> = { labels: Record<L, string>; value: number };

/** Samples whose labels coincide (two URLs with the same display form) are added up. */
function summed<L extends string>(samples: Sample<L>[]): Sample<L>[] {
  const byKey = new Map<string, Sample<L>>();
  for (const sample of samples) {
    const key = JSON.stringify(Object.entries(sample.labels).sort());
    const known = byKey.get(key);
    if (known) known.value += sample.value;
    else byKey.set(key, { labels: { ...sample.labels }, value: sample.value });
  }
  return [...byKey.values()];
}

const seconds = (iso: string) => Date.parse(iso) / 1000;

const lintRefusedProcessMetrics = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

export interface LifeboatMetrics {
  contentType: string;
  /** The text exposition of one scrape; the catalog is read once, scrapes run one at a time. */
  render(): Promise<string>;
}

export interface MetricsOptions {
  version: string;
  /** Whether `lifeboat_notifications_failed_total` is part of the registry. */
  notifications: boolean;
  /** The process metrics (CPU, memory, event loop, GC) of prom-client; default true. */
  processMetrics?: boolean;
}

export function createMetrics(
  read: () => Promise<MetricsSnapshot>,
  options: MetricsOptions,
): LifeboatMetrics {
  const registry = new Registry();
  let reading: Promise<Reading> = Promise.resolve({ ok: false });

  /** A metric whose samples are the scrape's snapshot's, set afresh every time. */
  function fromCatalog<L extends string>(
    kind: typeof Gauge | typeof Counter,
    name: string,
    help: string,
    labelNames: readonly L[],
    samples: (snapshot: MetricsSnapshot) => Sample<L>[] | null,
  ): void {
    const metric: Gauge<L> | Counter<L> = new kind<L>({
      name,
      help,
      labelNames,
      registers: [registry],
      async collect() {
        metric.reset();
        const current = await reading;
        if (!current.ok) return;
        for (const { labels, value } of summed(samples(current.snapshot) ?? [])) {
          if (metric instanceof Gauge) metric.set(labels as never, value);
          else metric.inc(labels as never, value);
        }
      },
    });
  }

  new Gauge({
    name: 'lifeboat_up',
    help: 'Whether this scrape could read the catalog (1) or not (0); without it, only process metrics follow.',
    registers: [registry],
    async collect() {
      this.set((await reading).ok ? 1 : 0);
    },
  });
  new Gauge({
    name: 'lifeboat_build_info',
    help: 'Always 1: the Lifeboat and Node.js versions of this process.',
    labelNames: ['version', 'nodejs_version'],
    registers: [registry],
  }).set({ version: options.version, nodejs_version: process.versions.node }, 1);

  const lastSuccess = (snapshot: MetricsSnapshot) =>
    snapshot.targets.flatMap((target) =>
      target.lastSuccess ? [{ target: target.name, success: target.lastSuccess }] : [],
    );
  fromCatalog(
    Gauge,
    'lifeboat_backup_last_success_timestamp_seconds',
    'When the newest completed backup of the target (not in the trash) finished, in Unix seconds.',
    ['target'],
    (s) =>
      lastSuccess(s).map(({ target, success }) => ({
        labels: { target },
        value: seconds(success.finishedAt),
      })),
  );
  fromCatalog(
    Gauge,
    'lifeboat_backup_last_duration_seconds',
    'How long the newest completed backup of the target ran, from start to finish.',
    ['target'],
    (s) =>
      lastSuccess(s).map(({ target, success }) => ({ labels: { target }, value: success.durationMs / 1000 })),
  );
  fromCatalog(
    Gauge,
    'lifeboat_backup_last_size_bytes',
    'Archive size of the newest completed backup of the target.',
    ['target'],
    (s) =>
      lastSuccess(s).flatMap(({ target, success }) =>
        success.sizeBytes === null ? [] : [{ labels: { target }, value: success.sizeBytes }],
      ),
  );
  fromCatalog(
    Gauge,
    'lifeboat_backup_consecutive_failures',
    'Failed backups of the target since its last completed one (cancelled and running ones aside).',
    ['target'],
    (s) =>
      s.targets.map((target) => ({ labels: { target: target.name }, value: target.consecutiveFailures })),
  );
  fromCatalog(
    Gauge,
    'lifeboat_target_created_timestamp_seconds',
    'When the target was created, in Unix seconds: one sample per target, backed up or not.',
    ['target'],
    (s) => s.targets.map((target) => ({ labels: { target: target.name }, value: seconds(target.createdAt) })),
  );
  fromCatalog(
    Counter,
    'lifeboat_backups_total',
    'Finished backups the catalog lists, by outcome and trigger. It drops when retention forgets failed ' +
      'runs or the sweep purges the trash, which Prometheus reads as a counter reset.',
    ['target', 'status', 'trigger'],
    (s) =>
      s.backups.map(({ target, status, trigger, count }) => ({
        labels: { target, status, trigger },
        value: count,
      })),
  );
  fromCatalog(
    Gauge,
    'lifeboat_backup_copies',
    'Copies of the completed backups not in the trash, by destination (shown without any query parameter) ' +
      'and whether the copy is stored (completed) or missing (failed).',
    ['target', 'destination', 'status'],
    (s) =>
      s.copies.map(({ target, storageUrl, status, count }) => ({
        labels: { target, destination: storageUrlDisplay(storageUrl), status },
        value: count,
      })),
  );
  fromCatalog(
    Gauge,
    'lifeboat_storage_used_bytes',
    'Bytes of the completed copies in each destination, trashed backups included until they are purged.',
    ['destination'],
    (s) =>
      s.storage.destinations.map(({ url, bytes }) => ({
        labels: { destination: storageUrlDisplay(url) },
        value: bytes,
      })),
  );
  fromCatalog(
    Gauge,
    'lifeboat_storage_quota_bytes',
    'The storage budget of the settings (maxStorageBytes); 0 when none is set (or lifeboat_up is 0).',
    [],
    (s) => [{ labels: {}, value: s.storage.maxStorageBytes ?? 0 }],
  );
  fromCatalog(
    Gauge,
    'lifeboat_restore_last_success_timestamp_seconds',
    'When the newest completed restore into the target finished, in Unix seconds.',
    ['target'],
    (s) =>
      s.lastRestores.map(({ target, finishedAt }) => ({ labels: { target }, value: seconds(finishedAt) })),
  );
  fromCatalog(
    Gauge,
    'lifeboat_restore_last_duration_seconds',
    'How long the newest completed restore into the target ran.',
    ['target'],
    (s) => s.lastRestores.map(({ target, durationMs }) => ({ labels: { target }, value: durationMs / 1000 })),
  );
  fromCatalog(
    Gauge,
    'lifeboat_drill_last_success_timestamp_seconds',
    'When the newest restore drill of a backup of the target that passed finished, in Unix seconds.',
    ['target'],
    (s) =>
      s.drills
        .filter((drill) => drill.lastSuccessAt !== null)
        .map((drill) => ({ labels: { target: drill.targetName }, value: seconds(drill.lastSuccessAt!) })),
  );
  fromCatalog(
    Gauge,
    'lifeboat_drill_last_rto_seconds',
    'The restore time (fetch, unpack, restore) the newest passed drill of the target measured.',
    ['target'],
    (s) =>
      s.drills
        .filter((drill) => drill.lastRtoSeconds !== null)
        .map((drill) => ({ labels: { target: drill.targetName }, value: drill.lastRtoSeconds! })),
  );
  fromCatalog(
    Counter,
    'lifeboat_restores_total',
    'Finished restore operations by the target written to and how they ended.',
    ['target', 'status'],
    (s) => s.restores.map(({ target, status, count }) => ({ labels: { target, status }, value: count })),
  );
  if (options.notifications) {
    fromCatalog(
      Counter,
      'lifeboat_notifications_failed_total',
      'Notification deliveries that failed, by channel.',
      ['channel'],
      (s) =>
        s.notificationFailures?.map(({ channel, failed }) => ({ labels: { channel }, value: failed })) ??
        null,
    );
  }
  if (options.processMetrics ?? true) {
    collectDefaultMetrics({ register: registry });
    // Gauges named like counters, which promtool's lint refuses; the same figures stay, split by type, in
    // nodejs_active_handles, nodejs_active_requests and nodejs_active_resources.
    for (const name of lintRefusedProcessMetrics) registry.removeSingleMetric(name);
  }

  let queue: Promise<unknown> = Promise.resolve();
  return {
    contentType: registry.contentType,
    render() {
      const scrape = queue.then(async () => {
        reading = read().then(
          (snapshot): Reading => ({ ok: true, snapshot }),
          (error: unknown): Reading => {
            console.error(`lifeboat metrics: the catalog could not be read: ${(error as Error).message}`);
            return { ok: false };
          },
        );
        await reading;
        return registry.metrics();
      });
      queue = scrape.catch(() => undefined);
      return scrape;
    },
  };
}

/** The metrics of Lifeboat's catalog. */
export function catalogMetrics(db: pg.Pool, version: string): LifeboatMetrics {
  return createMetrics(() => readMetricsSnapshot(db), { version, notifications: true });
}
