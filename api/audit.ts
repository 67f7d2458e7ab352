// Records every authenticated mutating API call in the catalog's audit log: who, what, when, how it ended.
// It runs after authentication: refused tokens are counted per address (api/auth.ts), not stored a row each.
import type { MiddlewareHandler } from 'hono';
import type pg from 'pg';
import { recordAudit } from '../catalog/audit.ts';
import { clientAddress } from './auth.ts';
import type { AppEnv } from './context.ts';

const mutating = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** `POST /api/admin/backups/<uuid>` → `POST /api/admin/backups/:id`, so actions group in the log. */
function actionOf(method: string, path: string): string {
  return `${method} ${path.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, ':id')}`;
}

export function auditLog(db: pg.Pool, options: { trustForwardedFor: boolean }): MiddlewareHandler<AppEnv> {
  return async function recordMutation(c, next) {
    await next();
    if (!mutating.has(c.req.method)) return;
    const status = c.res.status;
    const identity = c.get('identity');
    try {
      await recordAudit(db, {
        actor: identity?.name ?? null,
        role: identity?.role ?? null,
        method: c.req.method,
        path: c.req.path,
        action: actionOf(c.req.method, c.req.path),
        resourceId: c.get('resourceId') ?? null,
        outcome: status < 400 ? 'success' : status === 401 || status === 403 ? 'denied' : 'failed',
        status,
        errorCode: c.get('errorCode') ?? null,
        remoteAddress: clientAddress(c, options.trustForwardedFor),
        details: c.get('auditDetails') ?? null,
      });
    } catch (error) {
      console.error(`lifeboat api: could not write the audit log: ${(error as Error).message}`);
    }
  };
}

/** Names the resource a route acts on in the audit log: the path parameter `param`. */
export function auditResource(param: string): MiddlewareHandler<AppEnv> {
  return async function recordResource(c, next) {
    c.set('resourceId', c.req.param(param));
    await next();
  };
}
