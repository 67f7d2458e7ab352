// The RESULTS tables from a benchmark's JSON: `node bench/render.ts bench/out/NAME.json` prints each table
// after its marker (`<!-- table: NAME -->`, as in the RESULTS files), to paste over the table there.
import { readFileSync } from 'node:fs';
import type { GeneratedDatabase } from './lib/data.ts';
import type { MachineFacts } from './lib/results.ts';
import type { ContenderSummary, Ratio } from './lib/rounds.ts';

type Context = Record<string, unknown>;
type Measured = Record<string, number>;
interface Results {
  bench: string;
  command: string;
  machine: MachineFacts;
  parameters: Record<string, unknown>;
  database: GeneratedDatabase;
  rounds: { order: string[]; results: Record<string, Measured> }[];
  summary: Record<string, ContenderSummary>;
  ratios: Record<string, Ratio> & Record<'endToEnd' | 'restoreStep', Record<string, Ratio>>;
  sizes: Results[];
  [more: string]: unknown;
}

const [n, x] = [Number, (value: unknown) => `${Number(value).toFixed(3)}×`];
const list = (ratio: unknown) => (ratio as Ratio).perRound.map(x).join(', ');
/** How `{name path…}` in a cell shows the values at those paths of the row (a number stands for itself). */
const formats: Record<string, (...values: unknown[]) => string> = {
  t: String,
  s: (ms) => `${(n(ms) / 1000).toFixed(2)} s`,
  mb: (bytes) => `${(n(bytes) / 1e6).toFixed(1)} MB`,
  mib: (bytes, digits = 0) => (n(bytes) / 2 ** 20).toFixed(n(digits)),
  fixed: (value, digits) => n(value).toFixed(n(digits)),
  x,
  div: (a, b, digits = 3) => (n(a) / n(b)).toFixed(n(digits)),
  pct: (part, whole) => `${((100 * n(part)) / n(whole)).toFixed(1)} %`,
  rate: (bytes, ms) => `${(n(bytes) / 1e6 / (n(ms) / 1000)).toFixed(1)} MB/s`,
  list,
  /** ` (each round's ratio, …)`, or nothing for the baseline. */
  rounds: (ratio) => ((ratio as Ratio).perRound.length ? ` (${list(ratio)})` : ''),
};

/** A cell: each `{name path…}` formatted from the row; — when a path leads nowhere (a contender not run). */
function fill(template: string, row: Context): string {
  const step = (value: unknown, key: string) => (value as Context)?.[key];
  const at = (path: string) => (/^\d+$/.test(path) ? n(path) : path.split('.').reduce<unknown>(step, row));
  let missing = false;
  const text = template.replace(/\{(\w+)([^}]*)\}/g, (_, name: string, paths: string) => {
    const values = paths.split(' ').filter(Boolean).map(at);
    missing ||= values.some((value) => value == null);
    return formats[name]!(...values);
  });
  return missing ? '—' : text;
}

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map((cell) => cell.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/**
 * A table from `spec`, a line `header = cell` per column and a row per context; or, given `columns`
 * (`corner = header`), a line `label = cell` per row and a column per context.
 */
function render(spec: string, contexts: Context[], columns?: string): string {
  const split = (line: string) => /^\s*(.*?)\s*=\s+(.*)$/.exec(line)!.slice(1) as [string, string];
  const lines = spec.trim().split('\n').map(split);
  const cells = (row: Context) => lines.map(([, cell]) => fill(cell, row));
  const headers = lines.map(([header]) => fill(header, contexts[0] ?? {}));
  if (!columns) return table(headers, contexts.map(cells));
  const [corner, header] = split(columns);
  const rows = lines.map(([label, cell]) => [label, ...contexts.map((row) => fill(cell, row))]);
  return table([corner, ...contexts.map((row) => fill(header, row))], rows);
}

const labels: Record<string, string> = {
  raw: 'raw pg_restore -d',
  'raw-pipe': 'raw pg_restore -f - | psql',
  'run-restore': "Lifeboat's runRestore alone",
  'lifeboat-new': 'Lifeboat, into a new database',
  'lifeboat-target': 'Lifeboat, into an existing target',
  'local-zstd': 'local disk, zstd (baseline)',
  's3-zstd': 'S3, zstd',
  's3-zstd-age': 'S3, zstd + age',
  'local-gzip': 'local disk, gzip',
  'local-zstd-age': 'local disk, zstd + age',
};
const label = (id: string) => labels[id] ?? id;

/** A row per contender: `m` its medians, `min` and `max`, `ratio` to the baseline, and the run's `r`. */
const contenders = (r: Results, ratios: Record<string, Ratio> = r.ratios) =>
  Object.entries(r.summary).map(([id, { median: m, min, max }]) => {
    return { id, label: label(id), m, min, max, ratio: ratios?.[id], r };
  });
/** A row per round: `round`, `order` and what each contender measured, by its id. */
const rounds = (r: Results) =>
  r.rounds.map(({ order, results }, index) => ({
    ...results,
    round: index + 1,
    order: order.map(label).join(' → '),
  }));
/** A row per measurement: `round`, `position`, the contender, `m` what it measured, `base` the baseline's. */
const measurements = (r: Results, baseline: string) =>
  r.rounds.flatMap(({ order, results }, index) =>
    order.map((id, position) => {
      const [m, base] = [results[id], results[baseline]];
      return { id, label: label(id), round: index + 1, position: position + 1, m, base };
    }),
  );
/** The formats the manifests gave, each once. */
function usedFormats(r: Results): string {
  const all = r.rounds.flatMap(({ results }) => Object.values(results).map((m) => m.formats));
  return [...new Set(all.filter(Boolean))].join('; ');
}

function database({ name, sizeBytes, reused, generateMs }: GeneratedDatabase): string {
  const how = reused ? 'reused from an earlier run' : 'generated in {s ms}';
  return fill(`\`${name}\`: {mb size} (${how})`, { size: sizeBytes, ms: generateMs });
}

const data = (db: GeneratedDatabase) =>
  render(
    `table = app.{t name}
     rows = {t rows}
     size with TOAST and indexes = {mb bytes}
     content = {t content}`,
    db.tables,
  );

function run(r: Results, extra: Record<string, string> = {}): string {
  const m = r.machine;
  const facts = {
    ...{ command: `\`${r.command}\``, date: m.date },
    machine: `${m.cpu}; ${m.kernel}; Node ${m.node}; memory ${m.memory}`,
    ...(m.postgres ? { PostgreSQL: `${m.postgres}; ${m.pgDump}` } : {}),
    'Lifeboat code measured': m.code + (m.codeAtEnd ? `, at the end ${m.codeAtEnd} (**changed**)` : ''),
    ...Object.fromEntries(Object.entries(r.parameters).map(([name, value]) => [name, String(value)])),
    ...(r.database ? { database: database(r.database) } : {}),
    ...extra,
  };
  return table(['run', ''], Object.entries(facts));
}

function backup(r: Results): Record<string, string> {
  const sizes = r.sizes.map((z) => {
    const [raw, gzip, lb] = [z.summary.raw!.median, z.summary.gzip!.median, z.summary.lifeboat!.median];
    const [extra, tasks] = [lb.ms! - raw.ms!, lb.restMs! - lb.queueMs! - lb.bookkeepingMs!];
    const target = z.database.name.replace(/\D/g, '');
    const derived = { extra, tasks, dumpExtra: lb.dumpMs! - raw.ms!, formats: usedFormats(z), target };
    return { ...z, ...derived, db: z.database.sizeBytes, raw, gzip, lb, max: z.summary.lifeboat!.max };
  });
  const runs = r.sizes.flatMap((z) =>
    z.rounds.map(({ order, results }, index) => ({ ...results, db: z.database.sizeBytes, index, order })),
  );
  return {
    run: run(r, { databases: r.sizes.map((z) => database(z.database)).join('; ') }),
    main: render(
      `database (pg_database_size) = {mb db}
       pg_dump -Fc -f: time = {s raw.ms}
       pg_dump -Fc -f: file size = {mb raw.fileBytes} ({pct raw.fileBytes db})
       pg_dump -Fc -f: throughput = {rate db raw.ms}
       pg_dump | gzip: time = {s gzip.ms} ({div gzip.ms raw.ms}× raw)
       pg_dump | gzip: file size = {mb gzip.fileBytes} ({pct gzip.fileBytes db})
       pg_dump | gzip: throughput = {rate db gzip.ms}
       Lifeboat backup: time = {s lb.ms}
       Lifeboat backup: formats (from the manifest) = {t formats}
       Lifeboat backup: pg_dump file in the archive = {mb lb.dumpBytes}
       Lifeboat backup: archive size = {mb lb.archiveBytes} ({pct lb.archiveBytes db})
       Lifeboat backup: throughput = {rate db lb.ms}
       **Lifeboat / raw pg_dump -Fc** (medians) = **{x ratios.lifeboat.ofMedians}**
       Lifeboat / raw, each run = {list ratios.lifeboat}
       catalog dump_ms = {s lb.dumpMs}
       catalog archive_ms = {s lb.archiveMs}
       catalog upload_ms = {s lb.uploadMs}
       rest of the workflow (time − steps) = {s lb.restMs}
       worker RSS before the backups = {mb workerBaselineRssBytes}
       **worker peak RSS** (VmHWM, max of runs) = **{mb max.peakRssBytes}**
       worker peak RSS, 100 ms VmRSS polling = {mb max.polledPeakRssBytes}
       polled peak RSS: start (until the dump starts) / dump / archive / upload = {mb max.startPeakRssBytes} \
/ {mb max.dumpPeakRssBytes} / {mb max.archivePeakRssBytes} / {mb max.uploadPeakRssBytes}`,
      sizes,
      ' = {t target} MB target',
    ),
    overhead: render(
      `database = {mb db}
       Lifeboat − raw = {s extra} ({pct extra raw.ms} of raw)
       dump_ms − raw = {s dumpExtra} ({pct dumpExtra extra})
       archive_ms = {s lb.archiveMs} ({pct lb.archiveMs extra})
       upload_ms = {s lb.uploadMs} ({pct lb.uploadMs extra})
       activities waiting for the worker = {s lb.queueMs} ({pct lb.queueMs extra})
       catalog and cleanup activities = {s lb.bookkeepingMs} ({pct lb.bookkeepingMs extra})
       workflow tasks and client round trips = {s tasks} ({pct tasks extra})`,
      sizes,
    ),
    rounds: render(
      `database = {mb db}
       run = {t run}
       order = {t order}
       raw -Fc = {s raw.ms}
       | gzip = {s gzip.ms}
       Lifeboat = {s lifeboat.ms}
       ratio = {div lifeboat.ms raw.ms}×
       dump / archive / upload = {s lifeboat.dumpMs} / {s lifeboat.archiveMs} / {s lifeboat.uploadMs}
       worker RSS at start → peak = {mb lifeboat.startRssBytes} → {mb lifeboat.peakRssBytes}`,
      runs.map((run) => ({ ...run, run: run.index + 1, order: run.order.join(' → ') })),
    ),
    ...Object.fromEntries(r.sizes.map((z) => [`data ${z.database.name}`, data(z.database)])),
  };
}

function restore(r: Results): Record<string, string> {
  const { endToEnd, restoreStep } = r.ratios;
  const [goal, dumpBytes] = [n(r.parameters.goalRatio), (r.backup as Measured).dumpBytes];
  // The raw contenders' times, then each Lifeboat's restore step and whole restore, over raw pg_restore -d.
  const row = (id: string, name: string, field: string, ratio?: Ratio, step = false) => {
    const met = ratio && ratio.ofMedians <= goal && ratio.medianOfRounds <= goal ? 'met' : '**missed**';
    const verdict = step ? met : '—';
    const mark = step ? '**' : '';
    return { name, ms: r.summary[id]?.median[field], ratio, goal, dumpBytes, mark, verdict };
  };
  const lifeboats = ['lifeboat-new', 'lifeboat-target'];
  const checks = '(pg_restore → Node → psql, with its checks)';
  const rows = [
    row('raw', labels.raw!, 'ms', { ofMedians: 1, medianOfRounds: 1, perRound: [] }),
    row('raw-pipe', labels['raw-pipe']!, 'ms', endToEnd['raw-pipe']),
    row('run-restore', `${labels['run-restore']} ${checks}`, 'ms', endToEnd['run-restore']),
    ...lifeboats.flatMap((id) => [
      row(id, `${labels[id]}: **restore step** (restoreDatabase)`, 'restoreStepMs', restoreStep[id], true),
      row(id, `${labels[id]}: end to end`, 'ms', endToEnd[id]),
    ]),
  ].filter((row) => row.ms !== undefined);
  const steps = contenders(r).filter(({ id }) => lifeboats.includes(id));
  const skipped = 'skipped (new database)';
  const safety = (m: Measured) => (m.safetyBackupMs ? fill('**{s safetyBackupMs}**', m) : skipped);
  const backup = fill(
    '{s ms}; archive {mb archiveBytes}, {t formats}; dump {mb dumpBytes}',
    r.backup as Context,
  );
  return {
    run: run(r, { 'Lifeboat backup of it': backup, 'table of contents read alone': fill('{s tocMs}', r) }),
    main: render(
      `= {t name}
       time (median) = {s ms}
       ÷ raw pg_restore -d: ratio of medians = {t mark}{x ratio.ofMedians}{t mark}
       ÷ raw: median of per-round ratios (each round) = {t mark}{x ratio.medianOfRounds}{t mark}{rounds ratio}
       goal ≤ {x goal} (both) = {t verdict}
       dump bytes per second = {rate dumpBytes ms}`,
      rows,
    ),
    steps: render(
      `preview (before the restore; issues the token) = {s m.previewMs}
       validate: fetch, sha256, unpack, check every file (prepareRestore) = {s m.validateMs}
       **safety backup** (child backupWorkflow, from the operation’s steps) = {t safety}
       restore step (restoreDatabase activity window) = {s m.restoreStepMs}
       restore step as the activity reports it (durationsMs.database) = {s m.restoreDurationMs}
       verify: every table exists, count(*) (verifyRestore) = {s m.verifyMs}
       everything else (lock, new database, catalog, dispatch) = {s m.otherMs}
       end to end (start request → result) = {s m.ms}
       worker CPU during the restore step (Node only) = {fixed m.workerCpuRestoreStepS 2} s
       worker peak RSS (VmHWM, max of rounds) = {mb max.workerPeakRssBytes}`,
      steps.map((step) => ({ ...step, safety: safety(step.m) })),
      'step (medians) = {t label}',
    ),
    rounds: render(
      `round = {t round}
       order = {t order}
       raw pg_restore -d = {s raw.ms}
       raw pg_restore -f - | psql = {s raw-pipe.ms}
       Lifeboat's runRestore alone = {s run-restore.ms} (CPU {fixed run-restore.cpuS 1} s)
       new database: restore step / end to end = {s lifeboat-new.restoreStepMs} / {s lifeboat-new.ms}
       target: restore step / safety backup / end to end = {s lifeboat-target.restoreStepMs} / \
{s lifeboat-target.safetyBackupMs} / {s lifeboat-target.ms}
       count(*) of every table = {s raw.countAllMs}`,
      rounds(r),
    ),
    data: data(r.database),
  };
}

function storage(r: Results): Record<string, string> {
  return {
    run: run(r, {
      'warm-up backup (S3, zstd + age)': fill('{s warmUpMs}', r),
      'worker RSS before the backups': fill('{mb workerBaselineRssBytes}', r),
      'age alone (encryptStream)': fill('{fixed ageMiBps 1} MiB/s', r),
      formats: usedFormats(r),
    }),
    main: render(
      `contender = {t label}
       time (median) = {s m.ms}
       **÷ baseline**: ratio of medians = **{x ratio.ofMedians}**
       ÷ baseline: median of per-round ratios (each round) = {x ratio.medianOfRounds}{rounds ratio}
       archive size = {mb m.archiveBytes} ({pct m.archiveBytes r.database.sizeBytes})
       dump = {s m.dumpMs}
       archive = {s m.archiveMs}
       upload (+ read-back) = {s m.uploadMs}
       rest of the workflow = {s m.restMs}
       worker peak RSS = {mb max.peakRssBytes}`,
      contenders(r),
    ),
    rounds: render(
      `round = {t round}
       position = {t position}
       contender = {t label}
       time = {s m.ms}
       ÷ baseline (same round) = {div m.ms base.ms}×
       dump / archive / upload = {s m.dumpMs} / {s m.archiveMs} / {s m.uploadMs}
       archive = {mb m.archiveBytes}
       worker RSS at start → peak = {mb m.startRssBytes} → {mb m.peakRssBytes}`,
      measurements(r, 'local-zstd'),
    ),
    data: data(r.database),
  };
}

const retention = (r: Results) => ({
  run: run(r),
  main: render(
    `time zone = {t id}
     backups = {t m.backups}
     median = {fixed m.ms 1} ms
     min = {fixed min.ms 1} ms
     max = {fixed max.ms 1} ms
     kept = {t m.kept}`,
    contenders(r),
  ),
});

/** Each pipeline against the PassThrough that read as much, with the same consumer. */
const encryptionMemory = (r: Results) => ({
  run: run(r),
  main: render(
    `pipeline = {t id}
     MiB/s = {mib rate}
     × baseline time = {div m.ms base.ms 1}
     RSS before MiB = {mib m.rssBeforeBytes}
     peak RSS MiB = {mib m.peakRssBytes}
     peak growth MiB = {mib growth 1}
     peak × baseline = {div m.peakRssBytes base.peakRssBytes 2}`,
    contenders(r).map((row) => {
      const base = r.summary[row.id.endsWith('-slow') ? 'passthrough-slow' : 'passthrough']!.median;
      const { inputBytes, ms, peakRssBytes, rssBeforeBytes } = row.m;
      return { ...row, base, rate: inputBytes! / (ms! / 1000), growth: peakRssBytes! - rssBeforeBytes! };
    }),
  ),
});

const renderers: Record<string, (r: Results) => Record<string, string>> = { backup, restore, storage };
Object.assign(renderers, { retention, 'encryption-memory': encryptionMemory });
const results = JSON.parse(readFileSync(process.argv[2] ?? 'bench/out/backup.json', 'utf8')) as Results;
for (const [name, text] of Object.entries(renderers[results.bench]!(results))) {
  console.log(`<!-- table: ${name} -->\n${text}\n`);
}
