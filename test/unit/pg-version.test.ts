// Choosing a pg_dump for a server: same major when installed, else newer, never older.
import { describe, expect, it } from 'vitest';
import { LifeboatError } from '../../domain/errors.ts';
import { chooseClient, parseClientVersion, serverMajor } from '../../domain/pg-version.ts';

const client = (major: number) => ({
  binDir: `/usr/lib/postgresql/${major}/bin`,
  major,
  version: `${major}.3`,
});

describe('parseClientVersion', () => {
  it('reads Debian and plain version lines', () => {
    expect(parseClientVersion('pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)')).toEqual({
      major: 15,
      version: '15.18',
    });
    expect(parseClientVersion('pg_dump (PostgreSQL) 18beta1')).toEqual({ major: 18, version: '18' });
    expect(parseClientVersion('something else')).toBeUndefined();
  });
});

describe('serverMajor', () => {
  it('reads modern and 9.x version numbers', () => {
    expect(serverMajor(150018)).toBe(15);
    expect(serverMajor(170002)).toBe(17);
    expect(serverMajor(90624)).toBe(9);
  });
});

describe('chooseClient', () => {
  it('prefers the same major as the server', () => {
    expect(chooseClient([client(13), client(15), client(17)], 150004).major).toBe(15);
  });

  it('takes the newest newer client when the same major is missing', () => {
    expect(chooseClient([client(13), client(16), client(17)], 150004).major).toBe(17);
  });

  it('refuses with PG_VERSION_MISMATCH and says what to install when every client is older', () => {
    const attempt = () => chooseClient([client(13), client(15)], 170001);
    expect(attempt).toThrow(LifeboatError);
    try {
      attempt();
    } catch (error) {
      expect(error).toMatchObject({ code: 'PG_VERSION_MISMATCH' });
      expect((error as Error).message).toContain('postgresql-client-17');
      expect((error as Error).message).toContain('pg_dump 15.3');
    }
  });

  it('refuses when there is no client at all', () => {
    expect(() => chooseClient([], 150000)).toThrow(/found no pg_dump at all/);
  });
});
