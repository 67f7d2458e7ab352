// Bad requests answer 4xx with a code, create nothing, and leave a line in the audit log (or, refused at
// authentication, add to the per-address counter of failures instead of a line each).
import { beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, stack, useStack } from '../harness/stack.ts';

const { db, worker, api } = useStack();
let targetName: string;

beforeAll(async () => {
  const database = await createDatabase('errors');
  targetName = `errors-${database.slice(-8)}`;
  const created = await api.json('POST', '/api/admin/targets', {
    body: {
      name: targetName,
      url: `postgres://${stack().pgSuperuser}:${stack().pgPassword}@127.0.0.1:${stack().pgPort}/${database}`,
    },
  });
  expect(created.status).toBe(201);
});

/** Rows this file could have created; other test files write to the same catalog at the same time. */
async function counts() {
  const suffix = worker.taskQueue.slice(-12);
  const { rows } = await db.query<{ backups: string; targets: string }>(
    `select (select count(*) from backups where target_name = $1 or requested_by like '%-' || $2) as backups,
            (select count(*) from targets where name = any($3)) as targets`,
    [targetName, suffix, [targetName, 'x', 'nope', 'half', '../etc', 'no-such-target']],
  );
  return rows[0];
}

/** Anonymous audit lines (none are written any more), and today's count of refused authentications. */
async function anonymousTraces() {
  const { rows } = await db.query<{ lines: string; failures: string | null }>(
    `select (select count(*) from audit_log where actor is null) as lines,
            (select sum(failures) from auth_failures where day = (now() at time zone 'utc')::date) as failures`,
  );
  return { lines: Number(rows[0]!.lines), failures: Number(rows[0]!.failures ?? 0) };
}

/** The newest audit line of this file's callers. */
async function lastAudit() {
  const { rows } = await db.query<{
    actor: string | null;
    action: string;
    outcome: string;
    status: number;
    error_code: string;
  }>(
    `select actor, action, outcome, status, error_code from audit_log
      where actor like '%-' || $1 order by id desc limit 1`,
    [worker.taskQueue.slice(-12)],
  );
  return rows[0];
}

const cases: {
  name: string;
  method: string;
  path: string;
  token?: 'none' | 'wrong' | 'viewer' | 'operator';
  body?: unknown;
  rawBody?: string;
  status: number;
  code: string;
  actor: 'none' | 'viewer' | 'operator' | 'admin';
}[] = [
  {
    name: 'a missing token',
    method: 'POST',
    path: '/api/admin/backups',
    token: 'none',
    body: { target: 'x' },
    status: 401,
    code: 'UNAUTHORIZED',
    actor: 'none',
  },
  {
    name: 'a wrong token',
    method: 'POST',
    path: '/api/admin/backups',
    token: 'wrong',
    body: { target: 'x' },
    status: 401,
    code: 'UNAUTHORIZED',
    actor: 'none',
  },
  {
    name: 'a viewer starting a backup',
    method: 'POST',
    path: '/api/admin/backups',
    token: 'viewer',
    body: { target: 'TARGET' },
    status: 403,
    code: 'FORBIDDEN',
    actor: 'viewer',
  },
  {
    name: 'an operator creating a target',
    method: 'POST',
    path: '/api/admin/targets',
    token: 'operator',
    body: { name: 'nope', url: 'postgres://a@b/c' },
    status: 403,
    code: 'FORBIDDEN',
    actor: 'operator',
  },
  {
    name: 'an unknown target',
    method: 'POST',
    path: '/api/admin/backups',
    body: { target: 'no-such-target' },
    status: 404,
    code: 'NOT_FOUND',
    actor: 'admin',
  },
  {
    name: 'malformed JSON',
    method: 'POST',
    path: '/api/admin/backups',
    rawBody: '{"target": ',
    status: 400,
    code: 'VALIDATION_FAILED',
    actor: 'admin',
  },
  {
    name: 'a wrongly typed field',
    method: 'POST',
    path: '/api/admin/backups',
    body: { target: 'TARGET', tags: 'not-a-list' },
    status: 400,
    code: 'VALIDATION_FAILED',
    actor: 'admin',
  },
  {
    name: 'an unknown field',
    method: 'POST',
    path: '/api/admin/backups',
    body: { target: 'TARGET', colour: 'red' },
    status: 400,
    code: 'VALIDATION_FAILED',
    actor: 'admin',
  },
  {
    name: 'a target without a database',
    method: 'POST',
    path: '/api/admin/targets',
    body: { name: 'half', host: 'localhost', username: 'u' },
    status: 400,
    code: 'VALIDATION_FAILED',
    actor: 'admin',
  },
  {
    name: 'a target with a bad name',
    method: 'POST',
    path: '/api/admin/targets',
    body: { name: '../etc', url: 'postgres://a@b/c' },
    status: 400,
    code: 'VALIDATION_FAILED',
    actor: 'admin',
  },
  {
    name: 'a duplicate target name',
    method: 'POST',
    path: '/api/admin/targets',
    body: { name: 'TARGET', url: 'postgres://a@b/c' },
    status: 409,
    code: 'CONFLICT',
    actor: 'admin',
  },
  {
    name: 'deleting an unknown backup',
    method: 'DELETE',
    path: '/api/admin/backups/00000000-0000-4000-8000-000000000000',
    status: 404,
    code: 'NOT_FOUND',
    actor: 'admin',
  },
  {
    name: 'a method the path does not have',
    method: 'PUT',
    path: '/api/admin/backups',
    body: { target: 'TARGET' },
    status: 405,
    code: 'METHOD_NOT_ALLOWED',
    actor: 'admin',
  },
  {
    name: 'a NUL character in the query',
    method: 'POST',
    path: '/api/admin/backups?target=%04%00',
    body: { target: 'TARGET' },
    status: 400,
    code: 'VALIDATION_FAILED',
    actor: 'admin',
  },
  {
    name: 'a settings change without a body',
    method: 'PATCH',
    path: '/api/admin/backups/settings',
    status: 400,
    code: 'VALIDATION_FAILED',
    actor: 'admin',
  },
];

describe('bad requests', () => {
  for (const testCase of cases) {
    it(`answer ${testCase.status} ${testCase.code} for ${testCase.name}, create nothing and are ${testCase.actor === 'none' ? 'counted' : 'audited'}`, async () => {
      const before = await counts();
      const tracesBefore = await anonymousTraces();
      const token =
        testCase.token === 'none'
          ? null
          : testCase.token === 'wrong'
            ? 'lb_not-a-real-token'
            : testCase.token
              ? api.tokens[testCase.token]
              : api.tokens.admin;
      const body = JSON.parse(
        JSON.stringify(testCase.body ?? null)?.replaceAll('TARGET', targetName) ?? 'null',
      ) as unknown;
      const response = await api.json<{ error: { code: string; message: string } }>(
        testCase.method,
        testCase.path,
        {
          token,
          ...(testCase.rawBody !== undefined ? { rawBody: testCase.rawBody } : body !== null ? { body } : {}),
        },
      );
      expect(response.status).toBe(testCase.status);
      expect(response.body.error.code).toBe(testCase.code);
      expect(response.body.error.message.length).toBeGreaterThan(5);
      expect(await counts()).toEqual(before);
      if (testCase.actor === 'none') {
        const traces = await anonymousTraces();
        expect(traces.lines).toBe(tracesBefore.lines);
        expect(traces.failures).toBeGreaterThan(tracesBefore.failures);
        return;
      }
      const audit = await lastAudit();
      expect(audit).toMatchObject({
        status: testCase.status,
        error_code: testCase.code,
        outcome: testCase.status === 401 || testCase.status === 403 ? 'denied' : 'failed',
      });
      expect(audit?.actor).toBe(`${testCase.actor}-${worker.taskQueue.slice(-12)}`);
    });
  }

  it('answer 405 with the methods of the path, and 400 for a NUL or an empty page number', async () => {
    const backups = await api.call('DELETE', '/api/admin/backups');
    expect(backups.status).toBe(405);
    expect(backups.headers.get('allow')).toBe('GET, POST');
    // A fixed path is not mistaken for /backups/:id, whose methods differ.
    const settings = await api.call('POST', '/api/admin/backups/settings', { body: {} });
    expect(settings.status).toBe(405);
    expect(settings.headers.get('allow')).toBe('GET, PATCH, PUT');
    expect((await api.call('GET', '/api/admin/no-such-thing')).status).toBe(404);
    const nul = await api.call('GET', '/api/admin/backups/restore/status?target=%04%00');
    expect(nul.status).toBe(400);
    // An empty page number is not 0.
    expect((await api.call('GET', '/api/admin/restores?offset=&limit=1')).status).toBe(400);
    expect((await api.call('GET', '/api/admin/restores?offset=0&limit=1')).status).toBe(200);
  });

  it('never returns a stored password', async () => {
    const response = await api.call('GET', `/api/admin/targets/${targetName}`, { token: api.tokens.viewer });
    const text = await response.text();
    expect(response.status).toBe(200);
    expect(text).not.toContain(stack().pgPassword);
    expect(JSON.parse(text)).toMatchObject({ name: targetName, passwordSource: 'stored' });
  });

  it('serves the OpenAPI document without a token', async () => {
    const response = await api.json<{ paths: Record<string, unknown> }>('GET', '/api/openapi.json', {
      token: null,
    });
    expect(response.status).toBe(200);
    expect(Object.keys(response.body.paths)).toEqual(
      expect.arrayContaining([
        '/api/admin/backups',
        '/api/admin/backups/{id}',
        '/api/admin/backups/{id}/download',
        '/api/admin/targets/{id}',
      ]),
    );
  });

  it('reports health without a token, with a worker polling', async () => {
    const response = await api.json<{ status: string; checks: Record<string, { ok: boolean }> }>(
      'GET',
      '/health',
      { token: null },
    );
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      status: 'ok',
      checks: { catalog: { ok: true }, temporal: { ok: true }, worker: { ok: true } },
    });
  });
});
