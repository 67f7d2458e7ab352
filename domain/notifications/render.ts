// toNotification(event): the words of every event, one title, a few lines and a table of facts. Pure.
import { severityOf, type LifeboatEvent, type Severity } from './events.ts';

/** One message, already worded; every channel (notify/) formats it its own way. */
export interface Notification {
  /**
   * Stable id of the event (e.g. `backup.failed/<backupId>`); channels pass it on so that receivers can
   * deduplicate (email Message-ID `<sha256(eventId)@lifeboat>`, HTTP header `Lifeboat-Event-Id`).
   */
  eventId: string;
  /** Event kind, e.g. 'backup.failed', or 'test'. */
  kind: string;
  severity: Severity;
  /** ISO-8601 time the event happened. */
  occurredAt: string;
  /** One line: "Backup of orders failed: STORAGE_UNAVAILABLE". */
  title: string;
  /** Plain-text body, a few lines. */
  text: string;
  /** Label/value pairs shown as a table or fields: Target, Backup, Error code, Error message, Size... */
  facts: { label: string; value: string }[];
  /** The target's name when the event concerns one. */
  target?: string | null;
}

const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

/** `1536` → `1.5 KiB`; whole bytes below 1 KiB; three significant digits above. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 1024) return `${Math.round(bytes)} bytes`;
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${Number(value.toFixed(digits))} ${units[unit]}`;
}

/** `850` → `850 ms`, `61_000` → `1 min 1 s`, `97_200_000` → `1 d 3 h`: the two largest units that count. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return 'unknown';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = Math.round(ms / 1000);
  const parts: [number, string][] = [
    [Math.floor(seconds / 86_400), 'd'],
    [Math.floor((seconds % 86_400) / 3600), 'h'],
    [Math.floor((seconds % 3600) / 60), 'min'],
    [seconds % 60, 's'],
  ];
  const first = parts.findIndex(([value]) => value > 0);
  return parts
    .slice(first, first + 2)
    .filter(([value]) => value > 0)
    .map(([value, unit]) => `${value} ${unit}`)
    .join(' ');
}

/** Error messages come from servers and tools: one line, and short enough for a chat message. */
const maxMessageChars = 1000;

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > maxMessageChars ? `${flat.slice(0, maxMessageChars - 1)}…` : flat;
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

interface Wording {
  title: string;
  /** What happened and what to do, in a sentence or two. */
  lines: string[];
}

function targetName(event: LifeboatEvent): string {
  return event.target?.name ?? event.target?.id ?? 'the installation';
}

function errorPart(event: LifeboatEvent): string {
  return event.error ? `: ${event.error.code}` : '';
}

function sizePart(event: LifeboatEvent): string {
  const size = event.sizeBytes !== undefined ? formatBytes(event.sizeBytes) : null;
  const duration = event.durationMs !== undefined ? formatDuration(event.durationMs) : null;
  if (size && duration) return `: ${size} in ${duration}`;
  if (size) return `: ${size}`;
  return duration ? ` in ${duration}` : '';
}

function word(event: LifeboatEvent): Wording {
  const target = targetName(event);
  const schedule = event.scheduleId ?? 'unknown';
  const failures = event.counts?.consecutiveFailures;
  switch (event.kind) {
    case 'backup.succeeded':
      return { title: `Backup of ${target} completed${sizePart(event)}`, lines: [] };
    case 'backup.failed':
      return {
        title: `Backup of ${target} failed${errorPart(event)}`,
        lines: ['Nothing was stored for this run; the previous backups are untouched.'],
      };
    case 'backup.degraded': {
      const missing = event.warnings?.length ?? 0;
      return {
        title: `Backup of ${target} is degraded: ${plural(missing, 'copy')} missing`,
        lines: [
          'The primary copy is stored and verified; a secondary destination did not take its copy.',
          ...(event.warnings ?? []).map(oneLine),
        ],
      };
    }
    case 'backup.large':
      return {
        title: `Backup of ${target} is large: ${formatBytes(event.sizeBytes ?? 0)}`,
        lines: [
          `It is above the limit of ${formatBytes(event.thresholdBytes ?? 0)} set for it; check what grew.`,
        ],
      };
    case 'schedule.failing':
      return {
        title: `Schedule ${schedule} of ${target} failed ${failures ?? 'several'} times in a row`,
        lines: [
          'Every recent run of this schedule failed; this message is sent once, and again when it recovers.',
        ],
      };
    case 'schedule.recovered':
      return {
        title: `Schedule ${schedule} of ${target} recovered`,
        lines: [`A run succeeded again${failures ? ` after ${plural(failures, 'failure')} in a row` : ''}.`],
      };
    case 'target.stale':
      return {
        title: `No successful backup of ${target} for ${formatDuration(event.durationMs ?? 0)}`,
        lines: [
          event.lastSuccessAt
            ? `The last one finished at ${event.lastSuccessAt}; the limit is ${event.staleHours ?? '?'} h.`
            : `It never had one since it was added; the limit is ${event.staleHours ?? '?'} h.`,
        ],
      };
    case 'target.fresh':
      return {
        title: `${target} has a successful backup again`,
        lines: ['The gap without a successful backup is closed.'],
      };
    case 'restore.started':
      return { title: `Restore into ${target} started`, lines: [] };
    case 'restore.awaiting_approval':
      return {
        title: `Restore into ${target} waits for approval`,
        lines: [
          `Asked for by ${event.restore?.requestedBy ?? 'an admin'}; another admin must approve it (POST /api/admin/restores/${event.restoreId ?? ':id'}/approve).`,
        ],
      };
    case 'restore.completed':
      return { title: `Restore into ${target} completed${sizePart(event)}`, lines: [] };
    case 'restore.failed':
      return {
        title: `Restore into ${target} failed${errorPart(event)}`,
        lines: event.restore?.rollback ? [`Rollback: ${oneLine(event.restore.rollback)}`] : [],
      };
    case 'restore.rolled_back':
      return {
        title: `Restore into ${target} failed and was rolled back${errorPart(event)}`,
        lines: [
          'The destination is as it was before the restore.',
          ...(event.restore?.rollback ? [oneLine(event.restore.rollback)] : []),
        ],
      };
    case 'retention.removed':
      return {
        title: `Retention moved ${plural(event.counts?.removed ?? 0, 'backup')} of ${target} to the trash`,
        lines: ['They stay restorable from the trash until the grace period ends.'],
      };
    case 'drill.failed':
      return {
        title: `Restore drill of ${target} failed${errorPart(event)}`,
        lines: ['The backup could not be proven restorable; look at the drill before relying on it.'],
      };
    case 'storage.nearly_full': {
      const used = event.usedBytes ?? 0;
      const quota = event.thresholdBytes ?? 0;
      const percent = quota > 0 ? Math.floor((used / quota) * 100) : 0;
      const whose = event.target ? `Storage of ${target}` : 'Storage';
      return {
        title: `${whose} is ${percent}% full: ${formatBytes(used)} of ${formatBytes(quota)}`,
        lines: ['Free space, lower retention or raise the quota before backups start failing.'],
      };
    }
    case 'test':
      return {
        title: 'Test notification from Lifeboat',
        lines: ['This channel works: Lifeboat can reach it.'],
      };
  }
}

function facts(event: LifeboatEvent): { label: string; value: string }[] {
  const list: { label: string; value: string }[] = [];
  const add = (label: string, value: string | number | null | undefined) => {
    if (value !== undefined && value !== null && value !== '') list.push({ label, value: String(value) });
  };
  add('Target', event.target ? targetName(event) : undefined);
  add('Schedule', event.scheduleId);
  add('Backup', event.backupId);
  add('Restore', event.restoreId);
  add('Trigger', event.trigger);
  add('Error code', event.error?.code);
  add('Error message', event.error ? oneLine(event.error.message) : undefined);
  add('Size', event.sizeBytes !== undefined ? formatBytes(event.sizeBytes) : undefined);
  add('Duration', event.durationMs !== undefined ? formatDuration(event.durationMs) : undefined);
  add('Failures in a row', event.counts?.consecutiveFailures);
  add('Removed', event.counts?.removed);
  add('Kept', event.counts?.kept);
  add('Removals that failed', event.counts?.failedRemovals || undefined);
  if (event.kind === 'backup.large' || event.kind === 'storage.nearly_full') {
    add(event.kind === 'backup.large' ? 'Limit' : 'Quota', formatBytes(event.thresholdBytes ?? 0));
  }
  if (event.usedBytes !== undefined) add('Used', formatBytes(event.usedBytes));
  if (event.lastSuccessAt !== undefined) add('Last success', event.lastSuccessAt ?? 'never');
  if (event.restore) {
    add('Mode', event.restore.mode);
    add('Database', event.restore.database);
    add('From backup', event.restore.sourceBackupId);
    add('Asked for by', event.restore.requestedBy);
  }
  add('Occurred', event.occurredAt);
  return list;
}

/** The message for `event`: the same event always words the same, so a resent message reads the same. */
export function toNotification(event: LifeboatEvent): Notification {
  const { title, lines } = word(event);
  const table = facts(event);
  const text = [title, ...lines, '', ...table.map((fact) => `${fact.label}: ${fact.value}`)].join('\n');
  return {
    eventId: event.id,
    kind: event.kind,
    severity: severityOf[event.kind],
    occurredAt: event.occurredAt,
    title,
    text,
    facts: table,
    target: event.target ? targetName(event) : null,
  };
}
