// The first admin token of a catalog that never had one: written to a 0600 file, never to the log.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { anyTokenEverCreated, createToken, deleteToken } from '../catalog/tokens.ts';

/**
 * Creates an admin token and writes it to `file` when the catalog has never held a token. A catalog whose
 * tokens were all revoked gets none: revoking every token locks the API until someone with catalog access
 * runs `lifeboat token create`. A token whose file cannot be written is removed again.
 */
export async function ensureBootstrapToken(
  db: pg.Pool,
  file: string,
  now: Date = new Date(),
): Promise<{ created: boolean }> {
  if (await anyTokenEverCreated(db)) return { created: false };
  const admin = await createToken(db, `admin-${now.toISOString().slice(0, 10)}`, 'admin');
  try {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(file, `${admin.token}\n`, { mode: 0o600 });
    // The mode above applies only to a new file; an old one keeps its own until told.
    chmodSync(file, 0o600);
  } catch (error) {
    await deleteToken(db, admin.id);
    throw error;
  }
  return { created: true };
}
