// The objects of a database as a drill's schema check compares them with the dump's table of contents:
// kind as pg_restore names it, schema (null for schemas and extensions), and name as the dump tags it.
export const schemaObjectsSql = `
  select kind, schema, name from (
    select case c.relkind when 'r' then 'TABLE' when 'p' then 'TABLE' when 'v' then 'VIEW'
                          when 'm' then 'MATERIALIZED VIEW' when 'S' then 'SEQUENCE' else 'INDEX' end as kind,
           n.nspname as schema, c.relname as name
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where c.relkind in ('r', 'p', 'v', 'm', 'S', 'i', 'I')
    union all
    select case when con.contype = 'f' then 'FK CONSTRAINT' else 'CONSTRAINT' end, n.nspname,
           coalesce(cl.relname, ty.typname) || ' ' || con.conname
      from pg_constraint con join pg_namespace n on n.oid = con.connamespace
      left join pg_class cl on cl.oid = con.conrelid left join pg_type ty on ty.oid = con.contypid
    union all
    select case p.prokind when 'p' then 'PROCEDURE' else 'FUNCTION' end, n.nspname,
           p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')'
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace where p.prokind in ('f', 'p')
    union all
    select 'EXTENSION', null, extname from pg_extension
    union all
    select 'SCHEMA', null, nspname from pg_namespace
  ) objects`;
