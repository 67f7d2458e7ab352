// Encrypts target passwords at rest with AES-256-GCM under LIFEBOAT_SECRET_KEY.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { LifeboatError } from '../domain/errors.ts';

const version = 'v1';

export interface SecretBox {
  seal(plaintext: string): string;
  open(sealed: string): string;
}

/** A box for a 64-hex-digit key; without a key, sealing refuses with a message saying what to set. */
export function createSecretBox(hexKey: string | undefined): SecretBox {
  const key = hexKey ? Buffer.from(hexKey, 'hex') : undefined;
  const requireKey = (): Buffer => {
    if (key?.length === 32) return key;
    throw new LifeboatError(
      'VALIDATION_FAILED',
      'Storing a password needs LIFEBOAT_SECRET_KEY (64 hex digits, e.g. from `openssl rand -hex 32`); ' +
        'or reference the password by environment-variable name with passwordEnv.',
    );
  };
  return {
    seal(plaintext) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', requireKey(), iv);
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return [
        version,
        iv.toString('base64'),
        cipher.getAuthTag().toString('base64'),
        body.toString('base64'),
      ].join(':');
    },
    open(sealed) {
      const [tag, iv, authTag, body] = sealed.split(':');
      if (tag !== version || !iv || !authTag || body === undefined) {
        throw new LifeboatError('VALIDATION_FAILED', 'A stored password is in an unknown format.');
      }
      try {
        const decipher = createDecipheriv('aes-256-gcm', requireKey(), Buffer.from(iv, 'base64'));
        decipher.setAuthTag(Buffer.from(authTag, 'base64'));
        return Buffer.concat([decipher.update(Buffer.from(body, 'base64')), decipher.final()]).toString(
          'utf8',
        );
      } catch (error) {
        if (error instanceof LifeboatError) throw error;
        throw new LifeboatError(
          'VALIDATION_FAILED',
          'A stored password cannot be decrypted: LIFEBOAT_SECRET_KEY is not the key it was stored with.',
        );
      }
    },
  };
}
