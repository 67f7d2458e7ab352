// domain/restore/ and postgres/restore-sql-stream.ts: options and their binding, names, pg_restore's table of
// contents and what mode tables takes from it, the SQL stream filter and row counter, verification, warnings
// and the estimate.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  confirmationBinding,
  destinationLockKey,
  parseTableName,
  qualifiedName,
  resolveRestoreOptions,
  tableKey,
  type RestoreDestination,
} from '../../domain/restore/options.ts';
import {
  estimateRestoreDurationMs,
  restoreWarnings,
  type PreviewFacts,
} from '../../domain/restore/preview.ts';
import { restorePercent } from '../../domain/restore/progress.ts';
import { checkRestoredSql, clearTablesSql } from '../../domain/restore/sql.ts';
import {
  parseTocHeaders,
  selectTables,
  splitTocList,
  tocOwners,
  tocTables,
} from '../../domain/restore/toc.ts';
import { compareRestoredTables } from '../../domain/restore/verify.ts';
import { parseCopyTarget, RestoreSqlStream } from '../../postgres/restore-sql-stream.ts';

describe('table names', () => {
  it('reads schema.table, a bare name in public, and double-quoted parts', () => {
    expect(parseTableName('sales.orders')).toEqual({ schema: 'sales', name: 'orders' });
    expect(parseTableName('orders')).toEqual({ schema: 'public', name: 'orders' });
    expect(parseTableName('"My Schema"."a.b ""c"""')).toEqual({ schema: 'My Schema', name: 'a.b "c"' });
    for (const bad of ['', 'a.b.c', 'a.', '.b', '"open', 'a b'])
      expect(parseTableName(bad), bad).toBeUndefined();
  });

  it('quotes only what needs quoting, so that names round-trip', () => {
    expect(qualifiedName({ schema: 'sales', name: 'orders' })).toBe('sales.orders');
    expect(qualifiedName({ schema: 'Sales', name: 'order' })).toBe('"Sales"."order"');
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 20 }),
        fc.string({ minLength: 1, maxLength: 20 }),
        (schema, name) => {
          fc.pre(!schema.includes('\0') && !name.includes('\0'));
          expect(parseTableName(qualifiedName({ schema, name }))).toEqual({ schema, name });
        },
      ),
    );
  });
});

describe('restore options', () => {
  const facts = { backupHasDocuments: true, destinationDocumentsDir: '/srv/docs' };

  it('restores documents by default in mode full only, and refuses them where there are none', () => {
    expect(resolveRestoreOptions({ mode: 'full' }, facts)).toMatchObject({
      ok: true,
      value: { documents: true },
    });
    expect(resolveRestoreOptions({ mode: 'data-only' }, facts)).toMatchObject({
      ok: true,
      value: { documents: false },
    });
    expect(
      resolveRestoreOptions({ mode: 'full' }, { ...facts, destinationDocumentsDir: null }),
    ).toMatchObject({
      ok: true,
      value: { documents: false },
    });
    expect(
      resolveRestoreOptions({ mode: 'full', documents: true }, { ...facts, backupHasDocuments: false }),
    ).toMatchObject({ ok: false, field: 'documents', message: 'the backup holds no documents' });
  });

  it('needs tables for mode tables, only there, and sorts them without duplicates', () => {
    expect(resolveRestoreOptions({ mode: 'tables' }, facts)).toMatchObject({ ok: false, field: 'tables' });
    expect(resolveRestoreOptions({ mode: 'full', tables: ['a'] }, facts)).toMatchObject({
      ok: false,
      field: 'tables',
    });
    expect(resolveRestoreOptions({ mode: 'tables', tables: ['x.y.z'] }, facts)).toMatchObject({ ok: false });
    const resolved = resolveRestoreOptions(
      { mode: 'tables', tables: ['sales.orders', 'audit.events', 'sales.orders'] },
      facts,
    );
    expect(resolved).toMatchObject({
      ok: true,
      value: {
        tables: [
          { schema: 'audit', name: 'events' },
          { schema: 'sales', name: 'orders' },
        ],
        documents: false,
        noOwner: false,
        terminateConnections: false,
      },
    });
  });

  it('binds a confirmation to the backup, the destination with its server and documents, the mode and every option', () => {
    const destination: RestoreDestination = {
      kind: 'target',
      targetId: 't1',
      targetName: 'shop',
      database: 'shop',
    };
    const options = {
      mode: 'full' as const,
      tables: [],
      documents: true,
      noOwner: false,
      terminateConnections: false,
    };
    const where = { host: 'db.example', port: 5432, documentsDir: '/srv/shop/files' };
    const binding = confirmationBinding('b1', destination, options, where);
    expect(confirmationBinding('b1', { ...destination }, { ...options }, { ...where })).toBe(binding);
    expect(confirmationBinding('b1', destination, options, { ...where, host: 'DB.example' })).toBe(binding);
    const variants = [
      confirmationBinding('b2', destination, options, where),
      confirmationBinding('b1', { ...destination, targetId: 't2' }, options, where),
      confirmationBinding('b1', { ...destination, database: 'shop2' }, options, where),
      confirmationBinding('b1', { ...destination, kind: 'new-database', database: 'copy' }, options, where),
      confirmationBinding('b1', destination, { ...options, mode: 'data-only' }, where),
      confirmationBinding('b1', destination, { ...options, documents: false }, where),
      confirmationBinding('b1', destination, { ...options, noOwner: true }, where),
      confirmationBinding('b1', destination, { ...options, terminateConnections: true }, where),
      confirmationBinding(
        'b1',
        destination,
        { ...options, mode: 'tables', tables: [{ schema: 'a', name: 'b' }] },
        where,
      ),
      // The target was edited after the preview: another server, port or documents directory.
      confirmationBinding('b1', destination, options, { ...where, host: 'other.example' }),
      confirmationBinding('b1', destination, options, { ...where, port: 5433 }),
      confirmationBinding('b1', destination, options, { ...where, documentsDir: '/etc' }),
      confirmationBinding('b1', destination, options, { ...where, documentsDir: null }),
    ];
    expect(new Set([binding, ...variants]).size).toBe(variants.length + 1);
  });

  it('locks a database by server and name', () => {
    expect(destinationLockKey({ host: 'DB.example', port: 5432 }, 'shop')).toBe('db.example:5432/shop');
  });
});

describe('progress', () => {
  it('moves forward through the steps and stays within each step', () => {
    expect(restorePercent('validate', 0)).toBe(0);
    expect(restorePercent('restore-database', 0)).toBe(30);
    expect(restorePercent('restore-database', 0.5)).toBe(55);
    expect(restorePercent('restore-database', 7)).toBe(80);
    expect(restorePercent('verify', Number.NaN)).toBe(88);
    expect(restorePercent('done', 0)).toBe(100);
  });
});

// What pg_restore prints for a dump with two tables, a serial, an index, constraints and a foreign key.
const headers = `
--
-- TOC entry 6 (class 2615 OID 16385)
-- Name: sales; Type: SCHEMA; Schema: -; Owner: lifeboat
--
-- TOC entry 219 (class 1259 OID 16403)
-- Dependencies: 6
-- Name: customers; Type: TABLE; Schema: sales; Owner: lifeboat
--
-- TOC entry 218 (class 1259 OID 16402)
-- Dependencies: 6 219
-- Name: customers_id_seq; Type: SEQUENCE; Schema: sales; Owner: lifeboat
--
-- TOC entry 3408 (class 0 OID 0)
-- Dependencies: 218
-- Name: customers_id_seq; Type: SEQUENCE OWNED BY; Schema: sales; Owner: lifeboat
--
-- TOC entry 221 (class 1259 OID 16415)
-- Dependencies: 6
-- Name: orders; Type: TABLE; Schema: sales; Owner: app
--
-- TOC entry 217 (class 1259 OID 16401)
-- Dependencies: 6
-- Name: invoice_number; Type: SEQUENCE; Schema: sales; Owner: lifeboat
--
-- TOC entry 3230 (class 2604 OID 16406)
-- Dependencies: 218 219 219
-- Name: customers id; Type: DEFAULT; Schema: sales; Owner: lifeboat
--
-- TOC entry 3411 (class 0 OID 0)
-- Dependencies: 218
-- Name: customers_id_seq; Type: SEQUENCE SET; Schema: sales; Owner: lifeboat
--
-- TOC entry 3412 (class 0 OID 0)
-- Dependencies: 217
-- Name: invoice_number; Type: SEQUENCE SET; Schema: sales; Owner: lifeboat
--
-- TOC entry 3239 (class 2606 OID 16411)
-- Dependencies: 219
-- Name: customers customers_pkey; Type: CONSTRAINT; Schema: sales; Owner: lifeboat
--
-- TOC entry 3240 (class 1259 OID 16430)
-- Dependencies: 221
-- Name: orders_customer; Type: INDEX; Schema: sales; Owner: app
--
-- TOC entry 3247 (class 2606 OID 16425)
-- Dependencies: 3239 221 219
-- Name: orders orders_customer_id_fkey; Type: FK CONSTRAINT; Schema: sales; Owner: app
--
-- TOC entry 3250 (class 0 OID 0)
-- Dependencies: 219
-- Name: TABLE customers; Type: COMMENT; Schema: sales; Owner: lifeboat
`;

const list = `;
; Archive created at 2026-11-22 23:07:24 UTC
;
3393; 0 16403 TABLE DATA sales customers lifeboat
3395; 0 16415 TABLE DATA sales orders app
3400; 0 0 BLOBS - BLOBS 
219; 1259 16403 TABLE sales customers lifeboat
3411; 0 0 SEQUENCE SET sales customers_id_seq lifeboat
`;

describe("pg_restore's table of contents", () => {
  const entries = parseTocHeaders(headers);
  const { headerList, dataEntries } = splitTocList(list);

  it('reads every entry with its dependencies, and sets the bulk data aside from the header pass', () => {
    expect(entries).toHaveLength(13);
    expect(entries.find((e) => e.id === 3247)).toEqual({
      id: 3247,
      oid: 16425,
      desc: 'FK CONSTRAINT',
      schema: 'sales',
      name: 'orders orders_customer_id_fkey',
      owner: 'app',
      deps: [3239, 221, 219],
    });
    expect(entries[0]).toMatchObject({ desc: 'SCHEMA', schema: null, deps: [] });
    expect(dataEntries).toEqual([
      { id: 3393, oid: 16403, desc: 'TABLE DATA' },
      { id: 3395, oid: 16415, desc: 'TABLE DATA' },
      { id: 3400, oid: 0, desc: 'BLOBS' },
    ]);
    expect(headerList).toBe(
      '219; 1259 16403 TABLE sales customers lifeboat\n3411; 0 0 SEQUENCE SET sales customers_id_seq lifeboat\n',
    );
    expect(tocOwners(entries)).toEqual(['app', 'lifeboat']);
    expect(tocTables(entries, dataEntries)).toEqual([
      { id: 219, schema: 'sales', name: 'customers', hasData: true },
      { id: 221, schema: 'sales', name: 'orders', hasData: true },
    ]);
  });

  it('takes, for a table the destination has, its rows and its own sequences positions', () => {
    const existing = new Set([
      tableKey({ schema: 'sales', name: 'customers' }),
      tableKey({ schema: 'sales', name: 'orders' }),
    ]);
    const selection = selectTables(entries, dataEntries, [{ schema: 'sales', name: 'customers' }], existing);
    expect(selection).toEqual({
      ids: [3411, 3393],
      created: [],
      replaced: [{ schema: 'sales', name: 'customers' }],
      sequences: [{ schema: 'sales', name: 'customers_id_seq' }],
      unknown: [],
    });
  });

  it('takes, for a table the destination lacks, its definition and what hangs on it', () => {
    const existing = new Set([tableKey({ schema: 'sales', name: 'orders' })]);
    const selection = selectTables(
      entries,
      dataEntries,
      [
        { schema: 'sales', name: 'customers' },
        { schema: 'sales', name: 'nope' },
      ],
      existing,
    );
    // Table, owned sequence and its ownership, default, primary key, comment, the foreign key of the
    // existing orders table that points at it, rows and sequence position; never the shared sequence.
    expect(selection.ids).toEqual([219, 218, 3408, 3230, 3411, 3239, 3247, 3250, 3393]);
    expect(selection.created).toEqual([{ schema: 'sales', name: 'customers' }]);
    expect(selection.unknown).toEqual([{ schema: 'sales', name: 'nope' }]);

    const alone = selectTables(entries, dataEntries, [{ schema: 'sales', name: 'customers' }], new Set());
    expect(alone.ids).not.toContain(3247);
  });
});

describe('the SQL stream from pg_restore to psql', () => {
  const script = [
    'BEGIN;',
    'SET lock_timeout = 0;',
    'CREATE PROCEDURE p() LANGUAGE plpgsql AS $$',
    'BEGIN',
    'COMMIT;',
    'END $$;',
    'COPY sales.customers (id, name) FROM stdin;',
    '1\tCOMMIT;',
    'COMMIT;',
    '2\tb\\nc',
    '\\.',
    'COPY "My Schema"."t ""x""" (a) FROM stdin;',
    '\\.',
    'COPY public.t  FROM stdin;',
    '',
    '\\.',
    '',
    'COMMIT;',
    '',
    '--',
    '-- PostgreSQL database dump complete',
    '--',
    '',
    '\\unrestrict abc',
    '',
  ].join('\n');
  const expectedOut = script.replace('\nCOMMIT;\n\n--', '\n\n--');

  function run(chunks: Buffer[]) {
    const stream = new RestoreSqlStream();
    const out: Buffer[] = [];
    for (const chunk of chunks) out.push(...stream.push(chunk));
    const end = stream.finish();
    out.push(...end.trailer);
    return { text: Buffer.concat(out).toString(), closed: end.closed, counts: stream.result() };
  }

  it('counts the rows of every COPY and holds back only the closing COMMIT', () => {
    const result = run([Buffer.from(script)]);
    expect(result.closed).toBe(true);
    expect(result.text).toBe(expectedOut);
    expect(result.counts).toEqual([
      { schema: 'My Schema', name: 't "x"', rows: 0 },
      { schema: 'public', name: 't', rows: 1 },
      { schema: 'sales', name: 'customers', rows: 3 },
    ]);
  });

  it('gives the same output and counts however the bytes are chunked', () => {
    const bytes = Buffer.from(script);
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 12 }),
        (cuts) => {
          const points = [0, ...cuts.sort((a, b) => a - b), bytes.length];
          const chunks = points.slice(1).map((end, i) => bytes.subarray(points[i], end));
          const result = run(chunks);
          expect(result.text).toBe(expectedOut);
          expect(result.counts.map((t) => t.rows)).toEqual([0, 1, 3]);
        },
      ),
    );
  });

  it('reports a script cut short: no closing COMMIT, or inside a COPY', () => {
    expect(run([Buffer.from('BEGIN;\nCREATE TABLE t (a int);\n')]).closed).toBe(false);
    expect(run([Buffer.from('COPY public.t (a) FROM stdin;\n1\nCOMMIT;\n')]).closed).toBe(false);
  });

  it('reads COPY targets, quoted or not, and ignores other lines', () => {
    expect(parseCopyTarget('COPY sales.orders (id, note) FROM stdin;')).toEqual({
      schema: 'sales',
      name: 'orders',
    });
    expect(parseCopyTarget('COPY "a.b"."c d" (x) FROM stdin;')).toEqual({ schema: 'a.b', name: 'c d' });
    expect(parseCopyTarget('COPY orders FROM stdin;')).toBeUndefined();
    expect(parseCopyTarget('SELECT 1;')).toBeUndefined();
  });
});

describe('the SQL around the restore', () => {
  it('checks every table and its exact rows before COMMIT', () => {
    const sql = checkRestoredSql([
      { schema: 'sales', name: 'orders', rows: 3000 },
      { schema: 'My', name: 'empty', rows: null },
    ]);
    expect(sql).toContain(`pg_catalog.to_regclass('"sales"."orders"') IS NULL`);
    expect(sql).toContain('SELECT pg_catalog.count(*) INTO n FROM ONLY "sales"."orders";');
    expect(sql).toContain('IF n <> 3000 THEN');
    expect(sql).toContain(`pg_catalog.to_regclass('"My"."empty"') IS NULL`);
    expect(sql.match(/count\(\*\)/g)).toHaveLength(1);
    expect(checkRestoredSql([])).toBe('');
  });

  it('empties the replaced tables, TRUNCATE or DELETE decided inside the transaction', () => {
    const sql = clearTablesSql([{ schema: 'sales', name: "o'rders" }], true);
    expect(sql).toContain(`ARRAY['"sales"."o''rders"']`);
    expect(sql).toContain('DELETE FROM ONLY %s');
    expect(sql).toContain('TRUNCATE ONLY');
    expect(sql).toContain('lo_unlink');
    expect(clearTablesSql([], false)).not.toContain('lo_unlink');
  });
});

describe('verification', () => {
  it('passes when every table exists with exactly the rows the archive carried', () => {
    const report = compareRestoredTables(
      [{ schema: 'sales', name: 'orders', rows: 3 }],
      [{ schema: 'sales', name: 'orders', exists: true, rows: 3 }],
      [{ schema: 'sales', name: 'orders', rowEstimate: 2 }],
    );
    expect(report).toEqual({
      ok: true,
      problems: [],
      tables: [
        { schema: 'sales', name: 'orders', expectedRows: 3, actualRows: 3, manifestRowEstimate: 2, ok: true },
      ],
    });
  });

  it('fails on a missing table and on a row count off by one', () => {
    const report = compareRestoredTables(
      [
        { schema: 'sales', name: 'orders', rows: 3 },
        { schema: 'sales', name: 'gone', rows: 0 },
        { schema: 'sales', name: 'schema_only', rows: null },
      ],
      [
        { schema: 'sales', name: 'orders', exists: true, rows: 4 },
        { schema: 'sales', name: 'schema_only', exists: true, rows: 12 },
      ],
    );
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([
      'sales.orders holds 4 rows; the archive carries 3',
      'sales.gone is missing',
    ]);
  });
});

describe('the preview', () => {
  const facts: PreviewFacts = {
    mode: 'full',
    destinationKind: 'target',
    destinationExists: true,
    backupServerVersionNum: 150018,
    backupServerVersion: '15.18',
    destinationServerVersionNum: 160004,
    destinationServerVersion: '16.4',
    dumpTables: [{ schema: 'sales', name: 'orders' }],
    destinationTables: [
      { schema: 'sales', name: 'orders' },
      { schema: 'public', name: 'later' },
      { schema: 'scratch', name: 't' },
    ],
    destinationSchemas: ['public', 'sales', 'scratch'],
    dumpSchemas: ['sales'],
    activeConnections: 2,
    superuser: true,
    missingRoles: ['app'],
    noOwner: false,
    documents: true,
    backupHasDocuments: true,
    destinationDocumentFiles: 10,
    backupDocumentFiles: 7,
  };

  it('warns about what is dropped or replaced and what may fail', () => {
    const warnings = restoreWarnings(facts);
    expect(warnings.map((w) => w.code)).toEqual([
      'objects-dropped',
      'tables-replaced',
      'server-version-differs',
      'active-connections',
      'missing-roles',
      'documents-replaced',
    ]);
    expect(warnings[0]?.objects).toEqual(['schema scratch', 'public.later', 'scratch.t']);
    expect(warnings[1]?.objects).toEqual(['sales.orders']);
    expect(warnings[5]?.message).toContain('(10 files now)');
  });

  it('says less when there is less to say', () => {
    const quiet = restoreWarnings({
      ...facts,
      destinationServerVersionNum: 150018,
      activeConnections: 0,
      noOwner: true,
      documents: false,
      backupHasDocuments: false,
      destinationTables: [{ schema: 'sales', name: 'orders' }],
      destinationSchemas: ['public', 'sales'],
    });
    expect(quiet.map((w) => w.code)).toEqual(['tables-replaced']);
    const dataOnly = restoreWarnings({
      ...facts,
      mode: 'data-only',
      dumpTables: [{ schema: 'x', name: 'y' }],
    });
    expect(dataOnly.find((w) => w.code === 'tables-missing')?.objects).toEqual(['x.y']);
    expect(dataOnly.map((w) => w.code)).not.toContain('needs-superuser');
    const unprivileged = restoreWarnings({ ...facts, mode: 'tables', superuser: false });
    expect(unprivileged.map((w) => w.code)).toContain('needs-superuser');
    expect(restoreWarnings({ ...facts, superuser: false }).map((w) => w.code)).not.toContain(
      'needs-superuser',
    );
  });

  it('estimates longer for more to fetch, restore and protect', () => {
    const base = {
      archiveBytes: 1e6,
      dumpBytes: 5e6,
      documentsBytes: 0,
      safetyBackupBytes: 0,
      mode: 'full' as const,
    };
    const estimate = estimateRestoreDurationMs(base);
    expect(estimate).toBeGreaterThan(5_000);
    expect(estimateRestoreDurationMs({ ...base, dumpBytes: 5e9 })).toBeGreaterThan(estimate + 60_000);
    expect(estimateRestoreDurationMs({ ...base, safetyBackupBytes: 8e9 })).toBeGreaterThan(estimate + 60_000);
    expect(estimateRestoreDurationMs({ ...base, mode: 'schema-only', dumpBytes: 5e9 })).toBeLessThan(
      estimate,
    );
  });
});
