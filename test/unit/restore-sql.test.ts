// The SQL text Lifeboat builds around a restore holds any name: keywords, quotes and dollar tags included.
import { describe, expect, it } from 'vitest';
import { qualifiedName, sqlTableName } from '../../domain/restore/options.ts';
import { checkRestoredSql, clearTablesSql, wipeDatabaseSql } from '../../domain/restore/sql.ts';

/** The dollar-quoted body of a `DO $tag$ … $tag$;` block, as PostgreSQL's lexer would cut it. */
function doBody(sql: string): { tag: string; body: string; rest: string } {
  const tag = /^DO (\$[A-Za-z0-9_]*\$)\n/.exec(sql)![1]!;
  const start = sql.indexOf('\n') + 1;
  const end = sql.indexOf(tag, start);
  return { tag, body: sql.slice(start, end), rest: sql.slice(end + tag.length) };
}

describe('DO blocks', () => {
  it('end where they should even when a table is named a$lifeboat$b', () => {
    const tables = [{ schema: 'public', name: 'a$lifeboat$b' }];
    for (const sql of [
      clearTablesSql(tables, false),
      checkRestoredSql(tables.map((t) => ({ ...t, rows: 1 }))),
    ]) {
      const { tag, body, rest } = doBody(sql);
      expect(tag).not.toBe('$lifeboat$');
      expect(body).toContain('a$lifeboat$b');
      expect(body.trimEnd().endsWith('END')).toBe(true);
      expect(rest).toBe(';\n');
    }
  });

  it('keep the plain tag when nothing inside could end it', () => {
    expect(doBody(wipeDatabaseSql()).tag).toBe('$lifeboat$');
    expect(doBody(clearTablesSql([{ schema: 'sales', name: 'orders' }], false)).rest).toBe(';\n');
  });
});

describe('identifiers in SQL text', () => {
  it('are always quoted, so a schema named join or a table named user works', () => {
    expect(sqlTableName({ schema: 'join', name: 'user' })).toBe('"join"."user"');
    expect(sqlTableName({ schema: 'a"b', name: 'c' })).toBe('"a""b"."c"');
    const sql = checkRestoredSql([{ schema: 'join', name: 'orders', rows: 3 }]);
    expect(sql).toContain('FROM ONLY "join"."orders";');
    expect(clearTablesSql([{ schema: 'join', name: 'orders' }], false)).toContain(`'"join"."orders"'`);
  });

  it('are printed quoted when PostgreSQL would quote them', () => {
    expect(qualifiedName({ schema: 'join', name: 'left' })).toBe('"join"."left"');
    expect(qualifiedName({ schema: 'sales', name: 'orders' })).toBe('sales.orders');
  });
});
