// The worker's configured age identities (LIFEBOAT_AGE_IDENTITY_FILE): private keys for restoring
// encrypted backups when a restore request brings none.
import { readFile } from 'node:fs/promises';
import { isAgeIdentity } from '../domain/age-keys.ts';
import { LifeboatError } from '../domain/errors.ts';

/** The identities in an age identity file: one per line, `#` comments and blank lines ignored. */
export function parseIdentityFile(text: string): string[] {
  const identities = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  const bad = identities.findIndex((line) => !isAgeIdentity(line));
  if (bad >= 0) {
    throw new LifeboatError(
      'VALIDATION_FAILED',
      `Line ${bad + 1} of the identity file is not an age identity (AGE-SECRET-KEY-1…).`,
    );
  }
  return identities;
}

/** Reads the identity file, or nothing when none is configured. */
export async function readIdentityFile(file: string | undefined): Promise<string[]> {
  if (!file) return [];
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new LifeboatError(
      'DECRYPTION_FAILED',
      `The age identity file ${file} cannot be read: ${(error as NodeJS.ErrnoException).code ?? 'error'}.`,
    );
  }
  return parseIdentityFile(text);
}
