// The API against a client that guesses or floods: failed authentications limited per address, bodies
// limited in size, security headers on every answer, and the first admin token kept out of the log.
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.ts';
import { ensureBootstrapToken } from '../../api/bootstrap-token.ts';
import { migrateCatalog } from '../../catalog/migrate.ts';
import { authenticateToken, listTokens, revokeToken } from '../../catalog/tokens.ts';
import { apiDeps } from '../harness/api.ts';
import { createDatabase, scratchDir, superuserUrl, useStack } from '../harness/stack.ts';

const { db, client, worker, api } = useStack();

/** This file's own app behind a (pretend) reverse proxy, so that each test is its own client address. */
const proxied = createApp({ ...apiDeps(db, client, worker), auth: { trustForwardedFor: true } });

const from = (address: string, token: string) =>
  proxied.request('/api/admin/targets', {
    headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': `${address}, 10.0.0.1` },
  });

describe('failed authentications', () => {
  it('answer 429 from the 11th in a row, for a valid token too, while other addresses still get in', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await from('192.0.2.11', `lb_guess-${i}`)).status);
    expect(statuses).toEqual([...Array<number>(10).fill(401), 429]);
    const valid = await from('192.0.2.11', api.tokens.viewer);
    expect(valid.status).toBe(429);
    expect(Number(valid.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await valid.json()).toMatchObject({ error: { code: 'RATE_LIMITED' } });
    expect((await from('192.0.2.12', api.tokens.viewer)).status).toBe(200);
  });

  it('are counted per address and day, not written to the audit log one row each', async () => {
    const before = await db.query<{ n: number }>(
      'select count(*)::int as n from audit_log where remote_address = $1',
      ['192.0.2.21'],
    );
    for (let i = 0; i < 3; i++) {
      await proxied.request('/api/admin/backups', {
        method: 'POST',
        headers: { 'x-forwarded-for': '192.0.2.21', 'content-type': 'application/json' },
        body: '{}',
      });
    }
    const after = await db.query<{ n: number }>(
      'select count(*)::int as n from audit_log where remote_address = $1',
      ['192.0.2.21'],
    );
    expect(after.rows[0]!.n).toBe(before.rows[0]!.n);
    const { rows } = await db.query<{ failures: string }>(
      `select failures from auth_failures where remote_address = $1 and day = (now() at time zone 'utc')::date`,
      ['192.0.2.21'],
    );
    expect(Number(rows[0]?.failures)).toBe(3);
  });
});

describe('request bodies', () => {
  it('answer 413 above the limit (a 50 MB JSON document) and create nothing', async () => {
    const name = `huge-${worker.taskQueue.slice(-8)}`;
    const huge = JSON.stringify({ name, url: 'postgres://a@b/c', description: 'x'.repeat(50 * 1024 * 1024) });
    const response = await api.call('POST', '/api/admin/targets', { rawBody: huge });
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } });
    expect((await db.query('select 1 from targets where name = $1', [name])).rowCount).toBe(0);
  });
});

describe('answers', () => {
  it('carry basic security headers', async () => {
    for (const response of [
      await api.call('GET', '/health', { token: null }),
      await api.call('GET', '/api/admin/targets'),
    ]) {
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('x-frame-options')).toBe('SAMEORIGIN');
      expect(response.headers.get('referrer-policy')).toBe('no-referrer');
      expect(response.headers.get('strict-transport-security')).toContain('max-age=');
    }
  });
});

describe('the first admin token', () => {
  it('is written to a 0600 file for a new catalog, and not minted again once every token is revoked', async () => {
    const database = await createDatabase('bootstrap');
    const catalog = new pg.Pool({ connectionString: superuserUrl(database), max: 2 });
    try {
      await migrateCatalog(catalog);
      const file = path.join(scratchDir('admin'), 'secrets', 'admin-token');
      expect(await ensureBootstrapToken(catalog, file)).toEqual({ created: true });
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const token = readFileSync(file, 'utf8').trim();
      expect(await authenticateToken(catalog, token)).toMatchObject({ role: 'admin' });

      expect(await ensureBootstrapToken(catalog, file)).toEqual({ created: false });
      for (const { name } of await listTokens(catalog)) await revokeToken(catalog, name);
      const elsewhere = path.join(scratchDir('admin'), 'admin-token');
      expect(await ensureBootstrapToken(catalog, elsewhere)).toEqual({ created: false });
      expect(existsSync(elsewhere)).toBe(false);
      expect((await listTokens(catalog)).every((listed) => listed.revoked)).toBe(true);
    } finally {
      await catalog.end();
    }
  });
});
