// What Lifeboat tells operators about: the closed list of event kinds, their severity, and their ids. Pure.

export const eventKinds = [
  'backup.succeeded',
  'backup.failed',
  'backup.degraded',
  'backup.large',
  'schedule.failing',
  'schedule.recovered',
  'target.stale',
  'target.fresh',
  'restore.started',
  'restore.completed',
  'restore.failed',
  'restore.rolled_back',
  'restore.awaiting_approval',
  'retention.removed',
  'drill.failed',
  'storage.nearly_full',
  'test',
] as const;

export type EventKind = (typeof eventKinds)[number];

/** How urgent an event is; channels show it (an emoji, a colour, a priority). */
export type Severity = 'info' | 'warning' | 'critical';

/**
 * Critical: data is not protected or a restore did not happen. Warning: protected, but someone should look
 * (a copy missing, a size jump, an approval waiting, space running out, a restore undone).
 */
export const severityOf: Record<EventKind, Severity> = {
  'backup.succeeded': 'info',
  'backup.failed': 'critical',
  'backup.degraded': 'warning',
  'backup.large': 'warning',
  'schedule.failing': 'critical',
  'schedule.recovered': 'info',
  'target.stale': 'critical',
  'target.fresh': 'info',
  'restore.started': 'info',
  'restore.completed': 'info',
  'restore.failed': 'critical',
  'restore.rolled_back': 'warning',
  'restore.awaiting_approval': 'warning',
  'retention.removed': 'info',
  'drill.failed': 'critical',
  'storage.nearly_full': 'warning',
  test: 'info',
};

/** The kinds that open an episode (once per episode, not per run) and the kind that closes each. */
export const episodeKinds = {
  'schedule.failing': 'schedule.recovered',
  'target.stale': 'target.fresh',
  'storage.nearly_full': null,
} as const satisfies Partial<Record<EventKind, EventKind | null>>;

export type EpisodeKind = keyof typeof episodeKinds;

export function isEventKind(value: unknown): value is EventKind {
  return typeof value === 'string' && (eventKinds as readonly string[]).includes(value);
}

/**
 * One thing that happened, with the facts a message needs. Plain data: it travels through workflow
 * histories, so it never holds a secret (an error message is the one Lifeboat recorded for the run).
 */
export interface LifeboatEvent {
  /** Deterministic (see `eventId`): the same happening always has the same id, so a retry is no new event. */
  id: string;
  kind: EventKind;
  /** ISO-8601. */
  occurredAt: string;
  /** The target concerned; `name` may be left out where only the id is at hand (the catalog fills it in). */
  target: { id: string; name?: string | undefined } | null;
  backupId?: string | undefined;
  restoreId?: string | undefined;
  /** The schedule's name, for runs a schedule started and for schedule episodes. */
  scheduleId?: string | undefined;
  /** What started the backup: manual, scheduled, pre_restore, upload. */
  trigger?: string | undefined;
  error?: { code: string; message: string } | undefined;
  sizeBytes?: number | undefined;
  durationMs?: number | undefined;
  /** Counts that belong to the event: failures in a row, backups removed, the size limit crossed... */
  counts?:
    | {
        consecutiveFailures?: number | undefined;
        removed?: number | undefined;
        kept?: number | undefined;
        failedRemovals?: number | undefined;
      }
    | undefined;
  /** backup.large: the threshold crossed. storage.nearly_full: the quota and what is used of it. */
  thresholdBytes?: number | undefined;
  usedBytes?: number | undefined;
  /** target.stale/fresh: the last successful backup (null: never), and the allowed gap in hours. */
  lastSuccessAt?: string | null | undefined;
  staleHours?: number | undefined;
  /** restore events: what was restored where, and how the rollback went. */
  restore?:
    | {
        mode: string;
        database: string;
        sourceBackupId: string;
        requestedBy: string;
        rollback?: string | undefined;
      }
    | undefined;
  /** Secondary copies that failed (backup.degraded), and any other short lines worth showing. */
  warnings?: string[] | undefined;
  /** Episode events: the key of the episode they open or close (see domain/notifications/episodes.ts). */
  episodeKey?: string | undefined;
}

/**
 * The id of an event: its kind and what it is about, joined by "/". Every part is an id or a name Lifeboat
 * made, so two different happenings never share one, and the same one (a step retried, a workflow task
 * replayed) always gets the same: `backup.failed/<backupId>`,
 * `schedule.failing/<schedule>/<first failed backup of the episode>`.
 */
export function eventId(kind: EventKind, ...parts: string[]): string {
  return [kind, ...parts].join('/');
}

/** The workflow id of an event's delivery: one notifyWorkflow per event, so starting it twice is refused. */
export function notifyWorkflowId(event: Pick<LifeboatEvent, 'id'>): string {
  return `notify/${event.id}`;
}
