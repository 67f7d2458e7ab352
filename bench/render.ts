// The RESULTS tables from a benchmark's JSON: `node bench/render.ts bench/out/NAME.json` prints each table,
// after a line naming it, to paste over that table in the RESULTS file.
import { readFileSync } from 'node:fs';
import type { GeneratedDatabase } from './lib/data.ts';
import type { ContenderSummary, Ratio } from './lib/rounds.ts';

type Context = Record<string, unknown>;
type Measured = Record<string, number>;
interface Results {
  bench: string;
  parameters: Record<string, unknown>;
  /** The contenders' names in the tables, by id. */
  labels: Record<string, string>;
  database: GeneratedDatabase;
  rounds: { order: string[]; results: Record<string, Measured> }[];
  summary: Record<string, ContenderSummary>;
  ratios: Record<string, Ratio> & Record<'endToEnd' | 'restoreStep', Record<string, Ratio>>;
  sizes: Results[];
  [more: string]: unknown;
}

const n = Number;
const x = (value: unknown) => `${n(value).toFixed(3)}×`;
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

/** A row per contender: `m` its medians, `min` and `max`, `ratio` to the baseline, and the run's `r`. */
const contenders = (r: Results, ratios: Record<string, Ratio> = r.ratios) =>
  Object.entries(r.summary).map(([id, { median: m, min, max }]) => {
    return { id, label: r.labels?.[id] ?? id, m, min, max, ratio: ratios?.[id], r };
  });
/** A row per measurement: its round, its position in the round, the contender, `m` what it measured. */
const measurements = (r: Results) =>
  r.rounds.flatMap(({ order, results }, index) =>
    order.map((id, at) => ({
      results,
      round: index + 1,
      position: at + 1,
      label: r.labels[id],
      m: results[id],
    })),
  );
const data = (db: GeneratedDatabase) =>
  render(
    `table = app.{t name}
     rows = {t rows}
     size with TOAST and indexes = {mb bytes}
     content = {t content}`,
    db.tables,
  );

function backup(r: Results): Record<string, string> {
  const sizes = r.sizes.map((z) => {
    const [raw, gzip, lb] = [z.summary.raw!.median, z.summary.gzip!.median, z.summary.lifeboat!.median];
    const formats = [...new Set(z.rounds.map(({ results }) => results.lifeboat?.formats))].join('; ');
    const [extra, tasks] = [lb.ms! - raw.ms!, lb.restMs! - lb.queueMs! - lb.bookkeepingMs!];
    const [db, max] = [z.database.sizeBytes, z.summary.lifeboat!.max];
    return { ...z, extra, tasks, dumpExtra: lb.dumpMs! - raw.ms!, formats, db, raw, gzip, lb, max };
  });
  const runs = sizes.flatMap(({ db, rounds }) =>
    rounds.map(({ order, results }, index) => ({ ...results, db, run: index + 1, order: order.join(' → ') })),
  );
  return {
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
      ' = {t sizeMb} MB target',
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
      runs,
    ),
    ...Object.fromEntries(r.sizes.map((z) => [`data ${z.database.name}`, data(z.database)])),
  };
}

function restore(r: Results): Record<string, string> {
  const { summary, labels, ratios } = r;
  const restoreStep = ratios.restoreStep;
  const [goal, dumpBytes] = [n(r.parameters.goalRatio), (r.backup as Measured).dumpBytes];
  // The raw contenders' times, then each Lifeboat's restore step and whole restore, over raw pg_restore -d.
  const row = (id: string, name: string, field = 'ms', ratio = ratios.endToEnd[id], step = false) => {
    const met = ratio && ratio.ofMedians <= goal && ratio.medianOfRounds <= goal ? 'met' : '**missed**';
    const [mark, verdict] = step ? ['**', met] : ['', '—'];
    return { name, ms: summary[id]?.median[field], ratio, goal, dumpBytes, mark, verdict };
  };
  const lifeboats = ['lifeboat-new', 'lifeboat-target'];
  const rows = [
    row('raw', labels.raw!, 'ms', { ofMedians: 1, medianOfRounds: 1, perRound: [] }),
    row('raw-pipe', labels['raw-pipe']!),
    row('run-restore', `${labels['run-restore']} (pg_restore → Node → psql, with its checks)`),
    ...lifeboats.flatMap((id) => [
      row(id, `${labels[id]}: **restore step** (restoreDatabase)`, 'restoreStepMs', restoreStep[id], true),
      row(id, `${labels[id]}: end to end`),
    ]),
  ].filter((row) => row.ms !== undefined);
  const steps = contenders(r).filter(({ id }) => lifeboats.includes(id));
  const skipped = 'skipped (new database)';
  const safety = (m: Measured) => (m.safetyBackupMs ? fill('**{s safetyBackupMs}**', m) : skipped);
  return {
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
      r.rounds.map(({ order, results }, index) => {
        return { ...results, round: index + 1, order: order.map((id) => labels[id]).join(' → ') };
      }),
    ),
    data: data(r.database),
  };
}

const storage = (r: Results) => ({
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
     ÷ baseline (same round) = {div m.ms results.local-zstd.ms}×
     dump / archive / upload = {s m.dumpMs} / {s m.archiveMs} / {s m.uploadMs}
     archive = {mb m.archiveBytes}
     worker RSS at start → peak = {mb m.startRssBytes} → {mb m.peakRssBytes}`,
    measurements(r),
  ),
  data: data(r.database),
});

const retention = (r: Results) => ({
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

const renderers = { backup, restore, storage, retention, 'encryption-memory': encryptionMemory };
const results = JSON.parse(readFileSync(process.argv[2] ?? 'bench/out/backup.json', 'utf8')) as Results;
for (const [name, text] of Object.entries(renderers[results.bench as keyof typeof renderers](results))) {
  console.log(`<!-- table: ${name} -->\n${text}\n`);
}
