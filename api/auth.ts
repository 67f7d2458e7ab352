// Bearer-token authentication and role checks, as middleware factories.
import type { MiddlewareHandler } from 'hono';
import type pg from 'pg';
import { authenticateToken, type Role } from '../catalog/tokens.ts';
import { LifeboatError } from '../domain/errors.ts';
import type { AppEnv } from './context.ts';

const rank: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

/** Resolves the bearer token to an identity; a missing or unknown token is UNAUTHORIZED. */
export function authenticate(db: pg.Pool): MiddlewareHandler<AppEnv> {
  return async function authenticateBearer(c, next) {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match?.[1]) {
      throw new LifeboatError('UNAUTHORIZED', 'Send an API token: "Authorization: Bearer <token>".');
    }
    const identity = await authenticateToken(db, match[1]);
    if (!identity) throw new LifeboatError('UNAUTHORIZED', 'The API token is unknown or revoked.');
    c.set('identity', identity);
    await next();
  };
}

/** Lets the request through when the caller's role is at least `minimum`. */
export function requireRole(minimum: Role): MiddlewareHandler<AppEnv> {
  return async function checkRole(c, next) {
    const identity = c.get('identity');
    if (!identity)
      throw new LifeboatError('UNAUTHORIZED', 'Send an API token: "Authorization: Bearer <token>".');
    if (rank[identity.role] < rank[minimum]) {
      throw new LifeboatError(
        'FORBIDDEN',
        `This needs the ${minimum} role or higher; token "${identity.name}" is ${identity.role}.`,
      );
    }
    await next();
  };
}
