// createApp(deps): the Hono application — health, authenticated admin routes, audit log, OpenAPI document.
import { OpenAPIHono } from '@hono/zod-openapi';
import { LifeboatError } from '../domain/errors.ts';
import { lifeboatVersion } from '../config/version.ts';
import { auditLog } from './audit.ts';
import { authenticate } from './auth.ts';
import type { ApiDeps, AppEnv } from './context.ts';
import { errorResponse } from './errors.ts';
import { backupRoutes } from './routes/backups.ts';
import { healthRoutes } from './routes/health.ts';
import { backupRestoreRoutes, restoreRoutes } from './routes/restores.ts';
import { retentionRoutes } from './routes/retention.ts';
import { scheduleRoutes } from './routes/schedules.ts';
import { settingsRoutes } from './routes/settings.ts';
import { storageRoutes } from './routes/storage.ts';
import { targetRoutes } from './routes/targets.ts';
import { uploadRoutes } from './routes/upload.ts';

export function createApp(deps: ApiDeps) {
  const app = new OpenAPIHono<AppEnv>();
  app.onError((error, c) => errorResponse(c, error));
  app.notFound((c) =>
    errorResponse(c, new LifeboatError('NOT_FOUND', `No route ${c.req.method} ${c.req.path}.`)),
  );

  app.route('/health', healthRoutes(deps));
  app.doc31('/api/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'Lifeboat API',
      version: lifeboatVersion,
      description:
        'Durable PostgreSQL backup and restore. Every /api/admin route takes "Authorization: Bearer <token>".',
    },
    security: [{ bearer: [] }],
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });

  app.use('/api/admin/*', auditLog(deps.db), authenticate(deps.db));
  app.route('/api/admin/targets', targetRoutes(deps));
  // Fixed paths under /backups come before /backups/:id, which would otherwise claim them.
  app.route('/api/admin/backups/schedules', scheduleRoutes(deps));
  app.route('/api/admin/backups/settings', settingsRoutes(deps));
  app.route('/api/admin/backups/retention', retentionRoutes(deps));
  app.route('/api/admin/backups/storage', storageRoutes(deps));
  app.route('/api/admin/backups/upload', uploadRoutes(deps));
  app.route('/api/admin/backups', backupRestoreRoutes(deps));
  app.route('/api/admin/backups', backupRoutes(deps));
  app.route('/api/admin/restores', restoreRoutes(deps));
  return app;
}

export type LifeboatApp = ReturnType<typeof createApp>;
