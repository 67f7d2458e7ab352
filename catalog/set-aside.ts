// Catalog functions for the databases restores by swap set aside: recorded at the swap, ended by the sweep.
import type pg from 'pg';

export interface SetAsideDatabase {
  operationId: string;
  targetId: string;
  databaseName: string;
  asideName: string;
  asideOid: string;
  setAsideAt: string;
  keepUntil: string;
  endedAt: string | null;
  outcome: SetAsideOutcome | null;
}

export type SetAsideOutcome = 'dropped' | 'gone' | 'renamed' | 'swapped_back';

interface Row {
  operation_id: string;
  target_id: string;
  database_name: string;
  aside_name: string;
  aside_oid: string;
  set_aside_at: Date;
  keep_until: Date;
  ended_at: Date | null;
  outcome: SetAsideOutcome | null;
}

function fromRow(row: Row): SetAsideDatabase {
  return {
    operationId: row.operation_id,
    targetId: row.target_id,
    databaseName: row.database_name,
    asideName: row.aside_name,
    asideOid: String(row.aside_oid),
    setAsideAt: row.set_aside_at.toISOString(),
    keepUntil: row.keep_until.toISOString(),
    endedAt: row.ended_at?.toISOString() ?? null,
    outcome: row.outcome,
  };
}

const columns = `operation_id, target_id, database_name, aside_name, aside_oid::text as aside_oid, set_aside_at,
  keep_until, ended_at, outcome`;

/** Records the database a swap set aside; a retried swap records it once. */
export async function recordSetAside(
  db: pg.Pool,
  entry: Pick<SetAsideDatabase, 'operationId' | 'targetId' | 'databaseName' | 'asideName' | 'asideOid'> & {
    keepHours: number;
  },
): Promise<SetAsideDatabase> {
  const { rows } = await db.query<Row>(
    `insert into restore_set_aside (operation_id, target_id, database_name, aside_name, aside_oid, keep_until)
     values ($1, $2, $3, $4, $5::bigint, now() + make_interval(hours => $6::int))
     on conflict (operation_id) do update set operation_id = excluded.operation_id
     returning ${columns}`,
    [entry.operationId, entry.targetId, entry.databaseName, entry.asideName, entry.asideOid, entry.keepHours],
  );
  return fromRow(rows[0]!);
}

export async function findSetAside(db: pg.Pool, operationId: string): Promise<SetAsideDatabase | undefined> {
  const { rows } = await db.query<Row>(`select ${columns} from restore_set_aside where operation_id = $1`, [
    operationId,
  ]);
  return rows[0] ? fromRow(rows[0]) : undefined;
}

/** The set-aside databases whose time has come (or all still kept, with `now` far ahead), oldest first. */
export async function dueSetAside(db: pg.Pool, now: Date, limit = 100): Promise<SetAsideDatabase[]> {
  const { rows } = await db.query<Row>(
    `select ${columns} from restore_set_aside where ended_at is null and keep_until <= $1
      order by keep_until limit $2`,
    [now, limit],
  );
  return rows.map(fromRow);
}

export async function endSetAside(db: pg.Pool, operationId: string, outcome: SetAsideOutcome): Promise<void> {
  await db.query(
    'update restore_set_aside set ended_at = now(), outcome = $2 where operation_id = $1 and ended_at is null',
    [operationId, outcome],
  );
}
