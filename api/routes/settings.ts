// /api/admin/backups/settings: global defaults — retention policy, storage, deletion, restore approval.
import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import {
  getSettings,
  settingsPatchSchemaFor,
  storedSettingsSchema,
  updateSettings,
  type SettingsPatch,
} from '../../catalog/settings.ts';
import { checkStorageCredentialNames } from '../../services/targets.ts';
import { requireRole } from '../auth.ts';
import type { ApiDeps, AppEnv } from '../context.ts';
import { errorResponses } from '../schemas.ts';
import { requireJsonBody, validationHook } from '../validation.ts';

/** A loosening of restoreApproval (switched off, targets taken out) waits this long by default. */
export const defaultApprovalChangeDelayMs = 24 * 3_600_000;

const changeDescription =
  'Merges the fields given into the settings; the others keep their values (a change of one retention ' +
  'field keeps the other ones). A change that loosens restoreApproval (switches it off or takes targets ' +
  'out of it) is shown as pendingRestoreApproval and applies only after LIFEBOAT_APPROVAL_CHANGE_DELAY_HOURS ' +
  '(24 by default); one that tightens it applies at once and drops a pending one.';

export function settingsRoutes(deps: ApiDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  // Domain schemas are plain zod (no OpenAPI names): they may be built before @hono/zod-openapi loads.
  const schema = storedSettingsSchema;
  // The installation's storage-credential prefix is part of the schema, as for targets' destinations.
  const body = {
    content: { 'application/json': { schema: settingsPatchSchemaFor(deps.access.storageEnv) } },
    required: true,
  };
  const responses = {
    200: { description: 'Saved', content: { 'application/json': { schema } } },
    ...errorResponses,
  };
  const save = (patch: SettingsPatch, updatedBy: string | undefined) => {
    if (patch.defaultStorageUrl) {
      checkStorageCredentialNames(deps.access, patch.defaultStorageUrl, 'defaultStorageUrl');
    }
    return updateSettings(deps.db, patch, {
      updatedBy: updatedBy ?? 'unknown',
      approvalChangeDelayMs: deps.approvalChangeDelayMs ?? defaultApprovalChangeDelayMs,
    });
  };

  app.openapi(
    createRoute({
      method: 'get',
      path: '/',
      operationId: 'getSettings',
      summary: 'Global backup settings',
      responses: {
        200: { description: 'Settings', content: { 'application/json': { schema } } },
        ...errorResponses,
      },
    }),
    async (c) => c.json(await getSettings(deps.db), 200),
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/',
      operationId: 'changeSettings',
      summary: 'Change some of the global backup settings',
      description: changeDescription,
      middleware: [requireRole('admin'), requireJsonBody] as const,
      request: { body },
      responses,
    }),
    async (c) => c.json(await save(c.req.valid('json'), c.get('identity')?.name), 200),
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/',
      operationId: 'putSettings',
      summary: 'Change the global backup settings (the same merge as PATCH)',
      description: `Kept for older clients: omitted fields are not reset to their defaults. ${changeDescription}`,
      middleware: [requireRole('admin'), requireJsonBody] as const,
      request: { body },
      responses,
    }),
    async (c) => c.json(await save(c.req.valid('json'), c.get('identity')?.name), 200),
  );

  return app;
}
