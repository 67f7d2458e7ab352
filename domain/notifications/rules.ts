// Which events go to which channels: rules by scope (global, target, schedule), their parameters, the
// defaults that apply when no rule speaks of an event, and the API's input shape. Pure.
import { z } from 'zod';
import { storableText } from '../text.ts';
import { episodeKinds, eventKinds, type EventKind, type LifeboatEvent } from './events.ts';

/** Events a rule can route: every kind but `test`, which goes to the channel being tested only. */
export type RoutableKind = Exclude<EventKind, 'test'>;

export const routableKinds = eventKinds.filter((kind): kind is RoutableKind => kind !== 'test') as [
  RoutableKind,
  ...RoutableKind[],
];

/**
 * What operators hear when no rule speaks of an event: every failure, the dead-man's check, and every
 * restore outcome, on every enabled channel. A rule that names one of these kinds for the event's target
 * or schedule replaces the default for it (with `channels: []`, silences it).
 */
export const defaultEventKinds: readonly EventKind[] = [
  'backup.failed',
  'schedule.failing',
  'schedule.recovered',
  'target.stale',
  'target.fresh',
  'drill.failed',
  'restore.started',
  'restore.completed',
  'restore.failed',
  'restore.rolled_back',
  'restore.awaiting_approval',
];

export const defaultConsecutiveFailures = 3;
export const defaultStaleHours = 26;
export const defaultStorageNearlyFullPercent = 90;

export interface RuleParams {
  /** backup.large: a completed backup above this many bytes. */
  largeBackupBytes?: number | undefined;
  /** schedule.failing: this many failed runs in a row open an episode (default 3). */
  consecutiveFailures?: number | undefined;
  /** target.stale: no successful backup for longer than this (default 26). */
  staleHours?: number | undefined;
  /** storage.nearly_full: this share of `quotaBytes` (default: settings' maxStorageBytes) used. */
  storageNearlyFullPercent?: number | undefined;
  quotaBytes?: number | undefined;
}

export type RuleScope =
  { kind: 'global' } | { kind: 'target'; targetId: string } | { kind: 'schedule'; scheduleName: string };

export interface NotificationRule {
  id: string;
  name: string;
  enabled: boolean;
  scope: RuleScope;
  events: RoutableKind[];
  /** Channel ids; null: every enabled channel; empty: nobody (the events are silenced). */
  channelIds: string[] | null;
  params: RuleParams;
}

export interface ChannelState {
  id: string;
  enabled: boolean;
}

/** What an event is about, for scope matching: its target and the schedule that started the run. */
type Subject = Pick<LifeboatEvent, 'target' | 'scheduleId'>;

const specificity: Record<RuleScope['kind'], number> = { global: 1, target: 2, schedule: 3 };

function inScope(scope: RuleScope, subject: Subject): boolean {
  switch (scope.kind) {
    case 'global':
      return true;
    case 'target':
      return subject.target?.id === scope.targetId;
    case 'schedule':
      return subject.scheduleId === scope.scheduleName;
  }
}

/** The kind whose episode `kind` closes (schedule.recovered → schedule.failing), if it closes one. */
function openerOf(kind: EventKind): EventKind | undefined {
  return (Object.keys(episodeKinds) as (keyof typeof episodeKinds)[]).find(
    (opener) => episodeKinds[opener] === kind,
  );
}

/**
 * The enabled rules that speak of `kind` for this subject. A rule that names the kind opening an episode
 * covers the kind closing it too: the recovery goes to whoever heard of the trouble.
 */
export function matchingRules(
  kind: EventKind,
  subject: Subject,
  rules: readonly NotificationRule[],
): NotificationRule[] {
  const opener = openerOf(kind);
  return rules.filter(
    (rule) =>
      rule.enabled &&
      (rule.events.includes(kind as RoutableKind) ||
        (opener !== undefined && rule.events.includes(opener as RoutableKind))) &&
      inScope(rule.scope, subject),
  );
}

/**
 * The channels that receive `event`: the union of what its matching rules name (null meaning every enabled
 * channel), or, when no rule matches and the kind is one of `defaultEventKinds`, every enabled channel.
 * Only enabled channels, each once, in the order `channels` lists them.
 */
export function matchChannels(
  event: Pick<LifeboatEvent, 'kind' | 'target' | 'scheduleId'>,
  rules: readonly NotificationRule[],
  channels: readonly ChannelState[],
): string[] {
  if (event.kind === 'test') return [];
  const enabled = channels.filter((channel) => channel.enabled).map((channel) => channel.id);
  const matching = matchingRules(event.kind, event, rules);
  if (!matching.length) return defaultEventKinds.includes(event.kind) ? enabled : [];
  if (matching.some((rule) => rule.channelIds === null)) return enabled;
  const named = new Set(matching.flatMap((rule) => rule.channelIds ?? []));
  return enabled.filter((id) => named.has(id));
}

/**
 * A rule parameter for this subject: from the most specific matching rule that sets it (schedule over
 * target over global), the most sensitive value among equals (the smallest). Undefined when none sets it.
 */
export function ruleParam(
  kind: EventKind,
  param: keyof RuleParams,
  subject: Subject,
  rules: readonly NotificationRule[],
): number | undefined {
  const setting = matchingRules(kind, subject, rules).filter((rule) => rule.params[param] !== undefined);
  if (!setting.length) return undefined;
  const best = Math.max(...setting.map((rule) => specificity[rule.scope.kind]));
  return Math.min(
    ...setting
      .filter((rule) => specificity[rule.scope.kind] === best)
      .map((rule) => rule.params[param] as number),
  );
}

/** The API's input for a rule: names, scope as a tagged union, the kinds, channels by id or name. */
export const ruleParamsSchema = z
  .object({
    largeBackupBytes: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
    consecutiveFailures: z.number().int().min(1).max(1000).optional(),
    staleHours: z
      .number()
      .min(0.01)
      .max(24 * 366)
      .optional(),
    storageNearlyFullPercent: z.number().min(1).max(100).optional(),
    quotaBytes: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
  })
  .strict();

/** Names of rules, channels and schedules: what targets' names may be, so that they read the same. */
export const notificationNameSchema = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9_-]{0,62}$/,
    'lower-case letters, digits, "-" and "_", starting with a letter or digit, at most 63',
  );

/** An id or a name given in a body: any text PostgreSQL can store, of a sensible length. */
const reference = storableText({ min: 1, max: 200 });

export const ruleScopeInputSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('global') }).strict(),
  z.object({ kind: z.literal('target'), target: reference }).strict(),
  z.object({ kind: z.literal('schedule'), schedule: notificationNameSchema }).strict(),
]);

export const ruleInputSchema = z
  .object({
    name: notificationNameSchema,
    enabled: z.boolean().default(true),
    scope: ruleScopeInputSchema.default({ kind: 'global' }),
    events: z.array(z.enum(routableKinds)).min(1).max(routableKinds.length),
    /** Channel ids or names; null (the default): every enabled channel; []: silence these events. */
    channels: z.array(reference).max(50).nullable().default(null),
    params: ruleParamsSchema.default({}),
  })
  .strict();

export type RuleInput = z.infer<typeof ruleInputSchema>;
