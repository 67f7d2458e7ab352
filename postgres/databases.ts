// Databases a restore creates: made from template0 with a comment naming the operation, dropped only then.
import { LifeboatError } from '../domain/errors.ts';
import type { TargetConnection } from '../domain/target.ts';
import { withClient } from './client.ts';

const commentSql = `select shobj_description(oid, 'pg_database') as comment from pg_database where datname = $1`;

const quoted = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** A database `name` on the server of `connection`, marked as its creator's by the comment `marker`. */
export interface MarkedDatabase {
  connection: TargetConnection;
  password: string | undefined;
  name: string;
  marker: string;
}

/**
 * Creates the database from template0 with its marker. One that already carries the marker is this
 * caller's own from an earlier attempt; any other is CONFLICT.
 */
export function createMarkedDatabase({ connection, password, name, marker }: MarkedDatabase): Promise<void> {
  return withClient(connection, password, 'lifeboat-restore-create', async (client) => {
    const { rows } = await client.query<{ comment: string | null }>(commentSql, [name]);
    if (rows[0]) {
      if (rows[0].comment === marker) return;
      throw new LifeboatError('CONFLICT', `Database "${name}" already exists; a restore creates a new one.`);
    }
    await client.query(`create database ${quoted(name)} template template0`);
    await client.query(`comment on database ${quoted(name)} is '${marker}'`);
  });
}

/** Drops the database, ending its sessions, when it carries its marker; returns whether it did. */
export function dropMarkedDatabase({ connection, password, name, marker }: MarkedDatabase): Promise<boolean> {
  return withClient(connection, password, 'lifeboat-restore-drop', async (client) => {
    const { rows } = await client.query<{ comment: string | null }>(commentSql, [name]);
    if (rows[0]?.comment !== marker) return false;
    await client.query(`drop database if exists ${quoted(name)} with (force)`);
    return true;
  });
}
