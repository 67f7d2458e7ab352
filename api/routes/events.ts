// GET /api/admin/events: live events of backups, restores and notifications as Server-Sent Events.
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import {
  liveEventSchema,
  liveEventTypes,
  liveEventTypesPattern,
  parseLiveEventTypes,
} from '../../domain/live-events.ts';
import { storableText } from '../../domain/text.ts';
import type { LiveDelivery, LiveEventHub } from '../../services/live-events.ts';
import type { AppEnv } from '../context.ts';
import { errorResponses, errorSchema, json, queryInteger } from '../schemas.ts';
import { validationHook } from '../validation.ts';

/** A comment line this often keeps proxies and clients from taking a quiet stream for a dead one. */
export const defaultHeartbeatMs = 15_000;

/** How long an EventSource waits before it reconnects (the `retry` field of the first event). */
const reconnectDelayMs = 3_000;

const controlEvents = ['ready', 'dropped', 'resync', 'end'] as const;

/** A run's id as the catalog writes it; any version, as the document's pattern says. */
const runId = z
  .string()
  .regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, 'a uuid');

const eventsQuery = z.object({
  target: storableText({ min: 1, max: 200 })
    .optional()
    .openapi({ description: 'Only events of this target (name or id)' }),
  backup: runId.optional().openapi({ description: 'Only events of this backup run' }),
  restore: runId.optional().openapi({ description: 'Only events of this restore operation' }),
  types: z
    .string()
    .max(1000)
    .regex(new RegExp(liveEventTypesPattern), `event types separated by commas: ${liveEventTypes.join(', ')}`)
    .optional()
    .openapi({ description: `Only these types, comma-separated, of ${liveEventTypes.join(', ')}` }),
  maxEvents: queryInteger(1, 10_000).optional().openapi({
    type: 'integer',
    minimum: 1,
    maximum: 10_000,
    description: 'End the stream after this many live events',
  }),
  timeoutSeconds: queryInteger(1, 3_600).optional().openapi({
    type: 'integer',
    minimum: 1,
    maximum: 3_600,
    description: 'End the stream after this many seconds',
  }),
});

const eventsHeaders = z.object({
  'last-event-id': z
    .string()
    .regex(/^[0-9]{1,16}$/, 'the id of an event this API sent')
    .optional()
    .openapi({
      description: 'Sent by EventSource on reconnection: the events after it are replayed when still held',
    }),
});

const control = {
  ready: z.object({ after: z.string() }),
  dropped: z.object({ dropped: z.number().int() }),
  resync: z.object({ reason: z.enum(['overflow', 'gap']), dropped: z.number().int().optional() }),
  end: z.object({ reason: z.enum(['timeout', 'maxEvents', 'shutdown']) }),
};

/** JSON Schema of one event's `data`, for the document; `$schema` left out, as OpenAPI embeds it. */
function dataSchema(schema: z.ZodType): Record<string, unknown> {
  const jsonSchema: Record<string, unknown> = z.toJSONSchema(schema, { io: 'output' });
  delete jsonSchema.$schema;
  return jsonSchema;
}

/** One event of the stream, as OpenAPI 3.1 readers of `text/event-stream` take `schema` (per event). */
const streamEventSchema = {
  type: 'object' as const,
  required: ['event', 'data'],
  properties: {
    event: { type: 'string' as const, enum: [...controlEvents, ...liveEventTypes] },
    id: { type: 'string' as const, pattern: '^[0-9]+$' },
    retry: { type: 'integer' as const, minimum: 0 },
    data: {
      type: 'string' as const,
      contentMediaType: 'application/json',
      contentSchema: {
        anyOf: [liveEventSchema, control.ready, control.dropped, control.resync, control.end].map(dataSchema),
      },
    },
  },
};

const eventsRoute = createRoute({
  method: 'get',
  path: '/',
  summary: 'Follow backups, restores and notifications live (Server-Sent Events)',
  description:
    'A stream of `text/event-stream`. First `ready` (its id is where the stream starts), then each live event ' +
    `(event name = its type: ${liveEventTypes.join(', ')}) with an increasing id and its JSON as data. ` +
    '`dropped`: progress events the reader was too slow for; `resync`: events may be missing, read the runs ' +
    'again (after `overflow` the stream ends); `end`: the stream ends (timeout, maxEvents, shutdown). A comment ' +
    'line every 15 seconds while quiet. Reconnect with Last-Event-ID to have recent events replayed.',
  request: { query: eventsQuery, headers: eventsHeaders },
  responses: {
    200: {
      description: 'The event stream',
      content: { 'text/event-stream': { schema: streamEventSchema } },
    },
    ...errorResponses,
    503: json(errorSchema, 'Too many streams open, or the catalog cannot be listened to'),
  },
});

/** What the route writes: the hub's deliveries, and its own reasons to end a stream. */
type Outgoing = LiveDelivery | { kind: 'end'; reason: 'timeout' | 'maxEvents' };

async function writeDelivery(sse: SSEStreamingApi, delivery: Outgoing): Promise<void> {
  switch (delivery.kind) {
    case 'event':
      return sse.writeSSE({
        event: delivery.item.type,
        id: String(delivery.item.id),
        data: delivery.item.data,
      });
    case 'dropped':
      return sse.writeSSE({ event: 'dropped', data: JSON.stringify({ dropped: delivery.count }) });
    case 'resync':
      return sse.writeSSE({
        event: 'resync',
        data: JSON.stringify({
          reason: delivery.reason,
          ...(delivery.dropped ? { dropped: delivery.dropped } : {}),
        }),
      });
    case 'end':
      return sse.writeSSE({ event: 'end', data: JSON.stringify({ reason: delivery.reason }) });
  }
}

export function eventRoutes(events: LiveEventHub, options: { heartbeatMs?: number } = {}) {
  const heartbeatMs = options.heartbeatMs ?? defaultHeartbeatMs;
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.openapi(eventsRoute, async (c) => {
    const query = c.req.valid('query');
    const lastEventId = c.req.valid('header')['last-event-id'];
    // Subscribed before the answer starts: a refusal is still a plain JSON error with its status.
    const stream = await events.subscribe({
      filter: {
        target: query.target,
        backupId: query.backup,
        restoreId: query.restore,
        types: query.types === undefined ? undefined : parseLiveEventTypes(query.types),
      },
      lastEventId: lastEventId === undefined ? undefined : Number(lastEventId),
    });
    // Proxies such as nginx would otherwise hold the events back in their buffers.
    c.header('x-accel-buffering', 'no');
    return streamSSE(c, async (sse) => {
      sse.onAbort(() => stream.close());
      const deadline =
        query.timeoutSeconds === undefined ? undefined : Date.now() + query.timeoutSeconds * 1000;
      let sent = 0;
      try {
        await sse.writeSSE({
          event: 'ready',
          id: String(stream.position),
          retry: reconnectDelayMs,
          data: JSON.stringify({ after: String(stream.position) }),
        });
        while (!sse.aborted) {
          const waitMs = deadline === undefined ? heartbeatMs : Math.min(heartbeatMs, deadline - Date.now());
          if (waitMs <= 0) {
            await writeDelivery(sse, { kind: 'end', reason: 'timeout' });
            break;
          }
          const delivery = await stream.next(waitMs);
          if (delivery === undefined) break;
          if (delivery === 'idle') {
            if (deadline === undefined || Date.now() < deadline) await sse.write(': heartbeat\n\n');
            continue;
          }
          await writeDelivery(sse, delivery);
          if (delivery.kind === 'end' || (delivery.kind === 'resync' && delivery.reason === 'overflow'))
            break;
          if (delivery.kind === 'event' && query.maxEvents !== undefined && ++sent >= query.maxEvents) {
            await writeDelivery(sse, { kind: 'end', reason: 'maxEvents' });
            break;
          }
        }
      } finally {
        stream.close();
      }
    });
  });

  return app;
}
