// What an event means once it happened: the channels it goes to, its message, the episodes it opens or
// closes, and the events that follow from it (a large backup, a schedule failing N times); and the
// dead-man's check that finds targets without a fresh backup and storage nearly full.
import type pg from 'pg';
import {
  claimEpisodeOpening,
  claimEpisodeResolution,
  listChannels,
  listRules,
  openEpisodeOf,
  openEpisodes,
  recentScheduleRuns,
  recordDeliveryPending,
  targetsFreshness,
} from '../catalog/notifications.ts';
import { getSettings } from '../catalog/settings.ts';
import { storageStats } from '../catalog/storage-stats.ts';
import { findTarget } from '../catalog/targets.ts';
import {
  scheduleEpisodeStep,
  staleEpisodeStep,
  storageEpisodeStep,
} from '../domain/notifications/episodes.ts';
import { eventId, type EpisodeKind, type LifeboatEvent } from '../domain/notifications/events.ts';
import { toNotification, type Notification } from '../domain/notifications/render.ts';
import {
  defaultConsecutiveFailures,
  defaultStaleHours,
  defaultStorageNearlyFullPercent,
  matchChannels,
  ruleParam,
  type NotificationRule,
} from '../domain/notifications/rules.ts';

export interface PreparedNotification {
  /** The event as told: its target's name filled in from the catalog when the emitter had only the id. */
  notification: Notification;
  /** Where it goes; empty when no rule and no default sends it, or an episode was told already. */
  channelIds: string[];
  /** Events this one brings about, each delivered by a notifyWorkflow of its own. */
  followUps: LifeboatEvent[];
}

/** The episode an event opens or closes: which condition, about which subject. */
function episodeOf(
  event: LifeboatEvent,
): { ruleKind: EpisodeKind; subjectId: string; opens: boolean } | null {
  switch (event.kind) {
    case 'schedule.failing':
    case 'schedule.recovered':
      return event.scheduleId
        ? {
            ruleKind: 'schedule.failing',
            subjectId: event.scheduleId,
            opens: event.kind === 'schedule.failing',
          }
        : null;
    case 'target.stale':
    case 'target.fresh':
      return event.target
        ? { ruleKind: 'target.stale', subjectId: event.target.id, opens: event.kind === 'target.stale' }
        : null;
    case 'storage.nearly_full':
      return { ruleKind: 'storage.nearly_full', subjectId: event.target?.id ?? storageScopeAll, opens: true };
    default:
      return null;
  }
}

/** The subject of the storage episode over all of Lifeboat's storage, as opposed to one target's. */
const storageScopeAll = 'all';

/**
 * True when this event is the one that tells its episode's start or end: the first to claim it, or the
 * same event again (a retried step). An episode already told by another event keeps this one quiet.
 */
async function claimsEpisode(db: pg.Pool, event: LifeboatEvent): Promise<boolean> {
  const episode = episodeOf(event);
  if (!episode) return true;
  if (!event.episodeKey) return false;
  const subject = { ruleKind: episode.ruleKind, subjectId: episode.subjectId, key: event.episodeKey };
  return episode.opens
    ? claimEpisodeOpening(db, { ...subject, eventId: event.id })
    : claimEpisodeResolution(db, { ...subject, eventId: event.id });
}

/** schedule.failing or schedule.recovered, when this run of a schedule opens or closes its episode. */
async function scheduleFollowUps(
  db: pg.Pool,
  event: LifeboatEvent,
  rules: readonly NotificationRule[],
): Promise<LifeboatEvent[]> {
  const schedule = event.scheduleId;
  if (!schedule) return [];
  const threshold =
    ruleParam('schedule.failing', 'consecutiveFailures', event, rules) ?? defaultConsecutiveFailures;
  const open = await openEpisodeOf(db, { ruleKind: 'schedule.failing', subjectId: schedule });
  const step = scheduleEpisodeStep(await recentScheduleRuns(db, schedule), threshold, open ?? null);
  const about = {
    occurredAt: event.occurredAt,
    target: event.target,
    scheduleId: schedule,
    counts: { consecutiveFailures: step.failures },
  };
  const events: LifeboatEvent[] = [];
  if (step.resolve) {
    events.push({
      ...about,
      id: eventId('schedule.recovered', schedule, step.resolve.key),
      kind: 'schedule.recovered',
      backupId: event.backupId,
      episodeKey: step.resolve.key,
    });
  }
  if (step.open) {
    events.push({
      ...about,
      id: eventId('schedule.failing', schedule, step.open.key),
      kind: 'schedule.failing',
      backupId: event.backupId,
      error: event.error,
      episodeKey: step.open.key,
    });
  }
  return events;
}

/** What a finished backup brings about besides itself: a degraded copy, a large size, a schedule episode. */
async function followUpsOf(
  db: pg.Pool,
  event: LifeboatEvent,
  rules: readonly NotificationRule[],
): Promise<LifeboatEvent[]> {
  if (event.kind === 'backup.failed') return scheduleFollowUps(db, event, rules);
  if (event.kind !== 'backup.succeeded' || !event.backupId) return [];
  const events: LifeboatEvent[] = [];
  if (event.warnings?.length) {
    events.push({ ...event, id: eventId('backup.degraded', event.backupId), kind: 'backup.degraded' });
  }
  const limit = ruleParam('backup.large', 'largeBackupBytes', event, rules);
  if (limit !== undefined && (event.sizeBytes ?? 0) > limit) {
    events.push({
      ...event,
      id: eventId('backup.large', event.backupId),
      kind: 'backup.large',
      thresholdBytes: limit,
      warnings: undefined,
    });
  }
  return [...events, ...(await scheduleFollowUps(db, event, rules))];
}

/**
 * Everything a notifyWorkflow needs to deliver `event`: the channels and the message, with a pending
 * delivery listed for each channel; and the events that follow from it. Idempotent: a retry answers the
 * same, because episodes remember which event told them.
 */
export async function prepareEvent(db: pg.Pool, input: LifeboatEvent): Promise<PreparedNotification> {
  let event = input;
  if (event.target && !event.target.name) {
    const target = await findTarget(db, event.target.id);
    event = { ...event, target: { id: event.target.id, name: target?.name } };
  }
  const notification = toNotification(event);
  const [rules, channels] = await Promise.all([listRules(db), listChannels(db)]);
  const followUps = await followUpsOf(db, event, rules);
  if (!(await claimsEpisode(db, event))) return { notification, channelIds: [], followUps };
  const channelIds = matchChannels(event, rules, channels);
  for (const channelId of channelIds) {
    await recordDeliveryPending(db, {
      eventId: event.id,
      channelId,
      eventKind: event.kind,
      targetName: notification.target ?? null,
    });
  }
  return { notification, channelIds, followUps };
}

/**
 * The dead-man's check: target.stale for every target without a successful backup for longer than its
 * staleHours (26 by default; since it was added when it never had one), target.fresh when an open gap
 * closed, and storage.nearly_full for storage rules whose quota is nearly used up. Each opens at most
 * once per episode; `checkId` names the episodes this check opens where nothing else does (storage).
 */
export async function checkFreshness(db: pg.Pool, now: Date, checkId: string): Promise<LifeboatEvent[]> {
  const rules = await listRules(db);
  const open = await openEpisodes(db, 'target.stale');
  const events: LifeboatEvent[] = [];
  for (const target of await targetsFreshness(db)) {
    const subject = { target: { id: target.id, name: target.name } };
    const staleHours = ruleParam('target.stale', 'staleHours', subject, rules) ?? defaultStaleHours;
    const step = staleEpisodeStep(
      { lastSuccess: target.lastSuccess, createdAt: target.createdAt, now: now.toISOString(), staleHours },
      open.get(target.id) ?? null,
    );
    const about = {
      occurredAt: now.toISOString(),
      target: subject.target,
      lastSuccessAt: target.lastSuccess?.finishedAt ?? null,
      staleHours,
    };
    if (step.resolve) {
      events.push({
        ...about,
        id: eventId('target.fresh', target.id, step.resolve.key),
        kind: 'target.fresh',
        backupId: target.lastSuccess?.backupId,
        episodeKey: step.resolve.key,
      });
    }
    if (step.open) {
      events.push({
        ...about,
        id: eventId('target.stale', target.id, step.open.key),
        kind: 'target.stale',
        durationMs: step.sinceMs,
        episodeKey: step.open.key,
      });
    }
  }
  return [...events, ...(await checkStorage(db, rules, now, checkId))];
}

/** storage.nearly_full for the whole storage (global rules) and for targets with rules of their own. */
async function checkStorage(
  db: pg.Pool,
  rules: readonly NotificationRule[],
  now: Date,
  checkId: string,
): Promise<LifeboatEvent[]> {
  const storageRules = rules.filter((rule) => rule.enabled && rule.events.includes('storage.nearly_full'));
  if (!storageRules.length) return [];
  const stats = await storageStats(db, null);
  const open = await openEpisodes(db, 'storage.nearly_full');
  const subjects: { id: string; target: { id: string; name: string } | null; usedBytes: number }[] = [];
  if (storageRules.some((rule) => rule.scope.kind === 'global')) {
    subjects.push({ id: storageScopeAll, target: null, usedBytes: stats.totalBytes });
  }
  const targetIds = new Set(
    storageRules.flatMap((rule) => (rule.scope.kind === 'target' ? [rule.scope.targetId] : [])),
  );
  for (const targetId of targetIds) {
    const target = await findTarget(db, targetId);
    const usage = target && stats.targets.find((entry) => entry.name === target.name);
    if (target && usage) {
      subjects.push({ id: target.id, target: { id: target.id, name: target.name }, usedBytes: usage.bytes });
    }
  }
  const maxStorageBytes = (await getSettings(db)).maxStorageBytes;
  const events: LifeboatEvent[] = [];
  for (const subject of subjects) {
    const scope = { target: subject.target };
    // Only the rules of this very scope: a target's share is not measured against the global quota.
    const own = storageRules.filter((rule) =>
      subject.target ? rule.scope.kind === 'target' : rule.scope.kind === 'global',
    );
    const quotaBytes =
      ruleParam('storage.nearly_full', 'quotaBytes', scope, own) ??
      (subject.target ? undefined : (maxStorageBytes ?? undefined));
    if (!quotaBytes) continue;
    const percent =
      ruleParam('storage.nearly_full', 'storageNearlyFullPercent', scope, own) ??
      defaultStorageNearlyFullPercent;
    const episode = open.get(subject.id) ?? null;
    const step = storageEpisodeStep({ usedBytes: subject.usedBytes, quotaBytes, percent }, checkId, episode);
    if (step.resolve) {
      // Nothing to tell when space is back: the episode just ends, and the next crossing is told again.
      await claimEpisodeResolution(db, {
        ruleKind: 'storage.nearly_full',
        subjectId: subject.id,
        key: step.resolve.key,
        eventId: null,
      });
    }
    if (step.open) {
      events.push({
        id: eventId('storage.nearly_full', subject.id, step.open.key),
        kind: 'storage.nearly_full',
        occurredAt: now.toISOString(),
        target: subject.target,
        usedBytes: subject.usedBytes,
        thresholdBytes: quotaBytes,
        episodeKey: step.open.key,
      });
    }
  }
  return events;
}
