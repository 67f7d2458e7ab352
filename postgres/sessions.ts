// Ending server sessions: those a killed attempt left behind, and on request every other client's.
import type pg from 'pg';
import type { TargetConnection } from '../domain/target.ts';
import { withClient } from './client.ts';

/**
 * Ends, through `client`, the sessions on its database named `applicationName` (a killed client's backend
 * can sit in a lock queue until the lock frees, and everything queued behind it waits too), and with
 * `everyone` every other client session but Lifeboat's own. Returns how many it ended.
 */
export async function terminateSessions(
  client: pg.Client,
  applicationName: string,
  everyone = false,
): Promise<number> {
  const { rowCount } = await client.query(
    `select pg_terminate_backend(pid) from pg_stat_activity
      where datname = current_database() and pid <> pg_backend_pid() and backend_type = 'client backend'
        and (application_name = $1 or ($2 and application_name not like 'lifeboat-%'))`,
    [applicationName, everyone],
  );
  return rowCount ?? 0;
}

/** The sessions of a pg_dump that is gone, ended. Best effort: an unreachable server ends them itself. */
export async function endSessions(
  connection: TargetConnection,
  password: string | undefined,
  applicationName: string,
): Promise<void> {
  await withClient(connection, password, 'lifeboat-cleanup', (client) =>
    terminateSessions(client, applicationName),
  ).catch(() => undefined);
}

/**
 * Ends sessions on the destination database: those of an earlier attempt of this restore (a killed
 * worker's psql may linger in a lock queue), and with `everyone` all other client sessions but Lifeboat's.
 */
export function endDestinationSessions(
  connection: TargetConnection,
  password: string | undefined,
  applicationName: string,
  everyone: boolean,
): Promise<number> {
  return withClient(connection, password, 'lifeboat-restore-cleanup', (client) =>
    terminateSessions(client, applicationName, everyone),
  );
}
