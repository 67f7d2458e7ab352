// Target input: parts or a URL, explicit fields win, and the password's source is unambiguous.
import { describe, expect, it } from 'vitest';
import { parseConnectionUrl, resolveTargetInput } from '../../domain/target.ts';

describe('resolveTargetInput', () => {
  it('takes the connection from a URL, password included', () => {
    const result = resolveTargetInput({
      name: 'app',
      url: 'postgres://app%40corp:p%3Ass@db.internal:6432/shop',
    });
    expect(result).toEqual({
      ok: true,
      value: {
        name: 'app',
        description: null,
        connection: { host: 'db.internal', port: 6432, database: 'shop', username: 'app@corp' },
        password: { kind: 'inline', password: 'p:ss' },
        documentsDir: null,
        retention: null,
        compression: 'zstd',
        destinations: null,
        encryptionRecipients: null,
      },
    });
  });

  it('lets explicit fields override the URL and defaults the port', () => {
    const result = resolveTargetInput({
      name: 'app',
      url: 'postgresql://u@h/db',
      host: 'other',
      passwordEnv: 'APP_DB_PASSWORD',
    });
    expect(result.ok && result.value.connection).toEqual({
      host: 'other',
      port: 5432,
      database: 'db',
      username: 'u',
    });
    expect(result.ok && result.value.password).toEqual({ kind: 'env', name: 'APP_DB_PASSWORD' });
  });

  it('names the missing field', () => {
    expect(resolveTargetInput({ name: 'app', host: 'h', username: 'u' })).toMatchObject({
      ok: false,
      field: 'database',
    });
  });

  it('refuses a password and passwordEnv together', () => {
    expect(resolveTargetInput({ name: 'app', url: 'postgres://u:pw@h/db', passwordEnv: 'X' })).toMatchObject({
      ok: false,
      field: 'passwordEnv',
    });
  });

  it('refuses a URL of another scheme', () => {
    expect(resolveTargetInput({ name: 'app', url: 'postgresx://u@h/db' })).toMatchObject({
      ok: false,
      field: 'url',
    });
    expect(parseConnectionUrl('mysql://u@h/db')).toBeUndefined();
  });
});
