// The worker's age identity file: the format `lifeboat keygen` and age-keygen write.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateIdentity } from '../../archive/encryption.ts';
import { parseIdentityFile, readIdentityFile } from '../../archive/identity-file.ts';
import { tempDir } from '../support/temp-dirs.ts';

describe('identity file', () => {
  it('reads the identities and skips comments and blank lines', async () => {
    const one = await generateIdentity();
    const two = await generateIdentity();
    const text = `# created: now\n# public key: ${one.recipient}\n${one.identity}\n\n${two.identity}\n`;
    expect(parseIdentityFile(text)).toEqual([one.identity, two.identity]);
    const file = path.join(tempDir('identity'), 'keys.txt');
    writeFileSync(file, text, { mode: 0o600 });
    expect(await readIdentityFile(file)).toEqual([one.identity, two.identity]);
    expect(await readIdentityFile(undefined)).toEqual([]);
  });

  it('refuses a line that is not an identity without echoing it, and a missing file', async () => {
    expect(() => parseIdentityFile('AGE-SECRET-KEY-1NOTREALLY\n')).toThrow(/Line 1 .*not an age identity/);
    await expect(readIdentityFile('/nonexistent/keys.txt')).rejects.toMatchObject({
      code: 'DECRYPTION_FAILED',
    });
  });
});
