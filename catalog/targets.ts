// Catalog functions for targets. Rows never leave this module with their password.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { LifeboatError } from '../domain/errors.ts';
import type { Compression } from '../domain/naming.ts';
import type { RetentionOverrides } from '../domain/retention.ts';
import type { PasswordSource, ResolvedTargetInput, TargetConnection } from '../domain/target.ts';
import type { SecretBox } from './secret-box.ts';

export interface Target {
  id: string;
  name: string;
  description: string | null;
  connection: TargetConnection;
  passwordSource: 'none' | 'stored' | 'env';
  passwordEnv: string | null;
  documentsDir: string | null;
  retention: RetentionOverrides | null;
  compression: Compression;
  /** Storage URLs, the first one primary; null for the default storage. */
  destinations: string[] | null;
  /** age recipients the archives are encrypted to; null for none. */
  encryptionRecipients: string[] | null;
  createdAt: string;
  updatedAt: string;
}

interface TargetRow {
  id: string;
  name: string;
  description: string | null;
  host: string;
  port: number;
  database_name: string;
  username: string;
  password_ciphertext: string | null;
  password_env: string | null;
  documents_dir: string | null;
  retention_policy: RetentionOverrides | null;
  compression: Compression;
  destinations: string[] | null;
  encryption_recipients: string[] | null;
  created_at: Date;
  updated_at: Date;
}

function toTarget(row: TargetRow): Target {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    connection: { host: row.host, port: row.port, database: row.database_name, username: row.username },
    passwordSource: row.password_ciphertext ? 'stored' : row.password_env ? 'env' : 'none',
    passwordEnv: row.password_env,
    documentsDir: row.documents_dir,
    retention: row.retention_policy,
    compression: row.compression,
    destinations: row.destinations,
    encryptionRecipients: row.encryption_recipients,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

function passwordColumns(box: SecretBox, password: PasswordSource): [string | null, string | null] {
  if (password.kind === 'inline') return [box.seal(password.password), null];
  if (password.kind === 'env') return [null, password.name];
  return [null, null];
}

function conflictOnName(error: unknown, name: string): never {
  if ((error as { code?: string }).code === '23505') {
    throw new LifeboatError('CONFLICT', `A target named "${name}" already exists.`, { field: 'name' });
  }
  throw error;
}

export async function createTarget(db: pg.Pool, box: SecretBox, input: ResolvedTargetInput): Promise<Target> {
  const [ciphertext, env] = passwordColumns(box, input.password);
  const { host, port, database, username } = input.connection;
  try {
    const { rows } = await db.query<TargetRow>(
      `insert into targets (id, name, description, host, port, database_name, username, password_ciphertext, password_env,
         documents_dir, retention_policy, compression, destinations, encryption_recipients)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) returning *`,
      [
        randomUUID(),
        input.name,
        input.description,
        host,
        port,
        database,
        username,
        ciphertext,
        env,
        input.documentsDir,
        input.retention === null ? null : JSON.stringify(input.retention),
        input.compression,
        input.destinations,
        input.encryptionRecipients,
      ],
    );
    return toTarget(rows[0]!);
  } catch (error) {
    return conflictOnName(error, input.name);
  }
}

/**
 * Replaces a target's row. With `keepPassword` the stored password (or its variable) stays, but only while
 * host, port and user stay too: for another server or user it is dropped, never sent there.
 */
export async function updateTarget(
  db: pg.Pool,
  box: SecretBox,
  id: string,
  input: ResolvedTargetInput,
  keepPassword: boolean,
): Promise<Target> {
  const [ciphertext, env] = passwordColumns(box, input.password);
  const { host, port, database, username } = input.connection;
  try {
    const { rows } = await db.query<TargetRow>(
      `update targets set name = $2, description = $3, host = $4, port = $5, database_name = $6, username = $7,
         password_ciphertext = case when $11 and host = $4 and port = $5 and username = $7 then password_ciphertext else $8 end,
         password_env = case when $11 and host = $4 and port = $5 and username = $7 then password_env else $9 end,
         documents_dir = $10, retention_policy = $12, compression = $13, destinations = $14,
         encryption_recipients = $15, updated_at = now()
       where id = $1 returning *`,
      [
        id,
        input.name,
        input.description,
        host,
        port,
        database,
        username,
        ciphertext,
        env,
        input.documentsDir,
        keepPassword,
        input.retention === null ? null : JSON.stringify(input.retention),
        input.compression,
        input.destinations,
        input.encryptionRecipients,
      ],
    );
    if (!rows[0]) throw new LifeboatError('NOT_FOUND', `No target with id ${id}.`);
    return toTarget(rows[0]);
  } catch (error) {
    return conflictOnName(error, input.name);
  }
}

export async function listTargets(db: pg.Pool): Promise<Target[]> {
  const { rows } = await db.query<TargetRow>('select * from targets order by name');
  return rows.map(toTarget);
}

/** By uuid or by name, whichever the caller has. */
export async function findTarget(db: pg.Pool, idOrName: string): Promise<Target | undefined> {
  const isUuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(idOrName);
  const { rows } = await db.query<TargetRow>(
    `select * from targets where ${isUuid ? 'id = $1' : 'name = $1'}`,
    [idOrName],
  );
  return rows[0] ? toTarget(rows[0]) : undefined;
}

export async function getTarget(db: pg.Pool, idOrName: string): Promise<Target> {
  const target = await findTarget(db, idOrName);
  if (!target) throw new LifeboatError('NOT_FOUND', `No target "${idOrName}".`, { field: 'target' });
  return target;
}

/** The stored or referenced password, for the worker's child processes only. */
export async function targetPassword(
  db: pg.Pool,
  box: SecretBox,
  id: string,
  readEnv: (name: string) => string | undefined,
): Promise<string | undefined> {
  const { rows } = await db.query<Pick<TargetRow, 'password_ciphertext' | 'password_env'>>(
    'select password_ciphertext, password_env from targets where id = $1',
    [id],
  );
  const row = rows[0];
  if (!row) throw new LifeboatError('NOT_FOUND', `No target with id ${id}.`);
  if (row.password_ciphertext) return box.open(row.password_ciphertext);
  if (row.password_env) {
    const value = readEnv(row.password_env);
    if (value === undefined) {
      throw new LifeboatError(
        'AUTH_FAILED',
        `The target's password is referenced as environment variable ${row.password_env}, which is not set on this worker.`,
      );
    }
    return value;
  }
  return undefined;
}

export async function deleteTarget(db: pg.Pool, id: string): Promise<void> {
  try {
    const { rowCount } = await db.query('delete from targets where id = $1', [id]);
    if (!rowCount) throw new LifeboatError('NOT_FOUND', `No target with id ${id}.`);
  } catch (error) {
    if ((error as { code?: string }).code === '23503') {
      throw new LifeboatError('CONFLICT', 'The target still has backups; delete them first.');
    }
    throw error;
  }
}
