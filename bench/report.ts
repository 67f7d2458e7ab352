// The benchmark's figures: medians per database size, the console table and bench/RESULTS.md.
import type { TableShare } from './generate-data.ts';
import { tableContents } from './generate-data.ts';
import type { LifeboatMeasurement, Step } from './lifeboat-backup.ts';
import type { MachineFacts } from './machine.ts';
import { median } from './measure.ts';
import type { DumpMeasurement } from './raw-dumps.ts';

export type Contender = 'raw' | 'gzip' | 'lifeboat';

export interface RunResult {
  order: Contender[];
  raw: DumpMeasurement;
  gzip: DumpMeasurement;
  lifeboat: LifeboatMeasurement;
}

export interface SizeResult {
  targetMb: number;
  database: string;
  sizeBytes: number;
  reused: boolean;
  generateMs: number | null;
  tables: TableShare[];
  workerBaselineRssBytes: number;
  runs: RunResult[];
}

export interface BenchReport {
  facts: MachineFacts;
  command: string;
  runsPerSize: number;
  clusterFsync: boolean;
  /** The commit measured (see codeVersion), at the start and, when it differs, at the end. */
  code: string;
  codeChanged: boolean;
  sizes: SizeResult[];
}

/** Lifeboat's goals: within 1.10× of raw pg_dump -Fc, and a worker under 200 MB at its peak. */
export const goalRatio = 1.1;
export const goalPeakRssBytes = 200_000_000;

const labels: Record<Contender, string> = {
  raw: 'pg_dump -Fc -f',
  gzip: 'pg_dump | gzip',
  lifeboat: 'Lifeboat backup',
};

export interface SizeSummary {
  size: SizeResult;
  rawMs: number;
  rawBytes: number;
  gzipMs: number;
  gzipBytes: number;
  lifeboatMs: number;
  archiveBytes: number;
  dumpBytes: number;
  formats: string;
  ratio: number;
  runRatios: number[];
  dumpMs: number;
  archiveMs: number;
  uploadMs: number;
  /** Lifeboat's time outside its three steps: workflow start, catalog records, cleanup, task dispatch. */
  otherMs: number;
  queueMs: number;
  bookkeepingMs: number;
  peakRssBytes: number;
  polledPeakRssBytes: number;
  stepPeakRssBytes: Record<Step, number>;
}

export function summarize(size: SizeResult): SizeSummary {
  const pick = (get: (run: RunResult) => number) => median(size.runs.map(get));
  const rawMs = pick((run) => run.raw.ms);
  const lifeboatMs = pick((run) => run.lifeboat.ms);
  const dumpMs = pick((run) => run.lifeboat.dumpMs);
  const archiveMs = pick((run) => run.lifeboat.archiveMs);
  const uploadMs = pick((run) => run.lifeboat.uploadMs);
  return {
    size,
    rawMs,
    rawBytes: pick((run) => run.raw.fileBytes),
    gzipMs: pick((run) => run.gzip.ms),
    gzipBytes: pick((run) => run.gzip.fileBytes),
    lifeboatMs,
    archiveBytes: pick((run) => run.lifeboat.archiveBytes),
    dumpBytes: pick((run) => run.lifeboat.dumpBytes),
    formats: [...new Set(size.runs.map((run) => run.lifeboat.formats))].join('; '),
    ratio: lifeboatMs / rawMs,
    runRatios: size.runs.map((run) => run.lifeboat.ms / run.raw.ms),
    dumpMs,
    archiveMs,
    uploadMs,
    otherMs: pick(
      (run) => run.lifeboat.ms - run.lifeboat.dumpMs - run.lifeboat.archiveMs - run.lifeboat.uploadMs,
    ),
    queueMs: pick((run) => run.lifeboat.queueMs),
    bookkeepingMs: pick((run) => run.lifeboat.bookkeepingMs),
    peakRssBytes: Math.max(...size.runs.map((run) => run.lifeboat.peakRssBytes)),
    polledPeakRssBytes: Math.max(...size.runs.map((run) => run.lifeboat.polledPeakRssBytes)),
    stepPeakRssBytes: {
      start: Math.max(...size.runs.map((run) => run.lifeboat.stepPeakRssBytes.start)),
      dump: Math.max(...size.runs.map((run) => run.lifeboat.stepPeakRssBytes.dump)),
      archive: Math.max(...size.runs.map((run) => run.lifeboat.stepPeakRssBytes.archive)),
      upload: Math.max(...size.runs.map((run) => run.lifeboat.stepPeakRssBytes.upload)),
    },
  };
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const megabytes = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const throughput = (bytes: number, ms: number) => `${(bytes / 1e6 / (ms / 1000)).toFixed(1)} MB/s`;
const ratio = (value: number) => `${value.toFixed(3)}×`;
const percent = (part: number, whole: number) => `${((100 * part) / whole).toFixed(1)} %`;

/** Rows of the main table: one label and one cell per database size. */
function mainRows(summaries: readonly SizeSummary[]): string[][] {
  const row = (label: string, cell: (s: SizeSummary) => string) => [label, ...summaries.map(cell)];
  return [
    row('database (pg_database_size)', (s) => megabytes(s.size.sizeBytes)),
    row(`${labels.raw}: time`, (s) => seconds(s.rawMs)),
    row(
      `${labels.raw}: file size`,
      (s) => `${megabytes(s.rawBytes)} (${percent(s.rawBytes, s.size.sizeBytes)})`,
    ),
    row(`${labels.raw}: throughput`, (s) => throughput(s.size.sizeBytes, s.rawMs)),
    row(`${labels.gzip}: time`, (s) => `${seconds(s.gzipMs)} (${ratio(s.gzipMs / s.rawMs)} raw)`),
    row(
      `${labels.gzip}: file size`,
      (s) => `${megabytes(s.gzipBytes)} (${percent(s.gzipBytes, s.size.sizeBytes)})`,
    ),
    row(`${labels.gzip}: throughput`, (s) => throughput(s.size.sizeBytes, s.gzipMs)),
    row(`${labels.lifeboat}: time`, (s) => seconds(s.lifeboatMs)),
    row(`${labels.lifeboat}: formats (from the manifest)`, (s) => s.formats),
    row(`${labels.lifeboat}: pg_dump file in the archive`, (s) => megabytes(s.dumpBytes)),
    row(
      `${labels.lifeboat}: archive size`,
      (s) => `${megabytes(s.archiveBytes)} (${percent(s.archiveBytes, s.size.sizeBytes)})`,
    ),
    row(`${labels.lifeboat}: throughput`, (s) => throughput(s.size.sizeBytes, s.lifeboatMs)),
    row('**Lifeboat / raw pg_dump -Fc** (medians)', (s) => `**${ratio(s.ratio)}**`),
    row('Lifeboat / raw, each run', (s) => s.runRatios.map(ratio).join(', ')),
    row('catalog dump_ms', (s) => seconds(s.dumpMs)),
    row('catalog archive_ms', (s) => seconds(s.archiveMs)),
    row('catalog upload_ms', (s) => seconds(s.uploadMs)),
    row('rest of the workflow (time − steps)', (s) => seconds(s.otherMs)),
    row('worker RSS before the backups', (s) => megabytes(s.size.workerBaselineRssBytes)),
    row('**worker peak RSS** (VmHWM, max of runs)', (s) => `**${megabytes(s.peakRssBytes)}**`),
    row('worker peak RSS, 100 ms VmRSS polling', (s) => megabytes(s.polledPeakRssBytes)),
    row(
      'polled peak RSS: start (until the dump starts) / dump / archive / upload',
      (s) =>
        `${megabytes(s.stepPeakRssBytes.start)} / ${megabytes(s.stepPeakRssBytes.dump)} / ${megabytes(s.stepPeakRssBytes.archive)} / ` +
        megabytes(s.stepPeakRssBytes.upload),
    ),
  ];
}

function markdownTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map((cell) => cell.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** The table printed at the end of a run. */
export function consoleTable(summaries: readonly SizeSummary[]): string {
  const header = ['', ...summaries.map((s) => `${s.size.targetMb} MB target`)];
  const rows = [header, ...mainRows(summaries).map((cells) => cells.map((c) => c.replace(/\*\*/g, '')))];
  const widths = header.map((_, i) => Math.max(...rows.map((cells) => (cells[i] ?? '').length)));
  return rows.map((cells) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n');
}

/** Where Lifeboat's time goes beyond raw pg_dump, per size. */
function overheadSection(summaries: readonly SizeSummary[]): string {
  const rows = summaries.map((s) => {
    const extra = s.lifeboatMs - s.rawMs;
    const part = (ms: number) => `${seconds(ms)} (${percent(ms, extra)})`;
    return [
      megabytes(s.size.sizeBytes),
      `${seconds(extra)} (${percent(extra, s.rawMs)} of raw)`,
      part(s.dumpMs - s.rawMs),
      part(s.archiveMs),
      part(s.uploadMs),
      part(s.queueMs),
      part(s.bookkeepingMs),
      part(s.otherMs - s.queueMs - s.bookkeepingMs),
    ];
  });
  return markdownTable(
    [
      'database',
      'Lifeboat − raw',
      'dump_ms − raw',
      'archive_ms',
      'upload_ms',
      'activities waiting for the worker',
      'catalog and cleanup activities',
      'workflow tasks and client round trips',
    ],
    rows,
  );
}

function goalsSection(summaries: readonly SizeSummary[]): string {
  const mark = (ok: boolean) => (ok ? 'met' : '**missed**');
  const lines = summaries.map(
    (s) =>
      `- ${megabytes(s.size.sizeBytes)}: ratio ${ratio(s.ratio)} — ${mark(s.ratio <= goalRatio)} ` +
      `(goal ≤ ${ratio(goalRatio)}); peak RSS ${megabytes(s.peakRssBytes)} — ` +
      `${mark(s.peakRssBytes < goalPeakRssBytes)} (goal < ${megabytes(goalPeakRssBytes)})`,
  );
  const first = summaries[0];
  const last = summaries[summaries.length - 1];
  if (first && last && first !== last) {
    const growth = last.peakRssBytes - first.peakRssBytes;
    const dbGrowth = last.size.sizeBytes - first.size.sizeBytes;
    lines.push(
      `- peak RSS from the smallest to the largest database: ${growth >= 0 ? '+' : ''}${megabytes(growth)} ` +
        `while the database grew by ${megabytes(dbGrowth)} (${(last.size.sizeBytes / first.size.sizeBytes).toFixed(1)}×)`,
    );
  }
  return lines.join('\n');
}

function runsSection(report: BenchReport): string {
  const rows = report.sizes.flatMap((size) =>
    size.runs.map((run, index) => [
      megabytes(size.sizeBytes),
      String(index + 1),
      run.order.join(' → '),
      seconds(run.raw.ms),
      seconds(run.gzip.ms),
      seconds(run.lifeboat.ms),
      ratio(run.lifeboat.ms / run.raw.ms),
      `${seconds(run.lifeboat.dumpMs)} / ${seconds(run.lifeboat.archiveMs)} / ${seconds(run.lifeboat.uploadMs)}`,
      `${megabytes(run.lifeboat.startRssBytes)} → ${megabytes(run.lifeboat.peakRssBytes)}`,
    ]),
  );
  return markdownTable(
    [
      'database',
      'run',
      'order',
      'raw -Fc',
      '| gzip',
      'Lifeboat',
      'ratio',
      'dump / archive / upload',
      'worker RSS at start → peak',
    ],
    rows,
  );
}

function dataSection(report: BenchReport): string {
  return report.sizes
    .map((size) => {
      const generated = size.reused
        ? 'reused from an earlier run'
        : `generated in ${seconds(size.generateMs ?? Number.NaN)}`;
      const rows = size.tables.map((table) => [
        `app.${table.name}`,
        String(table.rows),
        megabytes(table.bytes),
        tableContents[table.name] ?? '',
      ]);
      return (
        `\`${size.database}\`: ${megabytes(size.sizeBytes)} (${generated})\n\n` +
        markdownTable(['table', 'rows', 'size with TOAST and indexes', 'content'], rows)
      );
    })
    .join('\n\n');
}

export function resultsMarkdown(report: BenchReport, summaries: readonly SizeSummary[]): string {
  const { facts } = report;
  return `# Backup benchmark: Lifeboat against raw pg_dump

Written by \`bench/backup-bench.ts\`; every figure below was measured by that one run.

Command (from the checkout):

\`\`\`sh
${report.command}
\`\`\`

## Machine and software

- date: ${facts.date}
- CPU: ${facts.nproc} × ${facts.cpuModel}; kernel ${facts.kernel}; Node ${facts.node}
- PostgreSQL: ${facts.postgres}; ${facts.pgDump}
- Lifeboat code measured: ${report.code}${report.codeChanged ? ' — **the checkout changed during the run: figures may mix two versions**' : ''}
- cluster: started by the benchmark in \`bench/out/pg\`, fsync **${report.clusterFsync ? 'on' : 'off'}** (pg_dump only reads, so this matters for generation speed alone); default shared_buffers
- memory (\`free -g\`):

\`\`\`
${facts.freeG}
\`\`\`

## Method

For each database size the benchmark starts a fresh Lifeboat worker (\`node worker/main.ts\`, its own process,
local storage \`file://bench/out/run/storage\`, scratch \`bench/out/run/work\`, a prebuilt workflow bundle), reads
the database's files once to warm the page cache, then runs ${report.runsPerSize} round(s) of three contenders with the order rotated
each round: \`pg_dump -Fc -f file\`, \`pg_dump | gzip > file\` (plain format, gzip -6), and \`backupWorkflow\` started
with the Temporal client and timed from start to result. \`sync\` runs before each measurement. Figures are medians
of the rounds; ratios compare medians measured in the same run. Outputs are deleted after their size is taken.

pg_dump -Fc fsyncs its file before it exits (PostgreSQL ≥ 12); \`pg_dump | gzip\` does not. Lifeboat's time includes
everything a user waits for: its own pg_dump into scratch (formats in the table, read from the backup's manifest), the
tar archive with its compression, sha256 and md5, storing it with fsync and the read-back verification, the catalog
records and Temporal's scheduling; its worker runs the code of the commit above.
The worker's peak RSS is the kernel's VmHWM, reset (\`/proc/<pid>/clear_refs\` = 5) just before each backup, so it covers
the backup and not the worker's start-up; the 100 ms VmRSS polling is a cross-check, and its samples are split by
the activity windows of the run's Temporal history (scheduled, started, closed) to give the peak of each step and
the time activities waited for the worker. pg_dump's own memory is
not the worker's and is not counted.

## Results

${markdownTable(['', ...summaries.map((s) => `${s.size.targetMb} MB target`)], mainRows(summaries))}

### Where Lifeboat's time goes beyond raw pg_dump (medians)

${overheadSection(summaries)}

### Goals

${goalsSection(summaries)}

### Every run

${runsSection(report)}

## The data

${dataSection(report)}
`;
}
