// /api/admin/notifications: channels (and their test), rules, and the record of every delivery. Anyone
// with a token reads; admins change and test.
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { listDeliveries } from '../../catalog/notifications.ts';
import {
  notificationNameSchema,
  ruleInputSchema,
  ruleParamsSchema,
  routableKinds,
} from '../../domain/notifications/rules.ts';
import { channelConfigSchemas } from '../../notify/channel-config.ts';
import type { AccessPolicy } from '../../domain/access-policy.ts';
import { envNameSource } from '../../domain/access-patterns.ts';
import { storableText } from '../../domain/text.ts';
import {
  changeChannel,
  createChannel,
  createRule,
  getChannelView,
  getRuleView,
  listChannelViews,
  listRuleViews,
  removeChannel,
  removeRule,
  replaceRule,
  testChannel,
} from '../../services/notifications.ts';
import { auditResource } from '../audit.ts';
import { requireRole } from '../auth.ts';
import type { ApiDeps, AppEnv } from '../context.ts';
import {
  actionErrors,
  conflictResponse,
  errorResponses,
  errorSchema,
  idParams,
  json,
  notFoundResponse,
  pageOf,
  pageQuery,
} from '../schemas.ts';
import { requireJsonBody, validationHook } from '../validation.ts';

/**
 * The channel schemas of this installation: a channel's `…Env` fields take only the names its access
 * policy allows, and the OpenAPI document shows that pattern.
 */
function channelSchemas(access: AccessPolicy) {
  const channelConfigSchema = channelConfigSchemas(envNameSource(access.notifyEnv)).config;
  const channelSchema = z
    .object({
      id: z.string().uuid(),
      name: z.string(),
      kind: z.enum(['email', 'webhook', 'slack', 'teams', 'ntfy']),
      enabled: z.boolean(),
      config: channelConfigSchema,
      secretVariables: z.array(z.string()).openapi({
        description: 'The environment variables the worker reads for this channel; names, never values',
      }),
      createdAt: z.string(),
      updatedAt: z.string(),
    })
    .openapi('NotificationChannel');

  const channelInput = z
    .object({
      name: notificationNameSchema,
      enabled: z.boolean().default(true),
      // Settings by kind; secrets only as the names of environment variables (…Env). Plain zod from notify/,
      // maybe made before @hono/zod-openapi extended zod, so no .openapi() on it.
      config: channelConfigSchema,
    })
    .strict()
    .openapi('NotificationChannelInput');

  const channelPatch = z
    .object({
      name: notificationNameSchema.optional(),
      enabled: z.boolean().optional(),
      config: channelConfigSchema.optional(),
    })
    .strict()
    .openapi('NotificationChannelPatch');
  return { channelSchema, channelInput, channelPatch };
}

const testOutcomeSchema = z
  .object({
    eventId: z.string(),
    channelId: z.string(),
    status: z.enum(['sent', 'failed', 'skipped']),
    detail: z.string().openapi({ description: 'What the receiver answered, or why nothing was sent' }),
  })
  .openapi('NotificationTestOutcome');

const testPendingSchema = z
  .object({
    eventId: z.string().openapi({ description: 'Find the outcome with GET /deliveries?event=<eventId>' }),
    channelId: z.string(),
    status: z.literal('pending'),
    detail: z.string(),
  })
  .openapi('NotificationTestPending');

const ruleSchema = z
  .object({
    id: z.string().uuid(),
    name: z.string(),
    enabled: z.boolean(),
    scope: z.discriminatedUnion('kind', [
      z.object({ kind: z.literal('global') }),
      z.object({ kind: z.literal('target'), target: z.object({ id: z.string(), name: z.string() }) }),
      z.object({ kind: z.literal('schedule'), schedule: z.string() }),
    ]),
    events: z.array(z.enum(routableKinds)),
    channels: z
      .array(z.object({ id: z.string(), name: z.string() }))
      .nullable()
      .openapi({ description: 'null: every enabled channel; empty: the events are silenced' }),
    params: ruleParamsSchema,
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('NotificationRule');

const ruleBody = {
  content: { 'application/json': { schema: ruleInputSchema } },
  required: true,
};

const deliverySchema = z
  .object({
    id: z.number(),
    eventId: z.string(),
    eventKind: z.string(),
    channel: z.object({ id: z.string(), name: z.string(), kind: z.string() }),
    target: z.string().nullable(),
    status: z.enum(['pending', 'sent', 'failed']),
    attempts: z.number(),
    lastError: z.string().nullable(),
    detail: z.string().nullable(),
    firstAttemptAt: z.string().nullable(),
    lastAttemptAt: z.string().nullable(),
    sentAt: z.string().nullable(),
    createdAt: z.string(),
  })
  .openapi('NotificationDelivery');

const deliveriesQuery = pageQuery.extend({
  channel: storableText({ min: 1, max: 200 }).optional().openapi({ description: 'Channel id or name' }),
  status: z.enum(['pending', 'sent', 'failed']).optional(),
  event: storableText({ min: 1, max: 500 })
    .optional()
    .openapi({ description: 'An event id, or an event kind (e.g. backup.failed) for all of its events' }),
});

export function notificationRoutes(deps: ApiDeps) {
  const { channelSchema, channelInput, channelPatch } = channelSchemas(deps.access);
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.openapi(
    createRoute({
      method: 'get',
      path: '/channels',
      summary: 'List notification channels',
      responses: { 200: json(z.object({ items: z.array(channelSchema) }), 'Channels'), ...errorResponses },
    }),
    async (c) => c.json({ items: await listChannelViews(deps) }, 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/channels',
      summary: 'Create a notification channel',
      description: `Secrets are never stored: name the environment variables that hold them on the worker (they must start with the notify prefix, LIFEBOAT_NOTIFY_ by default).`,
      middleware: [requireRole('admin')] as const,
      request: { body: { content: { 'application/json': { schema: channelInput } }, required: true } },
      responses: { 201: json(channelSchema, 'Created'), ...errorResponses, ...conflictResponse },
    }),
    async (c) => {
      const channel = await createChannel(deps, c.req.valid('json'));
      c.set('resourceId', channel.id);
      return c.json(channel, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/channels/{id}',
      summary: 'One channel, by id or name',
      request: { params: idParams },
      responses: { 200: json(channelSchema, 'The channel'), ...errorResponses, ...notFoundResponse },
    }),
    async (c) => c.json(await getChannelView(deps, c.req.valid('param').id), 200),
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/channels/{id}',
      summary: 'Change a channel: its name, whether it is enabled, or its whole config',
      middleware: [auditResource('id'), requireRole('admin'), requireJsonBody] as const,
      request: {
        params: idParams,
        body: { content: { 'application/json': { schema: channelPatch } }, required: true },
      },
      responses: { 200: json(channelSchema, 'Updated'), ...actionErrors },
    }),
    async (c) => c.json(await changeChannel(deps, c.req.valid('param').id, c.req.valid('json')), 200),
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/channels/{id}',
      summary: 'Delete a channel that no rule names, with its deliveries',
      middleware: [auditResource('id'), requireRole('admin')] as const,
      request: { params: idParams },
      responses: { 204: { description: 'Deleted' }, ...actionErrors },
    }),
    async (c) => {
      await removeChannel(deps, c.req.valid('param').id);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/channels/{id}/test',
      summary: 'Send a test notification through the channel now, and answer how it went',
      description:
        'One attempt, made by a worker with its secrets, enabled channel or not; recorded as a delivery. A receiver that refuses or cannot be reached answers 200 with status "failed". When no worker has finished within 8 s, answers 202 with status "pending"; the outcome is then recorded under the event id.',
      middleware: [auditResource('id'), requireRole('admin')] as const,
      request: { params: idParams },
      responses: {
        200: json(testOutcomeSchema, 'The outcome'),
        202: json(testPendingSchema, 'The test is still under way'),
        ...errorResponses,
        ...notFoundResponse,
        503: json(errorSchema, 'No worker ran the test'),
      },
    }),
    async (c) => {
      const outcome = await testChannel(deps, c.req.valid('param').id);
      return outcome.status === 'pending' ? c.json(outcome, 202) : c.json(outcome, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/rules',
      summary: 'List notification rules',
      responses: { 200: json(z.object({ items: z.array(ruleSchema) }), 'Rules'), ...errorResponses },
    }),
    async (c) => c.json({ items: await listRuleViews(deps) }, 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/rules',
      summary: 'Create a rule: which events go to which channels, globally or for a target or schedule',
      description:
        'Without rules, failures, the dead-man check and restore events go to every enabled channel. A rule that names an event kind for a scope replaces that default there; channels null means every enabled channel, [] silences.',
      middleware: [requireRole('admin')] as const,
      request: { body: ruleBody },
      responses: { 201: json(ruleSchema, 'Created'), ...actionErrors },
    }),
    async (c) => {
      const rule = await createRule(deps, c.req.valid('json'));
      c.set('resourceId', rule.id);
      return c.json(rule, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/rules/{id}',
      summary: 'One rule, by id or name',
      request: { params: idParams },
      responses: { 200: json(ruleSchema, 'The rule'), ...errorResponses, ...notFoundResponse },
    }),
    async (c) => c.json(await getRuleView(deps, c.req.valid('param').id), 200),
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/rules/{id}',
      summary: 'Replace a rule',
      middleware: [auditResource('id'), requireRole('admin')] as const,
      request: { params: idParams, body: ruleBody },
      responses: { 200: json(ruleSchema, 'Updated'), ...actionErrors },
    }),
    async (c) => c.json(await replaceRule(deps, c.req.valid('param').id, c.req.valid('json')), 200),
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/rules/{id}',
      summary: 'Delete a rule',
      middleware: [auditResource('id'), requireRole('admin')] as const,
      request: { params: idParams },
      responses: { 204: { description: 'Deleted' }, ...errorResponses, ...notFoundResponse },
    }),
    async (c) => {
      await removeRule(deps, c.req.valid('param').id);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/deliveries',
      summary: 'Deliveries of events to channels, newest first',
      description:
        'status pending: not sent yet (with attempts and lastError while the channel is retried); sent; failed: given up.',
      request: { query: deliveriesQuery },
      responses: { 200: json(pageOf(deliverySchema), 'A page of deliveries'), ...errorResponses },
    }),
    async (c) => {
      const { limit, offset, ...filters } = c.req.valid('query');
      const page = await listDeliveries(deps.db, { ...filters, limit, offset });
      return c.json({ ...page, limit, offset }, 200);
    },
  );

  return app;
}
