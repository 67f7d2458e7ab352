// /api/admin/targets: the databases to back up. Anyone with a token reads; admins change.
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { getTarget, listTargets } from '../../catalog/targets.ts';
import { recipientChecksumProblem } from '../../domain/age-keys.ts';
import { LifeboatError } from '../../domain/errors.ts';
import { targetInputSchemaFor, type TargetInput } from '../../domain/target.ts';
import { createTarget, removeTarget, replaceTarget } from '../../services/targets.ts';
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
  linksTo,
  notFoundResponse,
  targetSchema,
} from '../schemas.ts';
import { validationHook } from '../validation.ts';

const checksumResponse = {
  422: json(errorSchema, 'An encryption recipient has the shape of an age key but not its checksum'),
} as const;

/** A recipient's bech32 checksum is content, not shape: a key mistyped by one letter is refused here. */
function checkRecipients(input: TargetInput): TargetInput {
  const problem = recipientChecksumProblem(input.encryption?.recipients ?? []);
  if (problem) {
    throw new LifeboatError('CHECKSUM_MISMATCH', `encryption.recipients: ${problem}`, {
      field: 'encryption.recipients',
    });
  }
  return input;
}

/**
 * What a target leads to: its own operations by id, and by its name its backups and a schedule (made
 * paused: it runs when triggered, not every few seconds for as long as a client that follows links lives).
 */
const targetLinks = (at: string) => ({
  ...linksTo({
    getTarget: `${at}/id`,
    replaceTarget: `${at}/id`,
    deleteTarget: `${at}/id`,
  }),
  startBackup: { operationId: 'startBackup', requestBody: { target: `${at}/name` } },
  listBackups: { operationId: 'listBackups', parameters: { 'query.target': `${at}/name` } },
  createSchedule: { operationId: 'createSchedule', requestBody: { target: `${at}/name`, enabled: false } },
});

export function targetRoutes(deps: ApiDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  // The installation's policy is part of the schema: the document names the variables and directories it allows.
  const body = {
    content: { 'application/json': { schema: targetInputSchemaFor(deps.access) } },
    required: true,
  };

  app.openapi(
    createRoute({
      method: 'get',
      path: '/',
      operationId: 'listTargets',
      summary: 'List targets',
      responses: {
        200: {
          ...json(z.object({ items: z.array(targetSchema) }), 'Targets'),
          links: targetLinks('$response.body#/items/0'),
        },
        ...errorResponses,
      },
    }),
    async (c) => c.json({ items: await listTargets(deps.db) }, 200),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/{id}',
      operationId: 'getTarget',
      summary: 'One target, by id or name',
      request: { params: idParams },
      responses: { 200: json(targetSchema, 'The target'), ...errorResponses, ...notFoundResponse },
    }),
    async (c) => c.json(await getTarget(deps.db, c.req.valid('param').id), 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/',
      operationId: 'createTarget',
      summary: 'Create a target',
      middleware: [requireRole('admin')] as const,
      description: 'The password is stored encrypted (or referenced by passwordEnv) and never returned.',
      request: { body },
      responses: {
        201: { ...json(targetSchema, 'Created'), links: targetLinks('$response.body#') },
        ...errorResponses,
        ...conflictResponse,
        ...checksumResponse,
      },
    }),
    async (c) => {
      const target = await createTarget(deps, checkRecipients(c.req.valid('json')));
      c.set('resourceId', target.id);
      return c.json(target, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/{id}',
      operationId: 'replaceTarget',
      summary: 'Replace a target',
      middleware: [auditResource('id'), requireRole('admin')] as const,
      description: 'Without password or passwordEnv, the stored password is kept.',
      request: { params: idParams, body },
      responses: {
        200: json(targetSchema, 'Updated'),
        ...actionErrors,
        ...checksumResponse,
      },
    }),
    async (c) =>
      c.json(await replaceTarget(deps, c.req.valid('param').id, checkRecipients(c.req.valid('json'))), 200),
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/{id}',
      operationId: 'deleteTarget',
      summary: 'Delete a target that has no backups left',
      middleware: [auditResource('id'), requireRole('admin')] as const,
      request: { params: idParams },
      responses: {
        204: { description: 'Deleted' },
        ...actionErrors,
      },
    }),
    async (c) => {
      await removeTarget(deps, c.req.valid('param').id);
      return c.body(null, 204);
    },
  );

  return app;
}
