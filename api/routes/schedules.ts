// /api/admin/backups/schedules: Temporal Schedules that run backups. Admins change; operators read and run.
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { getSettings } from '../../catalog/settings.ts';
import { getTarget } from '../../catalog/targets.ts';
import { LifeboatError } from '../../domain/errors.ts';
import { scheduleId, scheduleInputSchema, type ScheduleInput } from '../../domain/schedule.ts';
import { storableText } from '../../domain/text.ts';
import { auditResource } from '../audit.ts';
import { requireRole } from '../auth.ts';
import type { ApiDeps, AppEnv } from '../context.ts';
import {
  createSchedule,
  deleteSchedule,
  getSchedule,
  listSchedules,
  setScheduleEnabled,
  triggerSchedule,
  updateSchedule,
} from '../../services/schedules.ts';
import {
  actionErrors,
  conflictResponse,
  errorResponses,
  idParams,
  json,
  linksTo,
  notFoundResponse,
} from '../schemas.ts';
import { validationHook } from '../validation.ts';

const scheduleSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    description: z.string().nullable(),
    target: z.object({ id: z.string(), name: z.string() }),
    frequency: z.string().nullable(),
    cron: z.string(),
    timeZone: z.string(),
    options: z.object({ tags: z.array(z.string()), format: z.string() }),
    enabled: z.boolean(),
    note: z.string().nullable(),
    nextRunTimes: z.array(z.string()),
    recentRuns: z.array(
      z.object({
        workflowId: z.string(),
        scheduledAt: z.string(),
        startedAt: z.string(),
        status: z.string(),
        errorCode: z.string().nullable(),
      }),
    ),
    consecutiveFailures: z.number(),
    lastSuccessAt: z.string().nullable(),
    actionsTaken: z.number(),
    createdAt: z.string(),
    updatedAt: z.string().nullable(),
  })
  .openapi('Schedule');

const body = {
  content: { 'application/json': { schema: scheduleInputSchema } },
  required: true,
};

/** What a schedule's id leads to: every operation on one schedule. */
const scheduleLinks = (expression: string) =>
  linksTo({
    getSchedule: expression,
    replaceSchedule: expression,
    deleteSchedule: expression,
    toggleSchedule: expression,
    triggerSchedule: expression,
  });

async function resolveTarget(deps: ApiDeps, input: ScheduleInput) {
  const target = await getTarget(deps.db, input.target);
  const timeZone = input.timeZone ?? (await getSettings(deps.db)).retention.timeZone;
  return { target, timeZone };
}

export function scheduleRoutes(deps: ApiDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.openapi(
    createRoute({
      method: 'get',
      path: '/',
      operationId: 'listSchedules',
      summary: 'List backup schedules',
      middleware: [requireRole('operator')] as const,
      responses: {
        200: {
          ...json(z.object({ items: z.array(scheduleSchema) }), 'Schedules'),
          links: scheduleLinks('$response.body#/items/0/id'),
        },
        ...errorResponses,
      },
    }),
    async (c) => c.json({ items: await listSchedules(deps) }, 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/',
      operationId: 'createSchedule',
      summary: 'Create a backup schedule',
      description:
        'frequency (hourly 0 * * * *, daily 0 3 * * *, weekly 0 3 * * 0, monthly 0 3 1 * *) or cron.',
      middleware: [requireRole('admin')] as const,
      request: { body },
      responses: {
        201: { ...json(scheduleSchema, 'Created'), links: scheduleLinks('$response.body#/id') },
        ...actionErrors,
      },
    }),
    async (c) => {
      const input = c.req.valid('json');
      const { target, timeZone } = await resolveTarget(deps, input);
      const schedule = await createSchedule(deps, target, input, timeZone);
      c.set('resourceId', schedule.id);
      return c.json(schedule, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/{id}',
      operationId: 'getSchedule',
      summary: 'One schedule: next runs, recent runs and their outcome, paused state',
      middleware: [requireRole('operator')] as const,
      request: { params: idParams },
      responses: { 200: json(scheduleSchema, 'The schedule'), ...errorResponses, ...notFoundResponse },
    }),
    async (c) => c.json(await getSchedule(deps, c.req.valid('param').id), 200),
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/{id}',
      operationId: 'replaceSchedule',
      summary: 'Replace a schedule (same name)',
      description: 'A schedule keeps its name: a body naming another one is refused (409).',
      middleware: [auditResource('id'), requireRole('admin')] as const,
      request: { params: idParams, body },
      responses: {
        200: json(scheduleSchema, 'Updated'),
        ...errorResponses,
        ...notFoundResponse,
        ...conflictResponse,
      },
    }),
    async (c) => {
      const input = c.req.valid('json');
      // The name is the schedule's id: a different one is another schedule, which a PUT cannot make.
      const { id } = c.req.valid('param');
      if (id !== input.name && id !== scheduleId(input.name)) {
        throw new LifeboatError('CONFLICT', 'A schedule cannot be renamed; create a new one instead.', {
          field: 'name',
        });
      }
      const { target, timeZone } = await resolveTarget(deps, input);
      return c.json(await updateSchedule(deps, c.req.valid('param').id, target, input, timeZone), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/{id}',
      operationId: 'deleteSchedule',
      summary: 'Delete a schedule (its backups stay)',
      middleware: [auditResource('id'), requireRole('admin')] as const,
      request: { params: idParams },
      responses: { 204: { description: 'Deleted' }, ...errorResponses, ...notFoundResponse },
    }),
    async (c) => {
      await deleteSchedule(deps, c.req.valid('param').id);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/{id}/toggle',
      operationId: 'toggleSchedule',
      summary: 'Enable or disable (pause) a schedule',
      middleware: [requireRole('admin')] as const,
      request: {
        params: idParams,
        body: {
          content: {
            'application/json': {
              schema: z
                .object({ enabled: z.boolean().optional(), note: storableText({ max: 500 }).optional() })
                .strict(),
            },
          },
          required: false,
        },
      },
      responses: {
        200: json(scheduleSchema, 'The schedule after the change'),
        ...errorResponses,
        ...notFoundResponse,
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      c.set('resourceId', id);
      const request = c.req.valid('json') ?? {};
      const enabled = request.enabled ?? !(await getSchedule(deps, id)).enabled;
      const who = c.get('identity')?.name ?? 'unknown';
      const note = request.note ?? `${enabled ? 'enabled' : 'disabled'} by ${who}`;
      return c.json(await setScheduleEnabled(deps, id, enabled, note), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/trigger',
      operationId: 'triggerSchedule',
      summary: 'Run the schedule’s backup now',
      middleware: [auditResource('id'), requireRole('operator')] as const,
      request: { params: idParams },
      responses: { 202: json(scheduleSchema, 'Triggered'), ...errorResponses, ...notFoundResponse },
    }),
    async (c) => {
      return c.json(await triggerSchedule(deps, c.req.valid('param').id), 202);
    },
  );

  return app;
}
