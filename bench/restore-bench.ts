// The restore benchmark (issue #4): a full restore of a ≥ 1 GB backup through Lifeboat against raw pg_restore
// of the same dump, in the same run, with the safety backup apart; prints a table, writes bench/RESULTS-restore.md.
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { getBackup, type Backup } from '../catalog/backups.ts';
import { getRestoreOperation, type RestoreOperation } from '../catalog/restores.ts';
import { createSecretBox } from '../catalog/secret-box.ts';
import { createTarget, type Target } from '../catalog/targets.ts';
import { createStorageRegistry } from '../storage/registry.ts';
import { readToc, runRestore } from '../postgres/pg-restore.ts';
import { previewRestore, startRestore, type RestoreRequestBody } from '../services/restores.ts';
import type { ApiDeps } from '../api/context.ts';
import { backupWorkflowId } from '../domain/naming.ts';
import { checkRestoredSql, wipeDatabaseSql, type RestoreStep } from '../domain/restore.ts';
import { resolveTargetInput } from '../domain/target.ts';
import type { PostgresCluster } from '../stack/postgres-cluster.ts';
import { backupWorkflow } from '../workflows/backup.ts';
import type { RestoreWorkflowResult } from '../workflows/restore.ts';
import { adminQuery, benchRoot, clusterFsync, runDir, startBenchStack } from './bench-stack.ts';
import { describeTables, ensureBenchDatabase, tableContents, type TableShare } from './generate-data.ts';
import { createBenchTarget, startWorkerProcess, type WorkerProcess } from './lifeboat-backup.ts';
import { codeVersion, machineFacts, type MachineFacts } from './machine.ts';
import { median, readStatusBytes, resetPeakRss, timeProcess } from './measure.ts';
import { activityWindows, type ActivityWindow } from './workflow-timeline.ts';

const contenderIds = ['raw', 'raw-pipe', 'run-restore', 'lifeboat-new', 'lifeboat-target'] as const;
type ContenderId = (typeof contenderIds)[number];

const labels: Record<ContenderId, string> = {
  raw: 'raw pg_restore -d',
  'raw-pipe': 'raw pg_restore -f - | psql',
  'run-restore': "Lifeboat's runRestore alone",
  'lifeboat-new': 'Lifeboat, into a new database',
  'lifeboat-target': 'Lifeboat, into an existing target',
};

/** The goal: Lifeboat's restore step within 1.15× of raw pg_restore. */
const goalRatio = 1.15;

/** Scratch databases on the bench cluster; dropped after each use, except the target's, which stays. */
const rawDatabase = 'bench_restore_raw';
const newDatabase = 'bench_restore_new';
const destDatabase = 'bench_restore_dest';

interface Options {
  sizeMb: number;
  runs: number;
  contenders: ContenderId[];
  resultsFile: string;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      'size-mb': { type: 'string', default: '1100' },
      runs: { type: 'string', default: '3' },
      contenders: { type: 'string', default: contenderIds.join(',') },
      results: { type: 'string', default: path.join(benchRoot, 'RESULTS-restore.md') },
    },
  });
  const sizeMb = Number(values['size-mb']);
  const runs = Number(values.runs);
  if (!Number.isInteger(sizeMb) || sizeMb < 16) {
    throw new Error(`--size-mb wants a whole number of MB, at least 16 (got "${values['size-mb']}")`);
  }
  if (!Number.isInteger(runs) || runs < 1)
    throw new Error(`--runs wants a whole number ≥ 1 (got "${values.runs}")`);
  const contenders = values.contenders.split(',').map((id) => id.trim()) as ContenderId[];
  const unknown = contenders.filter((id) => !contenderIds.includes(id));
  if (unknown.length || new Set(contenders).size !== contenders.length || !contenders.includes('raw')) {
    throw new Error(
      `--contenders wants distinct names from ${contenderIds.join(', ')}, including raw (got "${values.contenders}")`,
    );
  }
  return { sizeMb, runs, contenders, resultsFile: path.resolve(values.results) };
}

function log(line: string): void {
  console.log(`bench: ${line}`);
}

// ---------------------------------------------------------------------------------------------------
// Measuring

/** The same client binaries Lifeboat picks for this server (the cluster's own major). */
function clientTools(cluster: PostgresCluster) {
  return { pgRestore: path.join(cluster.binDir, 'pg_restore'), psql: path.join(cluster.binDir, 'psql') };
}

function libpqEnv(cluster: PostgresCluster, database: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    PGHOST: '127.0.0.1',
    PGPORT: String(cluster.port),
    PGUSER: cluster.superuser,
    PGPASSWORD: cluster.password,
    PGDATABASE: database,
    PGCLIENTENCODING: 'UTF8',
  };
}

/** Lifeboat's restore options in this benchmark: mode full, without ownership and grants. */
const restoreFlags = ['--single-transaction', '--no-owner', '--no-privileges'];

/** `pg_restore -d`: what a person would run by hand, with the flags Lifeboat passes to pg_restore. */
async function timeRawRestore(cluster: PostgresCluster, dumpFile: string): Promise<number> {
  const { pgRestore } = clientTools(cluster);
  return timeProcess(
    pgRestore,
    [...restoreFlags, '--exit-on-error', '--no-password', `--dbname=${rawDatabase}`, dumpFile],
    libpqEnv(cluster, rawDatabase),
  );
}

/**
 * `pg_restore -f - | psql`, the shape of Lifeboat's restore without Lifeboat: the same two processes and
 * flags, the SQL through a pipe, psql stopping at the first error. Separates the cost of the pipe from
 * the cost of what Lifeboat does in between.
 */
async function timePipedRestore(cluster: PostgresCluster, dumpFile: string): Promise<number> {
  const { pgRestore, psql } = clientTools(cluster);
  return timeProcess(
    'bash',
    [
      '-c',
      'set -o pipefail; "$1" --file=- "${@:4}" "$3" | "$2" --no-psqlrc --quiet --no-password --set=ON_ERROR_STOP=1 --file=-',
      'bash',
      pgRestore,
      psql,
      dumpFile,
      ...restoreFlags,
    ],
    libpqEnv(cluster, rawDatabase),
  );
}

/**
 * activities/pg-restore.ts `runRestore` called in this process, with the SQL the restore step puts around
 * pg_restore's output in mode full (the wipe before, the row check before COMMIT): Lifeboat's relay of the
 * SQL through Node without the activity, the worker or Temporal. Returns its time and this process's CPU.
 */
async function timeRunRestore(
  cluster: PostgresCluster,
  dumpFile: string,
): Promise<{ ms: number; cpuS: number }> {
  const { pgRestore, psql } = clientTools(cluster);
  const cpuBefore = process.cpuUsage();
  const startedMs = performance.now();
  await runRestore({
    tools: { pgRestore, psql, version: 'bench' },
    dumpFile,
    selectArgs: ['--no-owner', '--no-privileges'],
    connection: { host: '127.0.0.1', port: cluster.port, database: rawDatabase, username: cluster.superuser },
    password: cluster.password,
    applicationName: 'lifeboat-bench-run-restore',
    prelude: wipeDatabaseSql(),
    epilogue: (counted) => checkRestoredSql(counted),
    signal: new AbortController().signal,
    onProgress: () => undefined,
  });
  const ms = performance.now() - startedMs;
  const cpu = process.cpuUsage(cpuBefore);
  return { ms, cpuS: (cpu.user + cpu.system) / 1e6 };
}

/** `select count(*)` of every table, as Lifeboat's in-transaction check and its verify step each do once. */
async function timeCountAll(cluster: PostgresCluster, database: string, tables: readonly TableShare[]) {
  const client = new pg.Client({ connectionString: cluster.url(database) });
  await client.connect();
  try {
    const startedMs = performance.now();
    for (const table of tables) await client.query(`select count(*) from only app.${table.name}`);
    return performance.now() - startedMs;
  } finally {
    await client.end();
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticksPerSecond = 100;
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

interface LifeboatRestore {
  /** From the start request (the API's startRestore) to the workflow's result. */
  ms: number;
  /** The preview that issues the confirmation token, before the restore: fetch, unpack, read the TOC. */
  previewMs: number;
  /** Activity windows (started → closed) of the run's history, in ms. */
  validateMs: number;
  restoreStepMs: number;
  verifyMs: number;
  /** restoreDatabase's own durationMs, as the workflow result reports it. */
  restoreDurationMs: number;
  /** From the operation's steps: safety-backup started → completed (0 when skipped). */
  safetyBackupMs: number;
  safetyBackupSteps: Backup['durationsMs'] | null;
  /** Everything else: lock, new database, catalog records, finish, cleanup, Temporal's dispatch. */
  otherMs: number;
  /** Worker CPU seconds during the restore step (the Node process only, not pg_restore or psql). */
  workerCpuRestoreStepS: number;
  workerPeakRssBytes: number;
  restoredTables: number;
}

function windowMs(windows: readonly ActivityWindow[], name: string): number {
  return windows
    .filter((window) => window.name === name)
    .reduce((total, window) => total + (window.closedAtMs - window.startedAtMs), 0);
}

function stepMs(operation: RestoreOperation, step: RestoreStep): number {
  const at = (status: string) => operation.steps.find((s) => s.step === step && s.status === status)?.at;
  const started = at('started');
  const completed = at('completed');
  return started && completed ? Date.parse(completed) - Date.parse(started) : 0;
}

interface RestoreContext {
  deps: ApiDeps;
  db: pg.Pool;
  client: Client;
  worker: WorkerProcess;
  backupId: string;
}

/** Samples the worker's CPU time while the restoreDatabase activity runs, from its heartbeat-visible start. */
function cpuSampler(pid: number, intervalMs = 200): { stop(): { atMs: number; cpuS: number }[] } {
  const samples: { atMs: number; cpuS: number }[] = [];
  const take = () => samples.push({ atMs: Date.now(), cpuS: cpuSeconds(pid) });
  take();
  const timer = setInterval(take, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return samples;
    },
  };
}

function cpuBetween(
  samples: readonly { atMs: number; cpuS: number }[],
  fromMs: number,
  toMs: number,
): number {
  const before = samples.findLast((s) => s.atMs <= fromMs) ?? samples[0]!;
  const after = samples.find((s) => s.atMs >= toMs) ?? samples[samples.length - 1]!;
  return after.cpuS - before.cpuS;
}

/** Preview → confirmation token → restore, as the API's routes do, then the run's timings. */
async function timeLifeboatRestore(
  context: RestoreContext,
  destination: NonNullable<RestoreRequestBody['destination']>,
): Promise<LifeboatRestore> {
  const caller = { id: randomUUID(), name: 'bench', role: 'admin' as const };
  const body: RestoreRequestBody = { mode: 'full', noOwner: true, destination };
  const previewStartedMs = performance.now();
  const preview = await previewRestore(context.deps, context.backupId, body, caller);
  const previewMs = performance.now() - previewStartedMs;
  execFileSync('sync');
  resetPeakRss(context.worker.pid);
  const cpu = cpuSampler(context.worker.pid);
  const startedMs = performance.now();
  const started = await startRestore(
    context.deps,
    context.backupId,
    { ...body, confirmationToken: preview.confirmationToken },
    caller,
  );
  const handle: WorkflowHandle = context.client.workflow.getHandle(started.workflowId);
  const result = (await handle.result()) as RestoreWorkflowResult;
  const ms = performance.now() - startedMs;
  const cpuSamples = cpu.stop();
  const peak = readStatusBytes(context.worker.pid, 'VmHWM') ?? Number.NaN;
  const windows = await activityWindows(handle);
  const operation = await getRestoreOperation(context.db, started.operationId);
  const safety = result.safetyBackupId ? await getBackup(context.db, result.safetyBackupId) : null;
  const validateMs = windowMs(windows, 'prepareRestore');
  const restoreStepMs = windowMs(windows, 'restoreDatabase');
  const verifyMs = windowMs(windows, 'verifyRestore');
  const safetyBackupMs = stepMs(operation, 'safety-backup');
  const restoreWindow = windows.find((window) => window.name === 'restoreDatabase')!;
  return {
    ms,
    previewMs,
    validateMs,
    restoreStepMs,
    verifyMs,
    restoreDurationMs: result.durationsMs.database,
    safetyBackupMs,
    safetyBackupSteps: safety?.durationsMs ?? null,
    otherMs: ms - validateMs - restoreStepMs - verifyMs - safetyBackupMs,
    workerCpuRestoreStepS: cpuBetween(cpuSamples, restoreWindow.startedAtMs, restoreWindow.closedAtMs),
    workerPeakRssBytes: peak,
    restoredTables: result.restoredTables,
  };
}

// ---------------------------------------------------------------------------------------------------
// Rounds

interface RawRestore {
  ms: number;
  /** count(*) of every table of the restored database, untimed in the contender: what Lifeboat adds twice. */
  countAllMs: number;
}

interface Round {
  order: ContenderId[];
  raw?: RawRestore;
  rawPipe?: { ms: number };
  runRestore?: { ms: number; cpuS: number };
  lifeboatNew?: LifeboatRestore;
  lifeboatTarget?: LifeboatRestore;
}

/** Order of the contenders in round `index`: rotated, so no one always runs first or after another. */
function orderOf(contenders: readonly ContenderId[], index: number): ContenderId[] {
  const shift = index % contenders.length;
  return [...contenders.slice(shift), ...contenders.slice(0, shift)];
}

/** Before every measurement: dirty pages written out, so no contender pays for the one before it. */
async function settle(cluster: PostgresCluster): Promise<void> {
  await adminQuery(cluster, 'checkpoint');
  execFileSync('sync');
}

async function dropDatabase(cluster: PostgresCluster, name: string): Promise<void> {
  await adminQuery(cluster, `drop database if exists ${name} with (force)`);
}

// ---------------------------------------------------------------------------------------------------
// The report

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const megabytes = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const ratio = (value: number) => `${value.toFixed(3)}×`;
const throughput = (bytes: number, ms: number) => `${(bytes / 1e6 / (ms / 1000)).toFixed(1)} MB/s`;

function markdownTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map((cell) => cell.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

interface LifeboatSummary {
  ms: number;
  previewMs: number;
  validateMs: number;
  restoreStepMs: number;
  restoreDurationMs: number;
  verifyMs: number;
  safetyBackupMs: number;
  otherMs: number;
  stepRatio: number;
  stepRoundRatios: number[];
  endToEndRatio: number;
  endToEndRoundRatios: number[];
  workerCpuRestoreStepS: number;
  workerPeakRssBytes: number;
}

interface Summary {
  rawMs: number;
  countAllMs: number;
  rawPipe: { ms: number; ratio: number; roundRatios: number[] } | null;
  runRestore: { ms: number; cpuS: number; ratio: number; roundRatios: number[] } | null;
  lifeboat: Partial<Record<'lifeboat-new' | 'lifeboat-target', LifeboatSummary>>;
}

function summarize(rounds: readonly Round[]): Summary {
  const rawMs = median(rounds.map((round) => round.raw!.ms));
  const summary: Summary = {
    rawMs,
    countAllMs: median(rounds.map((round) => round.raw!.countAllMs)),
    rawPipe: null,
    runRestore: null,
    lifeboat: {},
  };
  if (rounds[0]?.rawPipe) {
    const ms = median(rounds.map((round) => round.rawPipe!.ms));
    const roundRatios = rounds.map((round) => round.rawPipe!.ms / round.raw!.ms);
    summary.rawPipe = { ms, ratio: ms / rawMs, roundRatios };
  }
  if (rounds[0]?.runRestore) {
    const ms = median(rounds.map((round) => round.runRestore!.ms));
    const cpuS = median(rounds.map((round) => round.runRestore!.cpuS));
    const roundRatios = rounds.map((round) => round.runRestore!.ms / round.raw!.ms);
    summary.runRestore = { ms, cpuS, ratio: ms / rawMs, roundRatios };
  }
  for (const id of ['lifeboat-new', 'lifeboat-target'] as const) {
    const runs = rounds.map((round) => (id === 'lifeboat-new' ? round.lifeboatNew : round.lifeboatTarget));
    if (!runs[0]) continue;
    const pick = (get: (run: LifeboatRestore) => number) => median(runs.map((run) => get(run!)));
    const ms = pick((run) => run.ms);
    const restoreStepMs = pick((run) => run.restoreStepMs);
    summary.lifeboat[id] = {
      ms,
      previewMs: pick((run) => run.previewMs),
      validateMs: pick((run) => run.validateMs),
      restoreStepMs,
      restoreDurationMs: pick((run) => run.restoreDurationMs),
      verifyMs: pick((run) => run.verifyMs),
      safetyBackupMs: pick((run) => run.safetyBackupMs),
      otherMs: pick((run) => run.otherMs),
      stepRatio: restoreStepMs / rawMs,
      stepRoundRatios: rounds.map((round, i) => runs[i]!.restoreStepMs / round.raw!.ms),
      endToEndRatio: ms / rawMs,
      endToEndRoundRatios: rounds.map((round, i) => runs[i]!.ms / round.raw!.ms),
      workerCpuRestoreStepS: pick((run) => run.workerCpuRestoreStepS),
      workerPeakRssBytes: Math.max(...runs.map((run) => run!.workerPeakRssBytes)),
    };
  }
  return summary;
}

/**
 * The goal is judged on both estimates of the ratio: the ratio of the medians, and the median of the
 * ratios of each round (each Lifeboat run against the raw run of its own round). Under changing load from
 * other people's work they can disagree; the goal counts as met only when both are within it.
 */
function goalVerdict(ofMedians: number, roundRatios: readonly number[]): string {
  const perRound = median(roundRatios);
  return ofMedians <= goalRatio && perRound <= goalRatio ? 'met' : '**missed**';
}

const ratioCells = (ofMedians: number, roundRatios: readonly number[], bold = false) => {
  const mark = bold ? '**' : '';
  return [
    `${mark}${ratio(ofMedians)}${mark}`,
    `${mark}${ratio(median(roundRatios))}${mark} (${roundRatios.map(ratio).join(', ')})`,
  ];
};

function mainRows(summary: Summary, dumpBytes: number): string[][] {
  const rows: string[][] = [
    [labels.raw, seconds(summary.rawMs), '1.000×', '1.000×', '—', throughput(dumpBytes, summary.rawMs)],
  ];
  for (const [label, s] of [
    [labels['raw-pipe'], summary.rawPipe],
    [`${labels['run-restore']} (pg_restore → Node → psql, with its checks)`, summary.runRestore],
  ] as const) {
    if (!s) continue;
    rows.push([
      label,
      seconds(s.ms),
      ...ratioCells(s.ratio, s.roundRatios),
      '—',
      throughput(dumpBytes, s.ms),
    ]);
  }
  for (const id of ['lifeboat-new', 'lifeboat-target'] as const) {
    const s = summary.lifeboat[id];
    if (!s) continue;
    rows.push([
      `${labels[id]}: **restore step** (restoreDatabase)`,
      seconds(s.restoreStepMs),
      ...ratioCells(s.stepRatio, s.stepRoundRatios, true),
      goalVerdict(s.stepRatio, s.stepRoundRatios),
      throughput(dumpBytes, s.restoreStepMs),
    ]);
    rows.push([
      `${labels[id]}: end to end`,
      seconds(s.ms),
      ...ratioCells(s.endToEndRatio, s.endToEndRoundRatios),
      '—',
      throughput(dumpBytes, s.ms),
    ]);
  }
  return rows;
}

const mainHeader = [
  '',
  'time (median)',
  '÷ raw pg_restore -d: ratio of medians',
  '÷ raw: median of per-round ratios (each round)',
  `goal ≤ ${ratio(goalRatio)} (both)`,
  'dump bytes per second',
];

function stepsTable(summary: Summary): string {
  const ids = (['lifeboat-new', 'lifeboat-target'] as const).filter((id) => summary.lifeboat[id]);
  const row = (label: string, cell: (s: LifeboatSummary) => string) => [
    label,
    ...ids.map((id) => cell(summary.lifeboat[id]!)),
  ];
  return markdownTable(
    ['step (medians)', ...ids.map((id) => labels[id])],
    [
      row('preview (before the restore; issues the token)', (s) => seconds(s.previewMs)),
      row('validate: fetch, sha256, unpack, check every file (prepareRestore)', (s) => seconds(s.validateMs)),
      row('**safety backup** (child backupWorkflow, from the operation’s steps)', (s) =>
        s.safetyBackupMs ? `**${seconds(s.safetyBackupMs)}**` : 'skipped (new database)',
      ),
      row('restore step (restoreDatabase activity window)', (s) => seconds(s.restoreStepMs)),
      row('restore step as the activity reports it (durationsMs.database)', (s) =>
        seconds(s.restoreDurationMs),
      ),
      row('verify: every table exists, count(*) (verifyRestore)', (s) => seconds(s.verifyMs)),
      row('everything else (lock, new database, catalog, dispatch)', (s) => seconds(s.otherMs)),
      row('end to end (start request → result)', (s) => seconds(s.ms)),
      row('worker CPU during the restore step (Node only)', (s) => `${s.workerCpuRestoreStepS.toFixed(2)} s`),
      row('worker peak RSS (VmHWM, max of rounds)', (s) => megabytes(s.workerPeakRssBytes)),
    ],
  );
}

function roundsTable(rounds: readonly Round[]): string {
  const rows = rounds.map((round, index) => [
    String(index + 1),
    round.order.map((id) => labels[id]).join(' → '),
    seconds(round.raw!.ms),
    round.rawPipe ? seconds(round.rawPipe.ms) : '—',
    round.runRestore ? `${seconds(round.runRestore.ms)} (CPU ${round.runRestore.cpuS.toFixed(1)} s)` : '—',
    round.lifeboatNew
      ? `${seconds(round.lifeboatNew.restoreStepMs)} / ${seconds(round.lifeboatNew.ms)}`
      : '—',
    round.lifeboatTarget
      ? `${seconds(round.lifeboatTarget.restoreStepMs)} / ${seconds(round.lifeboatTarget.safetyBackupMs)} / ` +
        seconds(round.lifeboatTarget.ms)
      : '—',
    seconds(round.raw!.countAllMs),
  ]);
  return markdownTable(
    [
      'round',
      'order',
      labels.raw,
      labels['raw-pipe'],
      labels['run-restore'],
      'new database: restore step / end to end',
      'target: restore step / safety backup / end to end',
      'count(*) of every table',
    ],
    rows,
  );
}

interface Report {
  command: string;
  facts: MachineFacts;
  code: string;
  codeChanged: boolean;
  options: Options;
  database: { name: string; sizeBytes: number; reused: boolean; generateMs: number | null };
  tables: TableShare[];
  backup: { ms: number; archiveBytes: number; dumpBytes: number; formats: string };
  tocMs: number;
  rounds: Round[];
  summary: Summary;
  findings: string[];
}

/** What the figures say about the goal, and where the difference to raw pg_restore goes. */
type Measured = 'raw' | 'raw-pipe' | 'run-restore' | 'step-new';

/** One contender's time in one round, for the comparisons of neighbours in the chain below. */
function timeOf(round: Round, what: Measured): number | undefined {
  if (what === 'raw') return round.raw?.ms;
  if (what === 'raw-pipe') return round.rawPipe?.ms;
  if (what === 'run-restore') return round.runRestore?.ms;
  return round.lifeboatNew?.restoreStepMs;
}

function findings(summary: Summary, rounds: readonly Round[], tocMs: number): string[] {
  const lines: string[] = [];
  const raw = summary.rawMs;
  const signed = (ms: number) => `${ms >= 0 ? '+' : '−'}${seconds(Math.abs(ms))}`;
  for (const id of ['lifeboat-new', 'lifeboat-target'] as const) {
    const s = summary.lifeboat[id];
    if (!s) continue;
    lines.push(
      `- ${labels[id]}: the restore step took ${seconds(s.restoreStepMs)} (median) against ${seconds(raw)} for raw ` +
        `pg_restore -d: ${ratio(s.stepRatio)} as a ratio of medians, **${ratio(median(s.stepRoundRatios))}** as the ` +
        `median of the per-round ratios (${s.stepRoundRatios.map(ratio).join(', ')}); goal ≤ ${ratio(goalRatio)}: ` +
        `${goalVerdict(s.stepRatio, s.stepRoundRatios)}. The worker process used ${s.workerCpuRestoreStepS.toFixed(1)} s ` +
        `of CPU during the step (median).`,
    );
  }
  // From raw pg_restore to the restore step, one change at a time.
  const chain: string[] = [];
  let previous: { what: Measured; label: string; ms: number } = { what: 'raw', label: labels.raw, ms: raw };
  const link = (what: Measured, label: string, ms: number, description: string) => {
    const perRound = rounds.map((round) => timeOf(round, what)! / timeOf(round, previous.what)!);
    const slower = perRound.filter((value) => value > 1).length;
    chain.push(
      `  - ${label}: ${seconds(ms)} (${signed(ms - previous.ms)} on ${previous.label}; per round ` +
        `${perRound.map(ratio).join(', ')} of it, slower in ${slower} of ${perRound.length}) — ${description}`,
    );
    previous = { what, label, ms };
  };
  if (summary.rawPipe) {
    link(
      'raw-pipe',
      labels['raw-pipe'],
      summary.rawPipe.ms,
      'pg_restore writing SQL into psql instead of talking to the server itself',
    );
  }
  if (summary.runRestore) {
    link(
      'run-restore',
      labels['run-restore'],
      summary.runRestore.ms,
      `the same two processes with the SQL relayed through Node (read from pg_restore, scanned for COPY rows and ` +
        `the closing COMMIT, written to psql), the wipe before and the count(*) check before COMMIT (the check ` +
        `alone about ${seconds(summary.countAllMs)}); the relaying process used ${summary.runRestore.cpuS.toFixed(1)} s of CPU`,
    );
  }
  const step = summary.lifeboat['lifeboat-new'];
  if (step) {
    link(
      'step-new',
      `${labels['lifeboat-new']}, restore step`,
      step.restoreStepMs,
      `runRestore inside the activity on the worker, after reading the table of contents (${seconds(tocMs)} ` +
        'alone) and looking at the destination',
    );
  }
  if (chain.length > 1) lines.push('- Where the difference goes, one change at a time (medians):', ...chain);
  const target = summary.lifeboat['lifeboat-target'];
  if (target) {
    lines.push(
      `- The safety backup before a restore into an existing target took **${seconds(target.safetyBackupMs)}** ` +
        `(${ratio(target.safetyBackupMs / raw)} raw pg_restore); with validate, verify and the rest, the whole ` +
        `restore took ${seconds(target.ms)}, ${ratio(target.endToEndRatio)} raw pg_restore.`,
    );
  }
  const anyRun = step ?? target;
  if (anyRun) {
    lines.push(
      `- Before any restore, the preview (which issues the confirmation token) fetches and unpacks the whole archive ` +
        `to read its table of contents: ${seconds(anyRun.previewMs)}; the restore's validate step then does the same ` +
        `work again (${seconds(anyRun.validateMs)}).`,
    );
  }
  return lines;
}

function resultsMarkdown(report: Report): string {
  const { facts, database, summary, backup } = report;
  const generated = database.reused
    ? 'reused from an earlier run'
    : `generated in ${seconds(database.generateMs ?? Number.NaN)}`;
  const tableRows = report.tables.map((table) => [
    `app.${table.name}`,
    String(table.rows),
    megabytes(table.bytes),
    tableContents[table.name] ?? '',
  ]);
  return `# Restore benchmark: Lifeboat against raw pg_restore

Written by \`bench/restore-bench.ts\` (issue #4); every figure below was measured by that one run.

Command (from the checkout):

\`\`\`sh
${report.command}
\`\`\`

## Machine and software

- date: ${facts.date}
- CPU: ${facts.nproc} × ${facts.cpuModel}; kernel ${facts.kernel}; Node ${facts.node}
- PostgreSQL: ${facts.postgres}; ${facts.pgDump}
- Lifeboat code measured: ${report.code}${report.codeChanged ? ' — **the checkout changed during the run: figures may mix two versions**' : ''}
- cluster: started by the benchmark in \`bench/out/pg\`, fsync **${clusterFsync ? 'on' : 'off'}** (for every contender alike: restores write, so this favours all of them equally over a production server); default shared_buffers
- memory (\`free -g\`):

\`\`\`
${facts.freeG}
\`\`\`

## Method

One generated database, \`${database.name}\` (${megabytes(database.sizeBytes)}, ${generated}), and one Lifeboat backup
of it taken by the benchmark's worker (${seconds(backup.ms)}; archive ${megabytes(backup.archiveBytes)}, ${backup.formats}; the
pg_dump file inside is ${megabytes(backup.dumpBytes)}). The dump is extracted from that archive once (\`tar --zstd -x\`)
for the raw contenders, so all of them restore the very same file. Then ${report.options.runs} round(s), the order
rotated each round, of:

- **${labels.raw}**: \`pg_restore ${restoreFlags.join(' ')} --exit-on-error -d ${rawDatabase} <dump>\` into a fresh
  empty database (\`create database … template template0\`, as Lifeboat creates one): the baseline. These are the
  flags Lifeboat gives pg_restore for a full restore with \`noOwner\` (activities/pg-restore.ts, activities/restore.ts);
  \`--exit-on-error\` is what psql's ON_ERROR_STOP does in Lifeboat's pipe.
- **${labels['raw-pipe']}**: the same flags, pg_restore writing SQL into \`psql --set=ON_ERROR_STOP=1\` through a
  shell pipe: the shape of Lifeboat's restore without Lifeboat, to separate the cost of the pipe from Lifeboat's own.
- **${labels['run-restore']}**: \`runRestore\` from activities/pg-restore.ts called in the benchmark's process with
  what the restore step gives it in mode full with \`noOwner\` (the wipe before, the row check before COMMIT), into a
  fresh empty database: Lifeboat's relay of the SQL through Node, without the activity, the worker or Temporal.
- **${labels['lifeboat-new']}**: the full flow as the API runs it, in process (\`previewRestore\`, then
  \`startRestore\` with its confirmation token, api/start-restore.ts), mode full, \`noOwner\`, destination a new database
  on the same server: no safety backup, and the restore step writes into an empty database exactly like the
  baseline. **This is the fair comparison of the restore step.**
- **${labels['lifeboat-target']}**: the same, into a second registered target whose database holds a full copy of
  the data (made once from the generated database as a template, and after that left as the previous restore
  wrote it): a safety backup of it first, then the restore step, which also drops what is there.

Each Lifeboat restore is timed from the start request to the workflow's result (the preview before it is timed
apart); its steps are the activity windows (started → closed) of the run's Temporal history, and the safety backup
is the time between its \`started\` and \`completed\` records in the restore operation's \`steps\`. A checkpoint and
\`sync\` run before each measurement; databases a contender created are dropped after it, and the target's database
is vacuumed (freeze, analyze) after each restore into it, outside the timed window. After each raw restore, untimed,
the benchmark counts the rows of every table (\`count(*)\`), the query Lifeboat runs inside its transaction and
again in its verify step. Figures are medians; ratios are to the raw pg_restore of the same run (and of the same
round, for the per-round figures).

## Results

${markdownTable(mainHeader, mainRows(summary, backup.dumpBytes))}

### Lifeboat's steps

${stepsTable(summary)}

### What this shows

${report.findings.join('\n')}

### Every round

${roundsTable(report.rounds)}

## Caveats

- The machine has 2 cores shared with other people's tests. A restore keeps pg_restore, psql (Lifeboat and
  raw-pipe), the PostgreSQL backend and, for Lifeboat, the worker busy at once, so it is more sensitive to the
  other load than a backup; the per-round ratios show the spread.
- Two estimates of each ratio are given because the load from other work changes within a run: the ratio of
  the medians, and the median of the ratios of each round (each run against the raw pg_restore of its own round).
  The goal counts as met only when both are within it.
- fsync is off on the benchmark's cluster: on a production server the commit and the index builds write to disk
  for every contender alike, which makes the fixed costs above a smaller share.
- The safety backup is the backup of the destination as it is, so its time follows the destination's size (here
  the same data as the backup), not the backup's.
- Reading the table of contents (pg_restore --list, then its headers) was timed on its own: ${seconds(report.tocMs)}.

## The data

\`${database.name}\`: ${megabytes(database.sizeBytes)} (${generated})

${markdownTable(['table', 'rows', 'size with TOAST and indexes', 'content'], tableRows)}
`;
}

// ---------------------------------------------------------------------------------------------------

/** Runs the clean-ups (newest first) once, on the way out or on Ctrl-C / SIGTERM. */
function cleanupStack(): { add(cleanup: () => Promise<void>): void; run(): Promise<void> } {
  const cleanups: (() => Promise<void>)[] = [];
  let running: Promise<void> | undefined;
  const run = () =>
    (running ??= (async () => {
      for (const cleanup of cleanups.reverse()) {
        await cleanup().catch((error: unknown) => console.error(`bench: cleanup failed: ${String(error)}`));
      }
    })());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`bench: ${signal}: stopping everything the benchmark started…`);
      void run().finally(() => process.exit(130));
    });
  }
  return { add: (cleanup) => cleanups.push(cleanup), run };
}

async function takeBackup(client: Client, db: pg.Pool, target: Target, taskQueue: string) {
  const backupId = randomUUID();
  const startedAt = new Date();
  const startedMs = performance.now();
  await client.workflow.execute(backupWorkflow, {
    taskQueue,
    workflowId: backupWorkflowId(target.name, startedAt, backupId),
    args: [
      {
        backupId,
        targetId: target.id,
        trigger: 'manual',
        requestedBy: 'bench',
        displayName: 'restore benchmark',
        description: null,
        tags: ['bench'],
        protected: true,
        startedAt: startedAt.toISOString(),
      },
    ],
  });
  return { backup: await getBackup(db, backupId), ms: performance.now() - startedMs };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const cleanups = cleanupStack();
  log('starting PostgreSQL and the Temporal dev server…');
  const stack = await startBenchStack();
  cleanups.add(() => stack.stop());
  try {
    const { cluster } = stack;
    const connection = await Connection.connect({ address: stack.temporal.address });
    cleanups.add(() => connection.close());
    const client = new Client({ connection });
    const db = new pg.Pool({ connectionString: stack.catalogUrl, max: 4 });
    cleanups.add(() => db.end());
    const facts = await machineFacts(cluster);
    const codeAtStart = codeVersion();
    const generated = await ensureBenchDatabase(cluster, options.sizeMb, log);
    log(`${generated.name}: ${megabytes(generated.sizeBytes)}${generated.reused ? ' (reused)' : ''}`);
    const tables = await describeTables(cluster, generated.name);

    const secretKey = randomBytes(32).toString('hex');
    const secrets = createSecretBox(secretKey);
    const source = await createBenchTarget(db, secretKey, cluster, generated.name, undefined);
    const resolvedDest = resolveTargetInput({
      name: 'bench-restore-dest',
      host: '127.0.0.1',
      port: cluster.port,
      database: destDatabase,
      username: cluster.superuser,
      password: cluster.password,
    });
    if (!resolvedDest.ok) throw new Error(`${resolvedDest.field}: ${resolvedDest.message}`);
    const dest = await createTarget(db, secrets, resolvedDest.value);

    const storageDir = path.join(runDir, 'storage');
    const taskQueue = 'bench-restore';
    const worker = await startWorkerProcess({
      catalogUrl: stack.catalogUrl,
      secretKey,
      temporalAddress: stack.temporal.address,
      taskQueue,
      workerId: 'bench-restore',
      storageDir,
      workDir: path.join(runDir, 'work'),
      workflowBundlePath: stack.workflowBundlePath,
      logFile: path.join(runDir, 'worker-restore.log'),
    });
    cleanups.add(() => worker.stop());
    for (const name of [rawDatabase, newDatabase, destDatabase]) {
      cleanups.add(() => dropDatabase(cluster, name));
    }

    log(`backing up ${generated.name} with Lifeboat…`);
    const { backup, ms: backupMs } = await takeBackup(client, db, source, taskQueue);
    const archive = path.join(storageDir, backup.storageKey!);
    const dumpEntry = backup.manifest!.files.find((file) => file.path.startsWith('database/'))!;
    log(`backup: ${seconds(backupMs)}, archive ${megabytes(backup.sizeBytes ?? 0)}; extracting the dump…`);
    const dumpDir = path.join(runDir, 'dump');
    mkdirSync(dumpDir, { recursive: true });
    execFileSync('tar', ['--zstd', '-xf', archive, '-C', dumpDir, dumpEntry.path]);
    const dumpFile = path.join(dumpDir, dumpEntry.path);
    if (statSync(dumpFile).size !== dumpEntry.sizeBytes)
      throw new Error(`${dumpFile}: not the manifest's size`);

    // Lifeboat's own table-of-contents reader, as its restore step runs it before pg_restore.
    const tocStartedMs = performance.now();
    await readToc(clientTools(cluster).pgRestore, dumpFile, dumpDir);
    const tocMs = performance.now() - tocStartedMs;

    log(`copying ${generated.name} into ${destDatabase}, the restore target's database…`);
    await dropDatabase(cluster, destDatabase);
    await adminQuery(cluster, `create database ${destDatabase} template ${generated.name}`);

    // What the API process holds, for previewRestore and startRestore run in this process.
    const storages = createStorageRegistry(`file://${storageDir}`, () => undefined);
    cleanups.add(() => storages.closeAll());
    const deps: ApiDeps = {
      db,
      secrets,
      storage: storages.open(storages.defaultUrl),
      storages,
      temporal: client,
      taskQueue,
    };
    const context: RestoreContext = { deps, db, client, worker, backupId: backup.id };

    const rounds: Round[] = [];
    for (let index = 0; index < options.runs; index++) {
      const round: Round = { order: orderOf(options.contenders, index) };
      const progress = (what: string) => log(`round ${index + 1}/${options.runs} ${what}`);
      for (const id of round.order) {
        if (id === 'raw' || id === 'raw-pipe' || id === 'run-restore') {
          await dropDatabase(cluster, rawDatabase);
          await adminQuery(cluster, `create database ${rawDatabase} template template0`);
          await settle(cluster);
          if (id === 'raw') {
            const ms = await timeRawRestore(cluster, dumpFile);
            const countAllMs = await timeCountAll(cluster, rawDatabase, tables);
            round.raw = { ms, countAllMs };
            progress(
              `${labels.raw}: ${seconds(ms)} (count(*) of every table afterwards: ${seconds(countAllMs)})`,
            );
          } else if (id === 'raw-pipe') {
            const ms = await timePipedRestore(cluster, dumpFile);
            round.rawPipe = { ms };
            progress(`${labels['raw-pipe']}: ${seconds(ms)}`);
          } else {
            const run = await timeRunRestore(cluster, dumpFile);
            round.runRestore = run;
            progress(
              `${labels['run-restore']}: ${seconds(run.ms)} (CPU of the relaying process ${run.cpuS.toFixed(1)} s)`,
            );
          }
          await dropDatabase(cluster, rawDatabase);
        } else if (id === 'lifeboat-new') {
          await dropDatabase(cluster, newDatabase);
          await settle(cluster);
          const run = await timeLifeboatRestore(context, { database: newDatabase });
          round.lifeboatNew = run;
          progress(
            `${labels[id]}: ${seconds(run.ms)} (preview ${seconds(run.previewMs)} before it; validate ` +
              `${seconds(run.validateMs)}, restore step ${seconds(run.restoreStepMs)}, verify ${seconds(run.verifyMs)})`,
          );
          await dropDatabase(cluster, newDatabase);
        } else {
          await settle(cluster);
          const run = await timeLifeboatRestore(context, { target: dest.name });
          round.lifeboatTarget = run;
          progress(
            `${labels[id]}: ${seconds(run.ms)} (preview ${seconds(run.previewMs)} before it; validate ` +
              `${seconds(run.validateMs)}, safety backup ${seconds(run.safetyBackupMs)}, restore step ` +
              `${seconds(run.restoreStepMs)}, verify ${seconds(run.verifyMs)})`,
          );
          // The safety backup's archive is not needed again; the destination is settled for the next round.
          await rm(path.join(storageDir, dest.name), { recursive: true, force: true });
          const destination = new pg.Client({ connectionString: cluster.url(destDatabase) });
          await destination.connect();
          await destination.query('vacuum (freeze, analyze)').finally(() => destination.end());
        }
      }
      rounds.push(round);
    }

    const summary = summarize(rounds);
    const codeAtEnd = codeVersion();
    const report: Report = {
      command: ['bash bench/restore-run.sh', ...process.argv.slice(2)].join(' '),
      facts,
      code: codeAtStart === codeAtEnd ? codeAtStart : `${codeAtStart}, and at the end ${codeAtEnd}`,
      codeChanged: codeAtStart !== codeAtEnd,
      options,
      database: generated,
      tables,
      backup: {
        ms: backupMs,
        archiveBytes: backup.sizeBytes ?? Number.NaN,
        dumpBytes: dumpEntry.sizeBytes,
        formats: `pg_dump ${backup.manifest!.pgDump.format} (compression ${backup.manifest!.pgDump.compression}), archive ${backup.manifest!.archive.compression}`,
      },
      tocMs,
      rounds,
      summary,
      findings: findings(summary, rounds, tocMs),
    };
    const console_ = [mainHeader, ...mainRows(summary, dumpEntry.sizeBytes)].map((cells) =>
      cells.map((cell) => cell.replace(/\*\*/g, '')),
    );
    const widths = mainHeader.map((_, i) => Math.max(...console_.map((cells) => (cells[i] ?? '').length)));
    console.log(
      `\n${console_.map((cells) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n')}\n`,
    );
    console.log(report.findings.join('\n'));
    writeFileSync(options.resultsFile, resultsMarkdown(report));
    log(`wrote ${path.relative(process.cwd(), options.resultsFile)}`);
  } finally {
    await cleanups.run();
  }
}

await main();
