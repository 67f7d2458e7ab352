// Catalog functions for the confirmation tokens a preview issues: bound to one request, expiring, used once.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type pg from 'pg';
import { LifeboatError } from '../domain/errors.ts';

/** How long a preview's confirmation token stays valid. */
export const confirmationTtlMs = 10 * 60_000;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export function bindingHash(binding: string): string {
  return sha256(binding);
}

/**
 * Stores a new token (its hash only) bound to `binding`, and returns it in clear: the only time. The
 * preview that issues it is named by `previewId`; a sealed identity waits there for the worker that
 * reads an encrypted archive, until `closePreview` wipes it.
 */
export async function issueConfirmationToken(
  db: pg.Pool,
  issue: {
    backupId: string;
    binding: string;
    createdBy: string;
    identityCiphertext: string | null;
    ttlMs?: number;
  },
): Promise<{ token: string; expiresAt: string; previewId: string }> {
  const token = `lbr_${randomBytes(32).toString('base64url')}`;
  const previewId = randomUUID();
  // Housekeeping on the way: tokens long expired go, and so does any identity a crashed preview left.
  await db.query(
    `delete from restore_tokens where expires_at < now() - interval '7 days';
     update restore_tokens set identity_ciphertext = null
      where identity_ciphertext is not null and created_at < now() - interval '2 hours'`,
  );
  const { rows } = await db.query<{ expires_at: Date }>(
    `insert into restore_tokens (token_hash, preview_id, backup_id, binding_hash, created_by, identity_ciphertext,
       expires_at)
     values ($1, $2, $3, $4, $5, $6, now() + $7 * interval '1 millisecond') returning expires_at`,
    [
      sha256(token),
      previewId,
      issue.backupId,
      bindingHash(issue.binding),
      issue.createdBy,
      issue.identityCiphertext,
      issue.ttlMs ?? confirmationTtlMs,
    ],
  );
  return { token, expiresAt: rows[0]!.expires_at.toISOString(), previewId };
}

/** The sealed identity a preview was given, while it runs. */
export async function sealedPreviewIdentity(db: pg.Pool, previewId: string): Promise<string | null> {
  const { rows } = await db.query<{ identity_ciphertext: string | null }>(
    'select identity_ciphertext from restore_tokens where preview_id = $1',
    [previewId],
  );
  return rows[0]?.identity_ciphertext ?? null;
}

/**
 * After the preview: wipes its identity and keeps the task queue of the worker that holds its extracted
 * archive; when it failed, drops its token, which was never shown.
 */
export async function closePreview(
  db: pg.Pool,
  previewId: string,
  outcome: { succeeded: true; archiveQueue: string } | { succeeded: false },
): Promise<void> {
  if (outcome.succeeded) {
    await db.query(
      'update restore_tokens set identity_ciphertext = null, archive_queue = $2 where preview_id = $1',
      [previewId, outcome.archiveQueue],
    );
  } else {
    await db.query('delete from restore_tokens where preview_id = $1', [previewId]);
  }
}

/** The preview whose token an operation consumed, with the worker that holds its extracted archive. */
export async function consumedPreview(
  db: pg.Pool,
  operationId: string,
): Promise<{ previewId: string; archiveQueue: string | null } | undefined> {
  const { rows } = await db.query<{ preview_id: string; archive_queue: string | null }>(
    'select preview_id, archive_queue from restore_tokens where operation_id = $1',
    [operationId],
  );
  return rows[0] ? { previewId: rows[0].preview_id, archiveQueue: rows[0].archive_queue } : undefined;
}

export type TokenProblem = 'unknown' | 'expired' | 'used' | 'other-backup' | 'other-options';

async function tokenProblem(
  client: pg.PoolClient,
  token: string,
  backupId: string,
): Promise<{ reason: TokenProblem; message: string }> {
  const { rows } = await client.query<{
    backup_id: string;
    binding_hash: string;
    expired: boolean;
    used_at: Date | null;
  }>(
    'select backup_id, binding_hash, expires_at <= now() as expired, used_at from restore_tokens where token_hash = $1',
    [sha256(token)],
  );
  const row = rows[0];
  if (!row)
    return { reason: 'unknown', message: 'The confirmation token is unknown; ask for a new preview.' };
  if (row.used_at) {
    return {
      reason: 'used',
      message: `The confirmation token was used at ${row.used_at.toISOString()}; each one confirms a single restore.`,
    };
  }
  if (row.expired) {
    return { reason: 'expired', message: 'The confirmation token has expired; ask for a new preview.' };
  }
  if (row.backup_id !== backupId) {
    return {
      reason: 'other-backup',
      message: `The confirmation token was issued for backup ${row.backup_id}.`,
    };
  }
  return {
    reason: 'other-options',
    message: 'The confirmation token was issued for another destination, mode or options than this request.',
  };
}

/**
 * Inside the caller's transaction: marks the token used by `operationId` if it is unused, unexpired, and
 * for this backup and exactly this binding; CONFIRMATION_INVALID, with the reason, otherwise.
 */
export async function consumeConfirmationToken(
  client: pg.PoolClient,
  use: { token: string; backupId: string; binding: string; operationId: string },
): Promise<void> {
  const consumed = await client.query(
    `update restore_tokens set used_at = now(), operation_id = $4
      where token_hash = $1 and backup_id = $2 and binding_hash = $3 and used_at is null and expires_at > now()
      returning token_hash`,
    [sha256(use.token), use.backupId, bindingHash(use.binding), use.operationId],
  );
  if (!consumed.rowCount) {
    const problem = await tokenProblem(client, use.token, use.backupId);
    throw new LifeboatError('CONFIRMATION_INVALID', problem.message, { reason: problem.reason });
  }
}
