// Whether the catalog database answers.
import type pg from 'pg';

export async function pingCatalog(db: pg.Pool): Promise<void> {
  await db.query('select 1');
}
