// What PostgreSQL's and pg_dump's errors become: a code that decides whether a retry can help.
import { describe, expect, it } from 'vitest';
import { classifyConnectionError } from '../../postgres/client.ts';
import { classifyDumpStderr } from '../../postgres/pg-dump.ts';
import { isPermanent } from '../../domain/errors.ts';

const connection = { host: 'db', port: 5432, database: 'shop', username: 'app' };

describe('error classification', () => {
  it.each([
    {
      failure: 'refused credentials',
      kind: 'permanent',
      code: 'AUTH_FAILED',
      connectionError: { code: '28P01', message: 'password authentication failed' },
      dumpStderr: 'pg_dump: error: FATAL:  password authentication failed for user "app"',
    },
    {
      failure: 'an unreachable server',
      kind: 'retryable',
      code: 'CONNECTION_FAILED',
      connectionError: { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' },
      dumpStderr: 'pg_dump: error: connection to server failed: Connection refused',
    },
  ])('treats $failure as $kind $code', ({ kind, code, connectionError, dumpStderr }) => {
    const error = classifyConnectionError(connectionError, connection);
    expect(error.code).toBe(code);
    expect(isPermanent(error.code)).toBe(kind === 'permanent');
    expect(classifyDumpStderr(dumpStderr).code).toBe(code);
  });

  it('reports a missing database as NOT_FOUND and a full disk as INSUFFICIENT_SPACE', () => {
    expect(classifyConnectionError({ code: '3D000', message: 'does not exist' }, connection).code).toBe(
      'NOT_FOUND',
    );
    expect(classifyDumpStderr('pg_dump: error: could not write: No space left on device').code).toBe(
      'INSUFFICIENT_SPACE',
    );
  });

  it('keeps the last lines of anything else as PG_DUMP_FAILED', () => {
    const error = classifyDumpStderr('pg_dump: error: query failed: something odd');
    expect(error.code).toBe('PG_DUMP_FAILED');
    expect(error.message).toContain('something odd');
  });
});
