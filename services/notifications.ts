// Notification channels and rules as people change them, and a channel's test: checked input in (secrets
// only by variable name, under the configured prefix), the catalog's rows out.
import { randomUUID } from 'node:crypto';
import {
  deleteChannel,
  deleteRule,
  getChannel,
  getRule,
  insertChannel,
  insertRule,
  listChannels,
  listRules,
  findChannel,
  updateChannel,
  updateRule,
  type ChannelRecord,
  type RuleRecord,
  type RuleWrite,
} from '../catalog/notifications.ts';
import { findTarget } from '../catalog/targets.ts';
import { envNameProblem } from '../domain/access-policy.ts';
import { LifeboatError } from '../domain/errors.ts';
import { eventId, notifyWorkflowId, type LifeboatEvent } from '../domain/notifications/events.ts';
import { toNotification } from '../domain/notifications/render.ts';
import type { RuleInput } from '../domain/notifications/rules.ts';
import { channelConfigSchema, channelEnvNames, type ChannelConfig } from '../notify/channel-config.ts';
import { describeFailure } from '../workflows/failure.ts';
import type { ChannelOutcome, notifyTestWorkflow } from '../workflows/notify.ts';
import type { ServiceDeps } from './deps.ts';

export interface ChannelView {
  id: string;
  name: string;
  kind: ChannelConfig['kind'];
  enabled: boolean;
  config: ChannelConfig;
  /** The environment variables the worker must have for this channel: names only, never values. */
  secretVariables: string[];
  createdAt: string;
  updatedAt: string;
}

export interface ChannelInput {
  name: string;
  enabled: boolean;
  config: ChannelConfig;
}

export type ChannelPatch = Partial<ChannelInput>;

function refuse(field: string, message: string): never {
  throw new LifeboatError('VALIDATION_FAILED', `${field}: ${message}`, { field });
}

/** A rule that names a target or channel the catalog does not have: well-formed, but about nothing. */
function unknown(field: string, message: string): never {
  throw new LifeboatError('NOT_FOUND', `${field}: ${message}`, { field });
}

function viewOf(channel: ChannelRecord): ChannelView {
  const parsed = channelConfigSchema.safeParse(channel.config);
  if (!parsed.success) {
    throw new LifeboatError(
      'INTERNAL',
      `The stored settings of channel ${channel.name} are no longer valid; replace them with PATCH.`,
    );
  }
  return {
    id: channel.id,
    name: channel.name,
    kind: parsed.data.kind,
    enabled: channel.enabled,
    config: parsed.data,
    secretVariables: channelEnvNames(parsed.data),
    createdAt: channel.createdAt,
    updatedAt: channel.updatedAt,
  };
}

/**
 * A channel's settings as they may be stored: every secret named by a variable that starts with the
 * notify prefix and is none of Lifeboat's own settings (the worker checks again when it reads them).
 */
function checkedConfig(deps: ServiceDeps, config: ChannelConfig): ChannelConfig {
  // jsonb cannot hold U+0000 (a URL may carry one past its own checks): bad input, not a server error.
  if (JSON.stringify(config).includes('\\u0000')) refuse('config', 'may not contain the NUL character');
  for (const name of channelEnvNames(config)) {
    const problem = envNameProblem(name, deps.access.notifyEnv);
    if (problem) refuse('config', problem);
  }
  return config;
}

export async function listChannelViews(deps: ServiceDeps): Promise<ChannelView[]> {
  return (await listChannels(deps.db)).map(viewOf);
}

export async function getChannelView(deps: ServiceDeps, idOrName: string): Promise<ChannelView> {
  return viewOf(await getChannel(deps.db, idOrName));
}

export async function createChannel(deps: ServiceDeps, input: ChannelInput): Promise<ChannelView> {
  const config = checkedConfig(deps, input.config);
  return viewOf(await insertChannel(deps.db, { ...input, kind: config.kind, config }));
}

/** Changes what the patch names; `config` is replaced as a whole (it may change the kind). */
export async function changeChannel(
  deps: ServiceDeps,
  idOrName: string,
  patch: ChannelPatch,
): Promise<ChannelView> {
  const current = viewOf(await getChannel(deps.db, idOrName));
  const config = patch.config ? checkedConfig(deps, patch.config) : current.config;
  const updated = await updateChannel(deps.db, current.id, {
    name: patch.name ?? current.name,
    enabled: patch.enabled ?? current.enabled,
    kind: config.kind,
    config,
  });
  return viewOf(updated);
}

export async function removeChannel(deps: ServiceDeps, idOrName: string): Promise<void> {
  await deleteChannel(deps.db, (await getChannel(deps.db, idOrName)).id);
}

export type ChannelTestOutcome =
  | (ChannelOutcome & { eventId: string })
  | { eventId: string; channelId: string; status: 'pending'; detail: string };

/** How long a worker has to make the test's one attempt before the test is given up. */
const testTimeoutMs = 120_000;

/**
 * How long the API waits for the test's outcome before it answers that the test is still under way.
 * A worker busy with other deliveries may take longer to pick it up; the caller then reads the outcome
 * from the deliveries, by event id.
 */
const testAnswerWithinMs = 8_000;

/**
 * Sends a `test` notification through the channel now, from a worker (whose environment holds the
 * channel's secrets, as for every delivery), and answers how it went, or that it is still under way
 * after `answerWithinMs`; the delivery is recorded either way.
 */
export async function testChannel(
  deps: ServiceDeps,
  idOrName: string,
  answerWithinMs = testAnswerWithinMs,
): Promise<ChannelTestOutcome> {
  const channel = await getChannel(deps.db, idOrName);
  const event: LifeboatEvent = {
    id: eventId('test', channel.id, randomUUID()),
    kind: 'test',
    occurredAt: new Date().toISOString(),
    target: null,
  };
  try {
    const handle = await deps.temporal.workflow.start<typeof notifyTestWorkflow>('notifyTestWorkflow', {
      workflowId: notifyWorkflowId(event),
      taskQueue: deps.taskQueue,
      args: [{ eventId: event.id, channelId: channel.id, notification: toNotification(event) }],
      workflowExecutionTimeout: testTimeoutMs,
    });
    let waited: NodeJS.Timeout | undefined;
    const stillRunning = new Promise<'pending'>((resolve) => {
      waited = setTimeout(() => resolve('pending'), answerWithinMs);
    });
    const outcome = await Promise.race([handle.result(), stillRunning]).finally(() => clearTimeout(waited));
    if (outcome === 'pending') {
      return {
        eventId: event.id,
        channelId: channel.id,
        status: 'pending',
        detail: `No worker has finished the test within ${answerWithinMs / 1000} s; its delivery will be listed under event ${event.id}.`,
      };
    }
    return { ...outcome, eventId: event.id };
  } catch (error) {
    const failure = describeFailure(error, 'TEMPORAL_UNAVAILABLE');
    throw new LifeboatError(
      'TEMPORAL_UNAVAILABLE',
      `The test could not run on a worker: ${failure.message}`,
      { eventId: event.id },
    );
  }
}

// Rules ------------------------------------------------------------------------------------------------

export type RuleScopeView =
  | { kind: 'global' }
  | { kind: 'target'; target: { id: string; name: string } }
  | { kind: 'schedule'; schedule: string };

export interface RuleView {
  id: string;
  name: string;
  enabled: boolean;
  scope: RuleScopeView;
  events: RuleRecord['events'];
  /** null: every enabled channel; empty: these events are silenced. */
  channels: { id: string; name: string }[] | null;
  params: RuleRecord['params'];
  createdAt: string;
  updatedAt: string;
}

function ruleView(rule: RuleRecord, channels: readonly ChannelRecord[]): RuleView {
  const names = new Map(channels.map((channel) => [channel.id, channel.name]));
  const scope: RuleScopeView =
    rule.scope.kind === 'target'
      ? { kind: 'target', target: { id: rule.scope.targetId, name: rule.targetName ?? rule.scope.targetId } }
      : rule.scope.kind === 'schedule'
        ? { kind: 'schedule', schedule: rule.scope.scheduleName }
        : { kind: 'global' };
  return {
    id: rule.id,
    name: rule.name,
    enabled: rule.enabled,
    scope,
    events: rule.events,
    channels: rule.channelIds?.map((id) => ({ id, name: names.get(id) ?? id })) ?? null,
    params: rule.params,
    createdAt: rule.createdAt,
    updatedAt: rule.updatedAt,
  };
}

/** The rule as stored: its target and channels resolved from ids or names (unknown ones refused). */
async function resolveRule(deps: ServiceDeps, input: RuleInput): Promise<RuleWrite> {
  let scope: RuleWrite['scope'] = { kind: 'global' };
  if (input.scope.kind === 'target') {
    const target = await findTarget(deps.db, input.scope.target);
    if (!target) unknown('scope.target', `no target "${input.scope.target}"`);
    scope = { kind: 'target', targetId: target.id };
  } else if (input.scope.kind === 'schedule') {
    scope = { kind: 'schedule', scheduleName: input.scope.schedule };
  }
  let channelIds: string[] | null = null;
  if (input.channels) {
    channelIds = [];
    for (const idOrName of input.channels) {
      const channel = await findChannel(deps.db, idOrName);
      if (!channel) unknown('channels', `no notification channel "${idOrName}"`);
      if (!channelIds.includes(channel.id)) channelIds.push(channel.id);
    }
  }
  return {
    name: input.name,
    enabled: input.enabled,
    scope,
    events: [...new Set(input.events)],
    channelIds,
    params: input.params,
  };
}

export async function listRuleViews(deps: ServiceDeps): Promise<RuleView[]> {
  const [rules, channels] = await Promise.all([listRules(deps.db), listChannels(deps.db)]);
  return rules.map((rule) => ruleView(rule, channels));
}

export async function getRuleView(deps: ServiceDeps, idOrName: string): Promise<RuleView> {
  return ruleView(await getRule(deps.db, idOrName), await listChannels(deps.db));
}

export async function createRule(deps: ServiceDeps, input: RuleInput): Promise<RuleView> {
  const rule = await insertRule(deps.db, await resolveRule(deps, input));
  return ruleView(rule, await listChannels(deps.db));
}

export async function replaceRule(deps: ServiceDeps, idOrName: string, input: RuleInput): Promise<RuleView> {
  const current = await getRule(deps.db, idOrName);
  const rule = await updateRule(deps.db, current.id, await resolveRule(deps, input));
  return ruleView(rule, await listChannels(deps.db));
}

export async function removeRule(deps: ServiceDeps, idOrName: string): Promise<void> {
  await deleteRule(deps.db, (await getRule(deps.db, idOrName)).id);
}
