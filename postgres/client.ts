// Connections to a target's PostgreSQL: their settings, one connect/classify/end for every caller, and the
// Lifeboat code of a connection error.
import pg from 'pg';
import { LifeboatError } from '../domain/errors.ts';
import type { TargetConnection } from '../domain/target.ts';

/** Maps a libpq / node-postgres connection error to a Lifeboat code a person can act on. */
export function classifyConnectionError(error: unknown, connection: TargetConnection): LifeboatError {
  const err = error as { code?: string; message?: string };
  const where = `${connection.username}@${connection.host}:${connection.port}/${connection.database}`;
  switch (err.code) {
    case '28P01':
    case '28000':
      return new LifeboatError(
        'AUTH_FAILED',
        `PostgreSQL refused the credentials for ${where}: ${err.message}`,
      );
    case '3D000':
      return new LifeboatError(
        'NOT_FOUND',
        `Database "${connection.database}" does not exist on ${connection.host}:${connection.port}.`,
      );
    case '42501':
      return new LifeboatError(
        'AUTH_FAILED',
        `Role ${connection.username} lacks a privilege the backup needs: ${err.message}`,
      );
    default:
      return new LifeboatError(
        'CONNECTION_FAILED',
        `Cannot reach PostgreSQL at ${where}: ${err.message ?? String(error)}`,
      );
  }
}

export function connectionConfig(
  connection: TargetConnection,
  password: string | undefined,
  applicationName: string,
) {
  return {
    host: connection.host,
    port: connection.port,
    database: connection.database,
    user: connection.username,
    password,
    application_name: applicationName,
    connectionTimeoutMillis: 10_000,
  };
}

/** The environment that points libpq at the destination; the password never reaches an argument list. */
export function libpqEnv(
  connection: TargetConnection,
  password: string | undefined,
  applicationName: string,
) {
  return {
    PGHOST: connection.host,
    PGPORT: String(connection.port),
    PGUSER: connection.username,
    PGDATABASE: connection.database,
    PGPASSWORD: password ?? '',
    PGAPPNAME: applicationName,
    PGCONNECT_TIMEOUT: '15',
    PGCLIENTENCODING: 'UTF8',
  };
}

/**
 * Runs `work` with a connection to `connection` as `applicationName`, and ends the connection whatever
 * happens. A failure to connect becomes a Lifeboat code; so does any failure of `work` with
 * `classify: 'all'` (inspections, whose queries fail for the same reasons a connection does).
 */
export async function withClient<T>(
  connection: TargetConnection,
  password: string | undefined,
  applicationName: string,
  work: (client: pg.Client) => Promise<T>,
  classify: 'connect' | 'all' = 'connect',
): Promise<T> {
  const client = new pg.Client(connectionConfig(connection, password, applicationName));
  try {
    await client.connect();
  } catch (error) {
    throw classifyConnectionError(error, connection);
  }
  try {
    return await work(client);
  } catch (error) {
    throw classify === 'all' ? classifyConnectionError(error, connection) : error;
  } finally {
    await client.end().catch(() => undefined);
  }
}
