// Target passwords at rest: sealed with the key, opened only with the same key.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSecretBox } from '../../catalog/secret-box.ts';

describe('secret box', () => {
  const key = randomBytes(32).toString('hex');

  it('round-trips a password without keeping it readable', () => {
    const box = createSecretBox(key);
    const sealed = box.seal('correct horse');
    expect(sealed).not.toContain('correct horse');
    expect(box.seal('correct horse')).not.toBe(sealed);
    expect(box.open(sealed)).toBe('correct horse');
  });

  it('refuses to open with another key', () => {
    const sealed = createSecretBox(key).seal('pw');
    expect(() => createSecretBox(randomBytes(32).toString('hex')).open(sealed)).toThrow(
      /not the key it was stored with/,
    );
  });

  it('refuses to seal without a key, naming the variable to set', () => {
    expect(() => createSecretBox(undefined).seal('pw')).toThrow(/LIFEBOAT_SECRET_KEY/);
  });
});
