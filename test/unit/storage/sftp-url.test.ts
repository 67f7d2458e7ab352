// What an sftp:// storage URL means, what it refuses, and how ssh2's failures map to error codes.
import { describe, expect, it } from 'vitest';
import { createSftpStorage } from '../../../storage/sftp/backend.ts';
import { toStorageError } from '../../../storage/sftp/session.ts';
import { parseSftpUrl } from '../../../storage/sftp/url.ts';
import { isPermanent, LifeboatError, type ErrorCode } from '../../../domain/errors.ts';

const fingerprint = 'SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s';
const noEnv = (): undefined => undefined;

function parse(url: string, env: Record<string, string> = {}) {
  return parseSftpUrl(new URL(url), (name) => env[name]);
}

function refusal(url: string, env: Record<string, string> = {}): LifeboatError {
  try {
    parse(url, env);
  } catch (error) {
    if (error instanceof LifeboatError) return error;
    throw error;
  }
  throw new Error(`${url} was accepted`);
}

describe('parseSftpUrl', () => {
  it('reads user, host, port, root directory, host key and key file', () => {
    expect(
      parse(
        `sftp://backup@files.example.com:2222/srv/backups/?hostKey=${fingerprint}&privateKeyFile=/keys/id`,
      ),
    ).toEqual({
      host: 'files.example.com',
      port: 2222,
      username: 'backup',
      rootDir: '/srv/backups',
      hostKeyFingerprint: fingerprint,
      privateKeyFile: '/keys/id',
    });
  });

  it('uses port 22 when the URL names none', () => {
    expect(parse(`sftp://backup@files/srv?hostKey=${fingerprint}&privateKeyFile=/k`).port).toBe(22);
  });

  it('keeps + and / in a fingerprint written as is, and reads a percent-encoded one the same', () => {
    const literal = 'SHA256:ab+cd/efghijklmnopqrstuvwxyzABCDEFGHIJKLMNO';
    expect(parse(`sftp://u@h/r?hostKey=${literal}&privateKeyFile=/k`).hostKeyFingerprint).toBe(literal);
    expect(
      parse(`sftp://u@h/r?hostKey=${encodeURIComponent(literal)}&privateKeyFile=/k`).hostKeyFingerprint,
    ).toBe(literal);
  });

  it('accepts a fingerprint with its base64 padding and compares it without', () => {
    expect(parse(`sftp://u@h/r?hostKey=${fingerprint}=&privateKeyFile=/k`).hostKeyFingerprint).toBe(
      fingerprint,
    );
  });

  it('reads the key passphrase and the password from the variables the URL names', () => {
    expect(
      parse(
        `sftp://u@h/r?hostKey=${fingerprint}&privateKeyFile=/k&privateKeyPassphraseEnv=PASS&passwordEnv=PW`,
        { PASS: 'key passphrase', PW: 'password' },
      ),
    ).toMatchObject({ privateKeyPassphrase: 'key passphrase', password: 'password' });
  });

  it('accepts a password alone', () => {
    expect(parse(`sftp://u@h/r?hostKey=${fingerprint}&passwordEnv=PW`, { PW: 'pw' })).toMatchObject({
      password: 'pw',
    });
    expect(parse(`sftp://u@h/r?hostKey=${fingerprint}&passwordEnv=PW`, { PW: 'pw' })).not.toHaveProperty(
      'privateKeyFile',
    );
  });

  it('refuses a password in the URL, pointing to passwordEnv and without repeating it', () => {
    const error = refusal(`sftp://u:hunter2@h/r?hostKey=${fingerprint}&privateKeyFile=/k`);
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.message).toContain('passwordEnv');
    expect(error.message).not.toContain('hunter2');
  });

  it('refuses an unknown query parameter, naming it', () => {
    const error = refusal(`sftp://u@h/r?hostKey=${fingerprint}&privateKeyFile=/k&hostkey=x`);
    expect(error).toMatchObject({
      code: 'VALIDATION_FAILED',
      message: expect.stringContaining('"hostkey"') as unknown,
    });
  });

  it('refuses a parameter given twice', () => {
    expect(refusal(`sftp://u@h/r?hostKey=${fingerprint}&privateKeyFile=/k&privateKeyFile=/other`).code).toBe(
      'VALIDATION_FAILED',
    );
  });

  it('requires the host key fingerprint, in the SHA256: format', () => {
    expect(refusal('sftp://u@h/r?privateKeyFile=/k').message).toContain('hostKey=SHA256:');
    expect(refusal('sftp://u@h/r?hostKey=MD5:aa:bb&privateKeyFile=/k').code).toBe('VALIDATION_FAILED');
    expect(refusal('sftp://u@h/r?hostKey=SHA256:short&privateKeyFile=/k').code).toBe('VALIDATION_FAILED');
  });

  it('requires a private key file or a password', () => {
    expect(refusal(`sftp://u@h/r?hostKey=${fingerprint}`).message).toMatch(/privateKeyFile.*passwordEnv/);
  });

  it('names a missing environment variable and never a value', () => {
    const error = refusal(
      `sftp://u@h/r?hostKey=${fingerprint}&privateKeyFile=/k&privateKeyPassphraseEnv=KEY_PASS`,
    );
    expect(error).toMatchObject({
      code: 'VALIDATION_FAILED',
      message: expect.stringContaining('KEY_PASS') as unknown,
    });
    const password = refusal(
      `sftp://u@h/r?hostKey=${fingerprint}&privateKeyFile=/k&privateKeyPassphraseEnv=SET&passwordEnv=UNSET`,
      { SET: 'the passphrase' },
    );
    expect(password.message).toContain('UNSET');
    expect(password.message).not.toContain('the passphrase');
  });

  it('refuses a passphrase without a key file, and a relative key file', () => {
    expect(
      refusal(`sftp://u@h/r?hostKey=${fingerprint}&passwordEnv=PW&privateKeyPassphraseEnv=PASS`, {
        PW: 'pw',
        PASS: 'p',
      }).code,
    ).toBe('VALIDATION_FAILED');
    expect(refusal(`sftp://u@h/r?hostKey=${fingerprint}&privateKeyFile=keys/id`).message).toContain(
      'absolute',
    );
  });

  it('requires a user and a root directory', () => {
    expect(refusal(`sftp://h/r?hostKey=${fingerprint}&privateKeyFile=/k`).message).toContain('no user');
    expect(refusal(`sftp://u@h?hostKey=${fingerprint}&privateKeyFile=/k`).message).toContain('absolute root');
  });

  it('decodes a percent-encoded user and root directory, and unwraps an IPv6 host', () => {
    expect(
      parse(`sftp://back%40up@[::1]:2200/srv/my%20backups?hostKey=${fingerprint}&privateKeyFile=/k`),
    ).toMatchObject({ username: 'back@up', host: '::1', port: 2200, rootDir: '/srv/my backups' });
  });
});

describe('createSftpStorage', () => {
  it('keeps the URL as given and connects only when first used', () => {
    const url = `sftp://u@127.0.0.1:1/srv?hostKey=${fingerprint}&privateKeyFile=/nonexistent`;
    expect(createSftpStorage(new URL(url), noEnv).url).toBe(url);
  });

  it('refuses an invalid URL at once', () => {
    expect(() => createSftpStorage(new URL('sftp://u@h/r'), noEnv)).toThrow(LifeboatError);
  });
});

describe('toStorageError', () => {
  const server = 'sftp://backup@files:22/srv';
  const withProperties = (message: string, properties: Record<string, unknown>): Error =>
    Object.assign(new Error(message), properties);

  /** ssh2's failures by the code they should map to. */
  const failures: Partial<Record<ErrorCode, Record<string, Error>>> = {
    AUTH_FAILED: {
      'refused credentials': withProperties('All configured authentication methods failed', {
        level: 'client-authentication',
      }),
      'a host key the verifier refused': new Error('Host denied (verification failed)'),
      'a key that cannot be decrypted': new Error(
        'Cannot parse privateKey: OpenSSH key integrity check failed -- bad passphrase?',
      ),
    },
    STORAGE_UNAVAILABLE: {
      'a refused connection': withProperties('connect ECONNREFUSED 127.0.0.1:22', { code: 'ECONNREFUSED' }),
      'a reset connection': withProperties('read ECONNRESET', { code: 'ECONNRESET' }),
      'a timed-out connection': withProperties('connect ETIMEDOUT', { code: 'ETIMEDOUT' }),
      'a handshake that never finished': withProperties('Timed out while waiting for handshake', {
        level: 'client-timeout',
      }),
      'a connection lost mid-request': new Error('No response from server'),
      'a refused write': withProperties('Permission denied', { code: 3 }),
    },
    NOT_FOUND: { 'a missing file': withProperties('No such file', { code: 2 }) },
  };
  const cases = Object.entries(failures).flatMap(([code, byFailure]) =>
    Object.entries(byFailure).map(([failure, error]) => ({ failure, error, code })),
  );

  it.each(cases)('maps $failure to $code, naming the server', ({ error, code }) => {
    const mapped = toStorageError(error, server, 'write t/archive.tar');
    expect(mapped).toBeInstanceOf(LifeboatError);
    expect(mapped.code).toBe(code);
    expect(mapped.message).toContain(server);
  });

  it('makes authentication failures permanent and lost connections retryable', () => {
    const auth = toStorageError(new Error('All configured authentication methods failed'), server, 'connect');
    const lost = toStorageError(withProperties('read ECONNRESET', { code: 'ECONNRESET' }), server, 'connect');
    expect(isPermanent(auth.code)).toBe(true);
    expect(isPermanent(lost.code)).toBe(false);
  });

  it('names the operation in the message', () => {
    expect(toStorageError(new Error('Failure'), server, 'write t/archive.tar').message).toContain(
      'write t/archive.tar',
    );
  });

  it('passes a LifeboatError through unchanged', () => {
    const original = new LifeboatError('CHECKSUM_MISMATCH', 'bad bytes');
    expect(toStorageError(original, server, 'write t/archive.tar')).toBe(original);
  });
});
