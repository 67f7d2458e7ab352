// createApp(deps): the Hono application — health, authenticated admin routes, audit log, OpenAPI document.
import { OpenAPIHono } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { secureHeaders } from 'hono/secure-headers';
import { LifeboatError } from '../domain/errors.ts';
import { lifeboatVersion } from '../config/version.ts';
import { createCatalogLiveEventHub } from '../services/live-events.ts';
import { auditLog } from './audit.ts';
import { authenticate, defaultAuthLimits } from './auth.ts';
import type { ApiDeps, AppEnv } from './context.ts';
import { errorResponse } from './errors.ts';
import { backupRoutes } from './routes/backups.ts';
import { eventRoutes } from './routes/events.ts';
import { backupDrillRoutes, drillRoutes, restorabilityRoutes } from './routes/drills.ts';
import { adminHealthRoutes } from './routes/admin-health.ts';
import { healthRoutes } from './routes/health.ts';
import { notificationRoutes } from './routes/notifications.ts';
import { metricsRoutes, metricsSecurityScheme } from './routes/metrics.ts';
import { backupRestoreRoutes, restoreRoutes } from './routes/restores.ts';
import { retentionRoutes } from './routes/retention.ts';
import { scheduleRoutes } from './routes/schedules.ts';
import { settingsRoutes } from './routes/settings.ts';
import { statsRoutes } from './routes/stats.ts';
import { storageRoutes } from './routes/storage.ts';
import { targetRoutes } from './routes/targets.ts';
import { uploadRoutes } from './routes/upload.ts';

/** Request bodies other than an upload's archive are JSON documents of a few kilobytes. */
export const defaultMaxBodyBytes = 1024 * 1024;

const uploadPath = '/api/admin/backups/upload';

export function createApp(deps: ApiDeps) {
  const app = new OpenAPIHono<AppEnv>();
  const authLimits = { ...defaultAuthLimits, ...deps.auth };
  const maxBodyBytes = deps.maxBodyBytes ?? defaultMaxBodyBytes;
  app.onError((error, c) => errorResponse(c, error));
  app.notFound((c) => {
    // A path that exists under other methods answers 405 with the methods it has, not 404.
    const allowed = allowedMethods(app.routes, c.req.path);
    if (allowed.length > 0) {
      c.header('allow', allowed.join(', '));
      return errorResponse(
        c,
        new LifeboatError(
          'METHOD_NOT_ALLOWED',
          `${c.req.path} answers ${allowed.join(', ')}, not ${c.req.method}.`,
        ),
      );
    }
    return errorResponse(c, new LifeboatError('NOT_FOUND', `No route ${c.req.method} ${c.req.path}.`));
  });

  app.use('*', secureHeaders());
  app.route('/health', healthRoutes(deps));
  // Outside /api/admin: scrapers hold LIFEBOAT_METRICS_TOKEN (when set), not an API token.
  app.route('/metrics', metricsRoutes(deps));
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
  if (deps.metricsToken) {
    app.openAPIRegistry.registerComponent('securitySchemes', metricsSecurityScheme, {
      type: 'http',
      scheme: 'bearer',
    });
  }

  // Authentication first: the audit log holds authenticated calls only (refusals are counted instead).
  app.use(
    '/api/admin/*',
    authenticate(deps.db, authLimits),
    auditLog(deps.db, authLimits),
    async function refuseNulInUrl(c, next) {
      // PostgreSQL text cannot hold U+0000: a path or query value with one is bad input, not a 500.
      if (/%00/i.test(c.req.url) || c.req.url.includes('\u0000')) {
        throw new LifeboatError('VALIDATION_FAILED', 'The path and query may not contain a NUL character.');
      }
      await next();
    },
    async function limitBody(c, next) {
      if (c.req.path === uploadPath || c.req.path === `${uploadPath}/`) return next();
      return bodyLimit({
        maxSize: maxBodyBytes,
        onError: (c) =>
          errorResponse(
            c,
            new LifeboatError('PAYLOAD_TOO_LARGE', `Request bodies are limited to ${maxBodyBytes} bytes.`),
          ),
      })(c, next);
    },
  );
  app.route('/api/admin/targets', restorabilityRoutes(deps));
  app.route('/api/admin/targets', targetRoutes(deps));
  app.route('/api/admin/drills', drillRoutes(deps));
  app.route('/api/admin/events', eventRoutes(deps.events ?? createCatalogLiveEventHub(deps.db)));
  // Fixed paths under /backups come before /backups/:id, which would otherwise claim them.
  app.route('/api/admin/backups/schedules', scheduleRoutes(deps));
  app.route('/api/admin/backups/settings', settingsRoutes(deps));
  app.route('/api/admin/backups/retention', retentionRoutes(deps));
  app.route('/api/admin/backups/storage', storageRoutes(deps));
  app.route('/api/admin/backups/upload', uploadRoutes(deps));
  app.route('/api/admin/backups/stats', statsRoutes(deps));
  app.route('/api/admin/backups', backupDrillRoutes(deps));
  app.route('/api/admin/backups', backupRestoreRoutes(deps));
  app.route('/api/admin/backups', backupRoutes(deps));
  app.route('/api/admin/restores', restoreRoutes(deps));
  app.route('/api/admin/notifications', notificationRoutes(deps));
  app.route('/api/admin/health', adminHealthRoutes(deps));
  return app;
}

/**
 * The methods of the most specific routes that match `path` (a fixed segment over a parameter, as the
 * router picks them: /backups/settings, not /backups/:id), middleware aside; none when no route matches.
 */
export function allowedMethods(routes: readonly { method: string; path: string }[], path: string): string[] {
  const normalized = path.length > 1 ? path.replace(/\/+$/, '') : path;
  let best: { params: number; methods: Set<string> } | undefined;
  for (const route of routes) {
    if (route.method === 'ALL') continue;
    const pattern = route.path.length > 1 ? route.path.replace(/\/+$/, '') : route.path;
    const source = pattern
      .split('/')
      .map((segment) => {
        if (segment === '*') return '.*';
        const param = /^:\w+(?:\{(.+)\})?$/.exec(segment);
        if (param) return param[1] ?? '[^/]+';
        return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      })
      .join('/');
    if (!new RegExp(`^${source}$`).test(normalized)) continue;
    const params = (pattern.match(/:/g) ?? []).length;
    if (!best || params < best.params) best = { params, methods: new Set() };
    if (params === best.params) best.methods.add(route.method);
  }
  return best ? [...best.methods].sort() : [];
}

export type LifeboatApp = ReturnType<typeof createApp>;
