// Catalog functions for notifications: channels, rules, deliveries and episodes (the only SQL on their
// tables), and the reads of backups that the episodes of schedules and targets are judged on.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { LifeboatError } from '../domain/errors.ts';
import type { NotificationRule, RoutableKind, RuleParams, RuleScope } from '../domain/notifications/rules.ts';
import type { RunOutcome } from '../domain/notifications/episodes.ts';

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function conflictOnName(error: unknown, what: string, name: string): never {
  if ((error as { code?: string }).code === '23505') {
    throw new LifeboatError('CONFLICT', `A ${what} named "${name}" already exists.`, { field: 'name' });
  }
  throw error;
}

// Channels ---------------------------------------------------------------------------------------------

export interface ChannelRecord {
  id: string;
  name: string;
  kind: string;
  /** As stored: non-secret settings and the names of the variables that hold the secrets. */
  config: unknown;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
}

interface ChannelRow {
  id: string;
  name: string;
  kind: string;
  config: unknown;
  enabled: boolean;
  created_at: Date;
  updated_at: Date;
}

function toChannel(row: ChannelRow): ChannelRecord {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    config: row.config,
    enabled: row.enabled,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

export async function listChannels(db: pg.Pool): Promise<ChannelRecord[]> {
  const { rows } = await db.query<ChannelRow>('select * from notification_channels order by name');
  return rows.map(toChannel);
}

/** By uuid or by name, whichever the caller has. */
export async function findChannel(db: pg.Pool, idOrName: string): Promise<ChannelRecord | undefined> {
  const { rows } = await db.query<ChannelRow>(
    `select * from notification_channels where ${uuidPattern.test(idOrName) ? 'id = $1' : 'name = $1'}`,
    [idOrName],
  );
  return rows[0] ? toChannel(rows[0]) : undefined;
}

export async function getChannel(db: pg.Pool, idOrName: string): Promise<ChannelRecord> {
  const channel = await findChannel(db, idOrName);
  if (!channel) throw new LifeboatError('NOT_FOUND', `No notification channel "${idOrName}".`);
  return channel;
}

export interface ChannelInput {
  name: string;
  kind: string;
  config: unknown;
  enabled: boolean;
}

export async function insertChannel(db: pg.Pool, input: ChannelInput): Promise<ChannelRecord> {
  try {
    const { rows } = await db.query<ChannelRow>(
      `insert into notification_channels (id, name, kind, config, enabled) values ($1, $2, $3, $4, $5) returning *`,
      [randomUUID(), input.name, input.kind, JSON.stringify(input.config), input.enabled],
    );
    return toChannel(rows[0]!);
  } catch (error) {
    return conflictOnName(error, 'notification channel', input.name);
  }
}

export async function updateChannel(db: pg.Pool, id: string, input: ChannelInput): Promise<ChannelRecord> {
  try {
    const { rows } = await db.query<ChannelRow>(
      `update notification_channels set name = $2, kind = $3, config = $4, enabled = $5, updated_at = now()
        where id = $1 returning *`,
      [id, input.name, input.kind, JSON.stringify(input.config), input.enabled],
    );
    if (!rows[0]) throw new LifeboatError('NOT_FOUND', `No notification channel with id ${id}.`);
    return toChannel(rows[0]);
  } catch (error) {
    return conflictOnName(error, 'notification channel', input.name);
  }
}

/** Deletes a channel and its deliveries; refused (CONFLICT) while a rule names it. */
export async function deleteChannel(db: pg.Pool, id: string): Promise<void> {
  const { rows } = await db.query<{ deleted: boolean; rules: string[] | null }>(
    `with users as (select name from notification_rules where $1 = any(channel_ids)),
          gone as (delete from notification_channels where id = $1 and not exists (select 1 from users) returning id)
     select exists (select 1 from gone) as deleted, (select array_agg(name order by name) from users) as rules`,
    [id],
  );
  const { deleted, rules } = rows[0]!;
  if (rules?.length) {
    throw new LifeboatError(
      'CONFLICT',
      `Rules ${rules.join(', ')} send to this channel; change or delete them first.`,
      { rules },
    );
  }
  if (!deleted) throw new LifeboatError('NOT_FOUND', `No notification channel with id ${id}.`);
}

/** Which of `ids` name no channel. */
export async function unknownChannelIds(db: pg.Pool, ids: readonly string[]): Promise<string[]> {
  const valid = ids.filter((id) => uuidPattern.test(id));
  const { rows } = await db.query<{ id: string }>(
    'select id from notification_channels where id = any($1::uuid[])',
    [valid],
  );
  const known = new Set(rows.map((row) => row.id));
  return ids.filter((id) => !known.has(id));
}

// Rules ------------------------------------------------------------------------------------------------

export interface RuleRecord extends NotificationRule {
  /** The target's name for a target scope, for people; null otherwise. */
  targetName: string | null;
  createdAt: string;
  updatedAt: string;
}

interface RuleRow {
  id: string;
  name: string;
  enabled: boolean;
  scope: RuleScope['kind'];
  target_id: string | null;
  target_name: string | null;
  schedule_name: string | null;
  event_kinds: RoutableKind[];
  channel_ids: string[] | null;
  params: RuleParams;
  created_at: Date;
  updated_at: Date;
}

function toRule(row: RuleRow): RuleRecord {
  const scope: RuleScope =
    row.scope === 'target'
      ? { kind: 'target', targetId: row.target_id! }
      : row.scope === 'schedule'
        ? { kind: 'schedule', scheduleName: row.schedule_name! }
        : { kind: 'global' };
  return {
    id: row.id,
    name: row.name,
    enabled: row.enabled,
    scope,
    events: row.event_kinds,
    channelIds: row.channel_ids,
    params: row.params,
    targetName: row.target_name,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

const ruleSelect = `select r.*, t.name as target_name from notification_rules r left join targets t on t.id = r.target_id`;

export async function listRules(db: pg.Pool): Promise<RuleRecord[]> {
  const { rows } = await db.query<RuleRow>(`${ruleSelect} order by r.name`);
  return rows.map(toRule);
}

export async function getRule(db: pg.Pool, idOrName: string): Promise<RuleRecord> {
  const { rows } = await db.query<RuleRow>(
    `${ruleSelect} where ${uuidPattern.test(idOrName) ? 'r.id = $1' : 'r.name = $1'}`,
    [idOrName],
  );
  if (!rows[0]) throw new LifeboatError('NOT_FOUND', `No notification rule "${idOrName}".`);
  return toRule(rows[0]);
}

export type RuleWrite = Omit<NotificationRule, 'id'>;

function ruleValues(rule: RuleWrite): unknown[] {
  return [
    rule.name,
    rule.enabled,
    rule.scope.kind,
    rule.scope.kind === 'target' ? rule.scope.targetId : null,
    rule.scope.kind === 'schedule' ? rule.scope.scheduleName : null,
    rule.events,
    rule.channelIds,
    JSON.stringify(rule.params),
  ];
}

export async function insertRule(db: pg.Pool, rule: RuleWrite): Promise<RuleRecord> {
  const id = randomUUID();
  try {
    await db.query(
      `insert into notification_rules (id, name, enabled, scope, target_id, schedule_name, event_kinds, channel_ids, params)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [id, ...ruleValues(rule)],
    );
  } catch (error) {
    conflictOnName(error, 'notification rule', rule.name);
  }
  return getRule(db, id);
}

export async function updateRule(db: pg.Pool, id: string, rule: RuleWrite): Promise<RuleRecord> {
  try {
    const { rowCount } = await db.query(
      `update notification_rules set name = $2, enabled = $3, scope = $4, target_id = $5, schedule_name = $6,
         event_kinds = $7, channel_ids = $8, params = $9, updated_at = now() where id = $1`,
      [id, ...ruleValues(rule)],
    );
    if (!rowCount) throw new LifeboatError('NOT_FOUND', `No notification rule with id ${id}.`);
  } catch (error) {
    conflictOnName(error, 'notification rule', rule.name);
  }
  return getRule(db, id);
}

export async function deleteRule(db: pg.Pool, id: string): Promise<void> {
  const { rowCount } = await db.query('delete from notification_rules where id = $1', [id]);
  if (!rowCount) throw new LifeboatError('NOT_FOUND', `No notification rule with id ${id}.`);
}

// Deliveries -------------------------------------------------------------------------------------------

export type DeliveryStatus = 'pending' | 'sent' | 'failed';

export interface Delivery {
  id: number;
  eventId: string;
  eventKind: string;
  channel: { id: string; name: string; kind: string };
  target: string | null;
  status: DeliveryStatus;
  attempts: number;
  lastError: string | null;
  detail: string | null;
  firstAttemptAt: string | null;
  lastAttemptAt: string | null;
  sentAt: string | null;
  createdAt: string;
}

interface DeliveryRow {
  id: string;
  event_id: string;
  event_kind: string;
  channel_id: string;
  channel_name: string;
  channel_kind: string;
  target_name: string | null;
  status: DeliveryStatus;
  attempts: number;
  last_error: string | null;
  detail: string | null;
  first_attempt_at: Date | null;
  last_attempt_at: Date | null;
  sent_at: Date | null;
  created_at: Date;
}

function toDelivery(row: DeliveryRow): Delivery {
  return {
    id: Number(row.id),
    eventId: row.event_id,
    eventKind: row.event_kind,
    channel: { id: row.channel_id, name: row.channel_name, kind: row.channel_kind },
    target: row.target_name,
    status: row.status,
    attempts: row.attempts,
    lastError: row.last_error,
    detail: row.detail,
    firstAttemptAt: row.first_attempt_at?.toISOString() ?? null,
    lastAttemptAt: row.last_attempt_at?.toISOString() ?? null,
    sentAt: row.sent_at?.toISOString() ?? null,
    createdAt: row.created_at.toISOString(),
  };
}

export interface DeliveryKey {
  eventId: string;
  channelId: string;
}

/** Lists an event's delivery to a channel as pending; nothing when it is listed already. */
export async function recordDeliveryPending(
  db: pg.Pool,
  delivery: DeliveryKey & { eventKind: string; targetName: string | null },
): Promise<void> {
  await db.query(
    `insert into notification_deliveries (event_id, channel_id, event_kind, target_name, status)
     values ($1, $2, $3, $4, 'pending') on conflict (event_id, channel_id) do nothing`,
    [delivery.eventId, delivery.channelId, delivery.eventKind, delivery.targetName],
  );
}

/**
 * Counts one more attempt of a delivery and answers whether to send: false when it was sent already (a
 * retried activity, a second workflow for the same event), so that no receiver hears an event twice.
 */
export async function beginDeliveryAttempt(
  db: pg.Pool,
  delivery: DeliveryKey & { eventKind: string; targetName: string | null },
): Promise<{ send: boolean; attempts: number }> {
  await recordDeliveryPending(db, delivery);
  const { rows } = await db.query<{ attempts: number }>(
    `update notification_deliveries
        set attempts = attempts + 1, status = 'pending', last_attempt_at = now(),
            first_attempt_at = coalesce(first_attempt_at, now())
      where event_id = $1 and channel_id = $2 and status <> 'sent' returning attempts`,
    [delivery.eventId, delivery.channelId],
  );
  return rows[0] ? { send: true, attempts: rows[0].attempts } : { send: false, attempts: 0 };
}

export async function recordDeliverySent(db: pg.Pool, key: DeliveryKey, detail: string): Promise<void> {
  await db.query(
    `update notification_deliveries set status = 'sent', sent_at = now(), detail = $3, last_error = null
      where event_id = $1 and channel_id = $2`,
    [key.eventId, key.channelId, detail],
  );
}

/** Records why an attempt failed; `final`: no attempt follows (permanent, or the retries ran out). */
export async function recordDeliveryFailure(
  db: pg.Pool,
  key: DeliveryKey,
  error: string,
  final: boolean,
): Promise<void> {
  await db.query(
    `update notification_deliveries set last_error = $3, status = case when $4 then 'failed' else status end
      where event_id = $1 and channel_id = $2 and status <> 'sent'`,
    [key.eventId, key.channelId, error, final],
  );
}

export interface DeliveryFilters {
  channel?: string | undefined;
  status?: DeliveryStatus | undefined;
  /** An event id, or an event kind for all of its events. */
  event?: string | undefined;
  limit: number;
  offset: number;
}

export async function listDeliveries(
  db: pg.Pool,
  filters: DeliveryFilters,
): Promise<{ items: Delivery[]; total: number }> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filters.channel) {
    params.push(filters.channel);
    where.push(
      uuidPattern.test(filters.channel) ? `d.channel_id = $${params.length}` : `c.name = $${params.length}`,
    );
  }
  if (filters.status) {
    params.push(filters.status);
    where.push(`d.status = $${params.length}`);
  }
  if (filters.event) {
    params.push(filters.event);
    where.push(`(d.event_id = $${params.length} or d.event_kind = $${params.length})`);
  }
  const from = `from notification_deliveries d join notification_channels c on c.id = d.channel_id
    ${where.length ? `where ${where.join(' and ')}` : ''}`;
  const total = await db.query<{ count: string }>(`select count(*) ${from}`, params);
  const { rows } = await db.query<DeliveryRow>(
    `select d.*, c.name as channel_name, c.kind as channel_kind ${from}
      order by d.created_at desc, d.id desc limit $${params.length + 1} offset $${params.length + 2}`,
    [...params, filters.limit, filters.offset],
  );
  return { items: rows.map(toDelivery), total: Number(total.rows[0]?.count ?? 0) };
}

/** Deliveries given up on, per channel (every channel, with 0 when none): what /metrics exports. */
export async function failedDeliveriesByChannel(db: pg.Pool): Promise<{ channel: string; failed: number }[]> {
  const { rows } = await db.query<{ channel: string; failed: string }>(
    `select c.name as channel, count(d.id) filter (where d.status = 'failed') as failed
       from notification_channels c left join notification_deliveries d on d.channel_id = c.id
      group by c.name order by c.name`,
  );
  return rows.map((row) => ({ channel: row.channel, failed: Number(row.failed) }));
}

// Episodes ---------------------------------------------------------------------------------------------

export interface EpisodeSubject {
  ruleKind: string;
  subjectId: string;
}

export interface OpenEpisodeRecord {
  subjectId: string;
  key: string;
  openedEventId: string;
  openedAt: string;
}

/** The open episodes of a condition, by subject. */
export async function openEpisodes(db: pg.Pool, ruleKind: string): Promise<Map<string, OpenEpisodeRecord>> {
  const { rows } = await db.query<{
    subject_id: string;
    episode_key: string;
    opened_event_id: string;
    opened_at: Date;
  }>(
    `select subject_id, episode_key, opened_event_id, opened_at from notification_episodes
      where rule_kind = $1 and resolved_at is null`,
    [ruleKind],
  );
  return new Map(
    rows.map((row) => [
      row.subject_id,
      {
        subjectId: row.subject_id,
        key: row.episode_key,
        openedEventId: row.opened_event_id,
        openedAt: row.opened_at.toISOString(),
      },
    ]),
  );
}

export async function openEpisodeOf(
  db: pg.Pool,
  subject: EpisodeSubject,
): Promise<OpenEpisodeRecord | undefined> {
  return (await openEpisodes(db, subject.ruleKind)).get(subject.subjectId);
}

/**
 * Opens the subject's episode with `eventId` as its opening, unless another is open. True when `eventId`
 * opens an episode: now, or before (a retried step), so that the opening is told exactly once per episode.
 */
export async function claimEpisodeOpening(
  db: pg.Pool,
  subject: EpisodeSubject & { key: string; eventId: string },
): Promise<boolean> {
  await db.query(
    `insert into notification_episodes (rule_kind, subject_id, episode_key, opened_event_id)
     values ($1, $2, $3, $4) on conflict do nothing`,
    [subject.ruleKind, subject.subjectId, subject.key, subject.eventId],
  );
  const { rows } = await db.query(
    'select 1 from notification_episodes where opened_event_id = $1 and rule_kind = $2 and subject_id = $3',
    [subject.eventId, subject.ruleKind, subject.subjectId],
  );
  return rows.length > 0;
}

/**
 * Resolves the subject's episode named `key` with `eventId` (null: silently). True when `eventId` resolves
 * it: now, or before (a retried step); false when no such episode is open or another event resolved it.
 */
export async function claimEpisodeResolution(
  db: pg.Pool,
  subject: EpisodeSubject & { key: string; eventId: string | null },
): Promise<boolean> {
  const { rows } = await db.query(
    `update notification_episodes set resolved_at = coalesce(resolved_at, now()), resolved_event_id = $4
      where rule_kind = $1 and subject_id = $2 and episode_key = $3
        and (resolved_at is null or resolved_event_id = $4) returning id`,
    [subject.ruleKind, subject.subjectId, subject.key, subject.eventId],
  );
  return rows.length > 0;
}

// What episodes are judged on --------------------------------------------------------------------------

/** The latest runs a schedule started, newest first. */
export async function recentScheduleRuns(
  db: pg.Pool,
  scheduleName: string,
  limit = 100,
): Promise<RunOutcome[]> {
  const { rows } = await db.query<{ id: string; status: RunOutcome['status'] }>(
    `select id, status from backups where requested_by = $1 and trigger = 'scheduled'
      order by started_at desc, id desc limit $2`,
    [`schedule:${scheduleName}`, limit],
  );
  return rows.map((row) => ({ backupId: row.id, status: row.status }));
}

export interface TargetFreshness {
  id: string;
  name: string;
  createdAt: string;
  lastSuccess: { backupId: string; finishedAt: string } | null;
}

/** Every target with its newest completed backup, for the dead-man's check. */
export async function targetsFreshness(db: pg.Pool): Promise<TargetFreshness[]> {
  const { rows } = await db.query<{
    id: string;
    name: string;
    created_at: Date;
    backup_id: string | null;
    finished_at: Date | null;
  }>(
    `select t.id, t.name, t.created_at, last.id as backup_id, last.finished_at
       from targets t
       left join lateral (select b.id, b.finished_at from backups b
                           where b.target_id = t.id and b.status = 'completed' and b.finished_at is not null
                           order by b.finished_at desc, b.id limit 1) last on true
      order by t.name`,
  );
  return rows.map((row) => ({
    id: row.id,
    name: row.name,
    createdAt: row.created_at.toISOString(),
    lastSuccess:
      row.backup_id && row.finished_at
        ? { backupId: row.backup_id, finishedAt: row.finished_at.toISOString() }
        : null,
  }));
}
