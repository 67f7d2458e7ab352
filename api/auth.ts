// Bearer-token authentication with a limit on failures per client address, and role checks.
import type { Context, MiddlewareHandler } from 'hono';
import type pg from 'pg';
import { countAuthFailure } from '../catalog/audit.ts';
import { authenticateToken, type Role } from '../catalog/tokens.ts';
import { LifeboatError } from '../domain/errors.ts';
import type { AppEnv } from './context.ts';

const rank: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

export interface AuthLimits {
  /** Failed authentications an address may have within `failureWindowMs`; the next ones answer 429. */
  maxFailures: number;
  failureWindowMs: number;
  /** Behind a reverse proxy: the client is the first X-Forwarded-For address, not the proxy's. */
  trustForwardedFor: boolean;
}

export const defaultAuthLimits: AuthLimits = {
  maxFailures: 10,
  failureWindowMs: 15 * 60_000,
  trustForwardedFor: false,
};

/** Addresses tracked at most; past it, expired windows are dropped, then the oldest. */
const maxTrackedAddresses = 10_000;

/**
 * The caller's address: the socket's peer on @hono/node-server, or the first X-Forwarded-For entry when
 * the deployment says a proxy sets it (a client could otherwise pick a new address for every guess).
 */
export function clientAddress(c: Context, trustForwardedFor: boolean): string {
  if (trustForwardedFor) {
    const forwarded = c.req.header('x-forwarded-for')?.split(',')[0]?.trim();
    if (forwarded) return forwarded;
  }
  const incoming = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming;
  return incoming?.socket?.remoteAddress ?? 'unknown';
}

/** Failed authentications per address in fixed windows, in this process's memory. */
export function createFailureCounter(limits: AuthLimits, now: () => number = Date.now) {
  const windows = new Map<string, { failures: number; endsAt: number }>();
  const current = (address: string) => {
    const window = windows.get(address);
    return window && window.endsAt > now() ? window : undefined;
  };
  return {
    /** Seconds until the address may try again; undefined while it is under the limit. */
    retryAfterSeconds(address: string): number | undefined {
      const window = current(address);
      if (!window || window.failures < limits.maxFailures) return undefined;
      return Math.max(1, Math.ceil((window.endsAt - now()) / 1000));
    },
    recordFailure(address: string): void {
      const window = current(address);
      if (window) {
        window.failures++;
        return;
      }
      if (windows.size >= maxTrackedAddresses) {
        for (const [key, value] of windows) if (value.endsAt <= now()) windows.delete(key);
        if (windows.size >= maxTrackedAddresses) windows.delete(windows.keys().next().value!);
      }
      windows.delete(address);
      windows.set(address, { failures: 1, endsAt: now() + limits.failureWindowMs });
    },
  };
}

/**
 * Resolves the bearer token to an identity; a missing or unknown token is UNAUTHORIZED, and an address
 * over its failure limit is RATE_LIMITED before its token is looked at, valid or not. Each refusal adds
 * to the catalog's per-day counter of its address rather than to the audit log.
 */
export function authenticate(db: pg.Pool, limits: AuthLimits = defaultAuthLimits): MiddlewareHandler<AppEnv> {
  const failures = createFailureCounter(limits);
  const count = async (address: string, rateLimited: boolean) => {
    try {
      await countAuthFailure(db, address, rateLimited);
    } catch (error) {
      console.error(`lifeboat api: could not count a failed authentication: ${(error as Error).message}`);
    }
  };
  return async function authenticateBearer(c, next) {
    const address = clientAddress(c, limits.trustForwardedFor);
    const retryAfter = failures.retryAfterSeconds(address);
    if (retryAfter !== undefined) {
      await count(address, true);
      c.header('retry-after', String(retryAfter));
      throw new LifeboatError(
        'RATE_LIMITED',
        `Too many failed authentications from this address; try again in ${retryAfter} seconds.`,
        { retryAfterSeconds: retryAfter },
      );
    }
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    const identity = match?.[1] ? await authenticateToken(db, match[1]) : undefined;
    if (!identity) {
      failures.recordFailure(address);
      await count(address, false);
      throw new LifeboatError(
        'UNAUTHORIZED',
        match?.[1]
          ? 'The API token is unknown or revoked.'
          : 'Send an API token: "Authorization: Bearer <token>".',
      );
    }
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
