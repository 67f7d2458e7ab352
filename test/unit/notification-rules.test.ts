// Routing events to channels: defaults, scopes, silencing, parameters, and the rule input's shape.
import { describe, expect, it } from 'vitest';
import type { LifeboatEvent } from '../../domain/notifications/events.ts';
import {
  defaultEventKinds,
  matchChannels,
  ruleInputSchema,
  ruleParam,
  type NotificationRule,
} from '../../domain/notifications/rules.ts';

const channels = [
  { id: 'mail', enabled: true },
  { id: 'chat', enabled: true },
  { id: 'pager', enabled: true },
  { id: 'off', enabled: false },
];

const orders = { id: 't-orders', name: 'orders' };
const billing = { id: 't-billing', name: 'billing' };

function event(kind: LifeboatEvent['kind'], extra: Partial<LifeboatEvent> = {}): LifeboatEvent {
  return { id: `${kind}/x`, kind, occurredAt: '2026-03-01T00:00:00Z', target: orders, ...extra };
}

let nextRule = 0;
function rule(extra: Partial<NotificationRule>): NotificationRule {
  nextRule++;
  return {
    id: `r${nextRule}`,
    name: `rule-${nextRule}`,
    enabled: true,
    scope: { kind: 'global' },
    events: ['backup.failed'],
    channelIds: null,
    params: {},
    ...extra,
  };
}

describe('matchChannels', () => {
  it('sends failures and restore events to every enabled channel when no rule speaks of them', () => {
    for (const kind of defaultEventKinds) {
      expect(matchChannels(event(kind), [], channels), kind).toEqual(['mail', 'chat', 'pager']);
    }
  });

  it('sends nothing by default for successes, sizes, retention and storage', () => {
    for (const kind of [
      'backup.succeeded',
      'backup.degraded',
      'backup.large',
      'retention.removed',
      'storage.nearly_full',
    ] as const) {
      expect(matchChannels(event(kind), [], channels), kind).toEqual([]);
    }
  });

  it('never routes a test notification', () => {
    expect(matchChannels(event('test'), [rule({ events: ['backup.failed'] })], channels)).toEqual([]);
  });

  it('lets a target’s rule replace the default for that target only', () => {
    const rules = [rule({ scope: { kind: 'target', targetId: orders.id }, channelIds: ['pager'] })];
    expect(matchChannels(event('backup.failed'), rules, channels)).toEqual(['pager']);
    expect(matchChannels(event('backup.failed', { target: billing }), rules, channels)).toEqual([
      'mail',
      'chat',
      'pager',
    ]);
  });

  it('joins the channels of every matching rule, each once, enabled ones only', () => {
    const rules = [
      rule({ channelIds: ['mail', 'off'] }),
      rule({ scope: { kind: 'target', targetId: orders.id }, channelIds: ['mail', 'chat'] }),
    ];
    expect(matchChannels(event('backup.failed'), rules, channels)).toEqual(['mail', 'chat']);
  });

  it('routes a schedule’s runs by the schedule’s rule', () => {
    const rules = [rule({ scope: { kind: 'schedule', scheduleName: 'nightly' }, channelIds: ['chat'] })];
    expect(matchChannels(event('backup.failed', { scheduleId: 'nightly' }), rules, channels)).toEqual([
      'chat',
    ]);
    expect(matchChannels(event('backup.failed', { scheduleId: 'hourly' }), rules, channels)).toEqual([
      'mail',
      'chat',
      'pager',
    ]);
  });

  it('silences events with a rule that names no channel', () => {
    const rules = [rule({ scope: { kind: 'target', targetId: orders.id }, channelIds: [] })];
    expect(matchChannels(event('backup.failed'), rules, channels)).toEqual([]);
  });

  it('reaches every enabled channel with a rule whose channels are null', () => {
    const rules = [rule({ events: ['backup.succeeded'], channelIds: null })];
    expect(matchChannels(event('backup.succeeded'), rules, channels)).toEqual(['mail', 'chat', 'pager']);
  });

  it('ignores disabled rules', () => {
    const rules = [rule({ enabled: false, channelIds: [] })];
    expect(matchChannels(event('backup.failed'), rules, channels)).toEqual(['mail', 'chat', 'pager']);
  });

  it('sends a recovery to whoever a rule sends the trouble to', () => {
    const rules = [rule({ events: ['schedule.failing'], channelIds: ['pager'] })];
    expect(matchChannels(event('schedule.recovered', { scheduleId: 'n' }), rules, channels)).toEqual([
      'pager',
    ]);
    const stale = [rule({ events: ['target.stale'], channelIds: ['chat'] })];
    expect(matchChannels(event('target.fresh'), stale, channels)).toEqual(['chat']);
  });

  it('lets a rule for one kind leave the defaults of the others alone', () => {
    const rules = [rule({ events: ['backup.succeeded'], channelIds: ['chat'] })];
    expect(matchChannels(event('backup.failed'), rules, channels)).toEqual(['mail', 'chat', 'pager']);
  });
});

describe('ruleParam', () => {
  it('takes the most specific scope that sets it, and the smallest value among equals', () => {
    const rules = [
      rule({ events: ['schedule.failing'], params: { consecutiveFailures: 2 } }),
      rule({ events: ['schedule.failing'], params: { consecutiveFailures: 5 } }),
      rule({
        events: ['schedule.failing'],
        scope: { kind: 'target', targetId: orders.id },
        params: { consecutiveFailures: 4 },
      }),
    ];
    expect(ruleParam('schedule.failing', 'consecutiveFailures', { target: orders }, rules)).toBe(4);
    expect(ruleParam('schedule.failing', 'consecutiveFailures', { target: billing }, rules)).toBe(2);
  });

  it('is undefined when no matching rule sets it', () => {
    const rules = [rule({ events: ['backup.failed'], params: { largeBackupBytes: 10 } })];
    expect(ruleParam('backup.large', 'largeBackupBytes', { target: orders }, rules)).toBeUndefined();
  });
});

describe('the rule input', () => {
  it('fills in the defaults: enabled, global, every enabled channel, no parameters', () => {
    expect(ruleInputSchema.parse({ name: 'failures', events: ['backup.failed'] })).toEqual({
      name: 'failures',
      enabled: true,
      scope: { kind: 'global' },
      events: ['backup.failed'],
      channels: null,
      params: {},
    });
  });

  it('refuses a test kind, an unknown parameter, a scope without its subject and no kinds at all', () => {
    const bad = [
      { name: 'a', events: ['test'] },
      { name: 'a', events: ['backup.failed'], params: { everyMinutes: 3 } },
      { name: 'a', events: ['backup.failed'], scope: { kind: 'target' } },
      { name: 'a', events: [] },
      { name: 'A b', events: ['backup.failed'] },
      { name: 'a', events: ['backup.failed'], params: { consecutiveFailures: 0 } },
      { name: 'a', events: ['backup.failed'], channels: ['mail\u0000'] },
    ];
    for (const input of bad)
      expect(ruleInputSchema.safeParse(input).success, JSON.stringify(input)).toBe(false);
  });
});
