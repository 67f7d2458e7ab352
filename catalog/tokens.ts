// API bearer tokens: created with a role and an owner, stored as sha256 hashes, shown in clear only once.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type pg from 'pg';
import { LifeboatError } from '../domain/errors.ts';

export const roles = ['admin', 'operator', 'viewer'] as const;
export type Role = (typeof roles)[number];

export interface TokenIdentity {
  id: string;
  name: string;
  role: Role;
  /** Who holds the token: two tokens of one owner are one person (a restore cannot approve itself). */
  owner: string;
}

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/** Creates a token and returns it in clear: the only time it can be seen. The owner defaults to its name. */
export async function createToken(
  db: pg.Pool,
  name: string,
  role: Role,
  owner: string = name,
): Promise<TokenIdentity & { token: string }> {
  const token = `lb_${randomBytes(32).toString('base64url')}`;
  const id = randomUUID();
  try {
    await db.query('insert into api_tokens (id, name, role, owner, token_hash) values ($1, $2, $3, $4, $5)', [
      id,
      name,
      role,
      owner,
      hashToken(token),
    ]);
  } catch (error) {
    if ((error as { code?: string }).code === '23505') {
      throw new LifeboatError('CONFLICT', `A token named "${name}" already exists.`, { field: 'name' });
    }
    throw error;
  }
  return { id, name, role, owner, token };
}

export async function authenticateToken(db: pg.Pool, token: string): Promise<TokenIdentity | undefined> {
  const { rows } = await db.query<TokenIdentity>(
    `update api_tokens set last_used_at = now() where token_hash = $1 and revoked_at is null
     returning id, name, role, owner`,
    [hashToken(token)],
  );
  return rows[0];
}

/**
 * Whether any token was ever created, revoked ones included: a catalog whose tokens were all revoked
 * stays locked rather than minting a new admin token at the next start.
 */
export async function anyTokenEverCreated(db: pg.Pool): Promise<boolean> {
  const { rows } = await db.query('select 1 from api_tokens limit 1');
  return rows.length > 0;
}

export async function listTokens(
  db: pg.Pool,
): Promise<(TokenIdentity & { createdAt: string; lastUsedAt: string | null; revoked: boolean })[]> {
  const { rows } = await db.query<{
    id: string;
    name: string;
    role: Role;
    owner: string;
    created_at: Date;
    last_used_at: Date | null;
    revoked_at: Date | null;
  }>(
    'select id, name, role, owner, created_at, last_used_at, revoked_at from api_tokens order by created_at',
  );
  return rows.map((row) => ({
    id: row.id,
    name: row.name,
    role: row.role,
    owner: row.owner,
    createdAt: row.created_at.toISOString(),
    lastUsedAt: row.last_used_at?.toISOString() ?? null,
    revoked: row.revoked_at !== null,
  }));
}

/** Removes a token that never left this process (its file could not be written). */
export async function deleteToken(db: pg.Pool, id: string): Promise<void> {
  await db.query('delete from api_tokens where id = $1', [id]);
}

export async function revokeToken(db: pg.Pool, name: string): Promise<void> {
  const { rowCount } = await db.query(
    'update api_tokens set revoked_at = now() where name = $1 and revoked_at is null',
    [name],
  );
  if (!rowCount) throw new LifeboatError('NOT_FOUND', `No active token named "${name}".`);
}
