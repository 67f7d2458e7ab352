// Opens the catalog database and brings its schema up to date; used by every process at start.
import pg from 'pg';
import { migrateCatalog } from '../catalog/migrate.ts';

export async function openCatalog(url: string): Promise<pg.Pool> {
  const pool = new pg.Pool({ connectionString: url, max: 10, application_name: 'lifeboat' });
  pool.on('error', (error) => console.error(`lifeboat: catalog connection error: ${error.message}`));
  try {
    await migrateCatalog(pool);
  } catch (error) {
    await pool.end();
    throw new Error(`cannot open the catalog database: ${(error as Error).message}`, { cause: error });
  }
  return pool;
}
