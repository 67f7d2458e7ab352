// Live events: what the workers announce about backups, restores and notifications, their wire form, and filters.
import { z } from 'zod';

export const liveEventTypes = [
  'backup.started',
  'backup.step',
  'backup.progress',
  'backup.finished',
  'restore.started',
  'restore.step',
  'restore.progress',
  'restore.finished',
  'notification.failed',
] as const;
export type LiveEventType = (typeof liveEventTypes)[number];

/**
 * PostgreSQL refuses a NOTIFY payload of 8000 bytes or more; an encoded event stays below this, whatever
 * its fields hold.
 */
export const maxLivePayloadBytes = 7_900;

/** The longest text a field carries as published; longer values (a long table name) are cut. */
export const maxLiveTextLength = 200;

const text = z.string().min(1).max(maxLiveTextLength);

/**
 * One event. Ids and names are those of the catalog (`target` is the target's name, `targetId` its id); a
 * restore's target is its destination. No error messages, only codes: the run's own record has the rest.
 */
export const liveEventSchema = z.object({
  type: z.enum(liveEventTypes),
  /** When the worker published it (ISO 8601). */
  at: z.string().min(1).max(40),
  backupId: text.optional(),
  restoreId: text.optional(),
  target: text.optional(),
  targetId: text.optional(),
  /** backup.started: manual, scheduled, pre_restore... */
  trigger: text.optional(),
  /** The step a run entered (`*.step`) or is in (`*.progress`). */
  step: text.optional(),
  /** `*.finished`: completed, failed or cancelled; `restore.step`: how the step went (started, completed...). */
  status: text.optional(),
  percent: z.number().min(0).max(100).optional(),
  bytes: z.number().int().min(0).optional(),
  /** restore.progress: the table being restored. */
  table: text.optional(),
  errorCode: text.optional(),
  /** notification.failed: the channel that could not deliver. */
  channel: text.optional(),
  /** backup.finished: a secondary copy failed, the primary one is stored. */
  degraded: z.boolean().optional(),
});

export type LiveEvent = z.infer<typeof liveEventSchema>;

/** The fields a publisher gives; `at` defaults to now when the event is encoded. */
export type LiveEventInput = Omit<LiveEvent, 'at'> & { at?: string | undefined };

const textFields = [
  'backupId',
  'restoreId',
  'target',
  'targetId',
  'trigger',
  'step',
  'status',
  'table',
  'errorCode',
  'channel',
] as const;

/** Bytes of `value` in UTF-8, without TextEncoder (this module also runs where no such global exists). */
export function utf8Length(value: string): number {
  let bytes = 0;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < value.length) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

function cut(value: string, length: number): string {
  // Never split a surrogate pair: a lone half would not survive UTF-8.
  if (value.length <= length) return value;
  const end = /[\ud800-\udbff]/.test(value.charAt(length - 1)) ? length - 1 : length;
  return value.slice(0, end);
}

/**
 * The NOTIFY payload of an event: its known fields as JSON, texts cut to `maxLiveTextLength` (shorter
 * still if escaping made it too long), numbers rounded into range. Always under `maxLivePayloadBytes`.
 */
export function encodeLiveEvent(input: LiveEventInput, now: Date): string {
  for (const length of [maxLiveTextLength, 40, 8]) {
    const event: Record<string, unknown> = { type: input.type, at: input.at ?? now.toISOString() };
    for (const field of textFields) {
      const value = input[field];
      if (typeof value === 'string' && value.length > 0) event[field] = cut(value, length);
    }
    if (typeof input.percent === 'number' && Number.isFinite(input.percent)) {
      event.percent = Math.min(100, Math.max(0, Math.round(input.percent)));
    }
    if (typeof input.bytes === 'number' && Number.isFinite(input.bytes)) {
      event.bytes = Math.max(0, Math.round(input.bytes));
    }
    if (typeof input.degraded === 'boolean') event.degraded = input.degraded;
    const payload = JSON.stringify(event);
    if (utf8Length(payload) <= maxLivePayloadBytes) return payload;
  }
  // Unreachable with the fields above (ten texts of 8 characters escape to well under a kilobyte).
  return JSON.stringify({ type: input.type, at: input.at ?? now.toISOString() });
}

/** The event in a payload, or undefined for anything else on the channel (malformed, unknown type). */
export function decodeLiveEvent(payload: string): LiveEvent | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch {
    return undefined;
  }
  const result = liveEventSchema.safeParse(parsed);
  return result.success ? result.data : undefined;
}

/** What a stream asks for; an absent field matches everything. */
export interface LiveEventFilter {
  /** A target's name or id. */
  target?: string | undefined;
  backupId?: string | undefined;
  restoreId?: string | undefined;
  types?: ReadonlySet<LiveEventType> | undefined;
}

export function matchesLiveEvent(filter: LiveEventFilter, event: LiveEvent): boolean {
  if (filter.types && !filter.types.has(event.type)) return false;
  if (filter.backupId !== undefined && event.backupId !== filter.backupId) return false;
  if (filter.restoreId !== undefined && event.restoreId !== filter.restoreId) return false;
  if (filter.target !== undefined && event.target !== filter.target && event.targetId !== filter.target) {
    return false;
  }
  return true;
}

const typeAlternatives = liveEventTypes.join('|').replaceAll('.', '\\.');
/** A `types` list as the API takes it: known types separated by commas, e.g. `backup.started,backup.finished`. */
export const liveEventTypesPattern = `^(${typeAlternatives})(,(${typeAlternatives}))*$`;

export function parseLiveEventTypes(list: string): Set<LiveEventType> | undefined {
  const names = list.split(',');
  if (!names.every((name): name is LiveEventType => (liveEventTypes as readonly string[]).includes(name))) {
    return undefined;
  }
  return new Set(names);
}

/** Progress may be dropped for a slow reader: a later one says the same, newer. */
export function isProgressEvent(type: LiveEventType): boolean {
  return type === 'backup.progress' || type === 'restore.progress';
}

/** `*.finished`: nothing of that run comes after it. */
export function isFinishedEvent(type: LiveEventType): boolean {
  return type === 'backup.finished' || type === 'restore.finished';
}

/** The run an event is about, as one key (`backup:<id>` or `restore:<id>`); none for notifications. */
export function liveRunKey(event: LiveEvent): string | undefined {
  if (event.type.startsWith('backup.') && event.backupId) return `backup:${event.backupId}`;
  if (event.type.startsWith('restore.') && event.restoreId) return `restore:${event.restoreId}`;
  return undefined;
}
