// The SQL Lifeboat runs around pg_restore's output, inside its transaction: wipe, clear tables, check rows.
import { sqlTableName, type TableName } from './options.ts';
import type { ExpectedTable } from './verify.ts';

/**
 * `DO` with `body` dollar-quoted under a tag that does not occur in it: a table named `a$lifeboat$b`
 * ends no block early.
 */
function doBlock(body: string): string {
  let tag = '$lifeboat$';
  for (let n = 1; `${body}${tag}`.indexOf(tag) !== body.length; n++) tag = `$lifeboat${n}$`;
  return `DO ${tag}\n${body}${tag};\n`;
}

/**
 * Empties a database so that restoring a dump into it gives exactly the dumped state, as if into a
 * fresh one: event triggers, publications, extensions (but plpgsql), every schema but `public` and
 * the system ones, every object in `public` (the schema itself stays: its OID carries its initial
 * privileges), and every large object. Runs inside the restore's transaction.
 */
export function wipeDatabaseSql(): string {
  return doBlock(`DECLARE
  r record;
BEGIN
  FOR r IN SELECT evtname FROM pg_catalog.pg_event_trigger LOOP
    EXECUTE pg_catalog.format('DROP EVENT TRIGGER IF EXISTS %I CASCADE', r.evtname);
  END LOOP;
  FOR r IN SELECT pubname FROM pg_catalog.pg_publication LOOP
    EXECUTE pg_catalog.format('DROP PUBLICATION IF EXISTS %I', r.pubname);
  END LOOP;
  FOR r IN SELECT extname FROM pg_catalog.pg_extension WHERE extname <> 'plpgsql' LOOP
    EXECUTE pg_catalog.format('DROP EXTENSION IF EXISTS %I CASCADE', r.extname);
  END LOOP;
  FOR r IN SELECT nspname FROM pg_catalog.pg_namespace
            WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'public', 'pg_toast')
              AND nspname NOT LIKE 'pg\\_temp\\_%' AND nspname NOT LIKE 'pg\\_toast\\_temp\\_%' LOOP
    EXECUTE pg_catalog.format('DROP SCHEMA IF EXISTS %I CASCADE', r.nspname);
  END LOOP;
  FOR r IN
    SELECT o.type, o.identity, d.classid, d.objid
      FROM pg_catalog.pg_depend d, LATERAL pg_catalog.pg_identify_object(d.classid, d.objid, 0) o
     WHERE d.refclassid = 'pg_catalog.pg_namespace'::pg_catalog.regclass
       AND d.refobjid = 'public'::pg_catalog.regnamespace AND d.deptype = 'n'
     ORDER BY d.classid, d.objid
  LOOP
    -- An earlier CASCADE may have taken it already.
    CONTINUE WHEN NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend x WHERE x.classid = r.classid AND x.objid = r.objid);
    EXECUTE pg_catalog.format('DROP %s IF EXISTS %s CASCADE',
      CASE
        WHEN r.type = 'type' AND (SELECT t.typtype FROM pg_catalog.pg_type t WHERE t.oid = r.objid) = 'd' THEN 'DOMAIN'
        WHEN r.type = 'composite type' THEN 'TYPE'
        ELSE pg_catalog.upper(r.type)
      END, r.identity);
  END LOOP;
  PERFORM pg_catalog.lo_unlink(l.oid) FROM pg_catalog.pg_largeobject_metadata l;
END
`);
}

function sqlLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/**
 * Removes the rows of `tables` (those that exist) before their data is loaded again: TRUNCATE, except
 * for tables that a table outside the set references by foreign key, which TRUNCATE refuses; those are
 * emptied with DELETE (foreign-key triggers are off under session_replication_role = replica).
 */
export function clearTablesSql(tables: readonly TableName[], largeObjects: boolean): string {
  const names = tables.map((t) => sqlLiteral(sqlTableName(t))).join(', ');
  return doBlock(`DECLARE
  selected pg_catalog.regclass[] := ARRAY(
    SELECT pg_catalog.to_regclass(n) FROM pg_catalog.unnest(ARRAY[${names}]::text[]) n
     WHERE pg_catalog.to_regclass(n) IS NOT NULL);
  plain text[] := '{}';
  t pg_catalog.regclass;
BEGIN
  FOREACH t IN ARRAY selected LOOP
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c
                WHERE c.contype = 'f' AND c.confrelid = t AND NOT (c.conrelid = ANY (selected))) THEN
      EXECUTE pg_catalog.format('DELETE FROM ONLY %s', t);
    ELSE
      plain := plain || t::text;
    END IF;
  END LOOP;
  IF pg_catalog.cardinality(plain) > 0 THEN
    EXECUTE 'TRUNCATE ONLY ' || pg_catalog.array_to_string(plain, ', ');
  END IF;${largeObjects ? '\n  PERFORM pg_catalog.lo_unlink(l.oid) FROM pg_catalog.pg_largeobject_metadata l;' : ''}
END
`);
}

/**
 * Checks, inside the restore's transaction and before COMMIT, that every expected table exists and holds
 * exactly the rows the dump carried; any difference raises an error and PostgreSQL rolls it all back.
 */
export function checkRestoredSql(expected: readonly ExpectedTable[]): string {
  if (!expected.length) return '';
  const checks = expected.map((table) => {
    const name = sqlTableName(table);
    const missing = `  IF pg_catalog.to_regclass(${sqlLiteral(name)}) IS NULL THEN
    RAISE EXCEPTION 'lifeboat verify: table % is missing after the restore', ${sqlLiteral(name)};
  END IF;`;
    if (table.rows === null) return missing;
    return `${missing}
  SELECT pg_catalog.count(*) INTO n FROM ONLY ${name};
  IF n <> ${table.rows} THEN
    RAISE EXCEPTION 'lifeboat verify: table % holds % rows after the restore; the archive carries ${table.rows}', ${sqlLiteral(name)}, n;
  END IF;`;
  });
  return doBlock(`DECLARE
  n bigint;
BEGIN
${checks.join('\n')}
END
`);
}
