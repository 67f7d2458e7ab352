// The worker memory benchmark (issue #12): the real worker and API (`node worker/main.ts`, `node api/main.ts`,
// with the start settings of worker/memory.env) through a backup and a restore of a generated database, their
// RSS polled from /proc, against a minimal TypeScript worker and a bare Node process idling beside them.
// Options: --size-mb N[,N…] (databases, one after the other), --idle-s N (the wait before an idle figure),
// --settings on|off (off: the worker and API without worker/memory.env, to show what the settings do).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, waitForPort } from '../stack/ports.ts';
import { memoryReportPrefix, type MemoryReport } from '../worker/memory-report.ts';
import { readMemorySettings } from '../worker/memory-settings.ts';
import { ensureBenchDatabase } from './lib/data.ts';
import { cpuSeconds, poll, readStatusBytes, resetPeakRss, type Sample } from './lib/measure.ts';
import { parseOptions, wholeNumbers } from './lib/options.ts';
import { benchRoot, log, writeResults } from './lib/results.ts';
import * as bench from './lib/stack.ts';

const root = path.resolve(benchRoot, '..');
const options = parseOptions('worker-memory', {
  contenders: ['lifeboat'],
  baseline: 'lifeboat',
  runs: 1,
  options: { 'size-mb': '1100', 'idle-s': '30', settings: 'on' },
});
const sizesMb = wholeNumbers(options.values['size-mb'], 'size-mb', 16);
const idleMs = wholeNumbers(options.values['idle-s'], 'idle-s', 1)[0]! * 1000;
if (!['on', 'off'].includes(options.values.settings)) throw new Error('--settings wants on or off');
const mib = (bytes: number) => Math.round(bytes / 2 ** 20);

/**
 * Where a process's resident memory lies, from /proc/<pid>/smaps: glibc's main heap ([heap]), the other
 * anonymous mappings (V8's pages, malloc's other arenas, thread stacks) by size, and the code of node and of
 * the Temporal core's native module (its file-backed pages).
 */
function residentMap(pid: number) {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return undefined;
  }
  const totals = { brkHeapKiB: 0, anonKiB: 0, nodeCodeKiB: 0, coreBridgeKiB: 0, otherFileKiB: 0 };
  const anonymous: { sizeKiB: number; rssKiB: number }[] = [];
  let current: { name: string; sizeKiB: number } | undefined;
  for (const line of text.split('\n')) {
    const header = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (header) {
      const sizeKiB = (parseInt(header[2]!, 16) - parseInt(header[1]!, 16)) / 1024;
      current = { name: header[3]!.trim(), sizeKiB };
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (!rss || !current) continue;
    const kib = Number(rss[1]);
    const { name } = current;
    if (name === '[heap]') totals.brkHeapKiB += kib;
    else if (name === '' || name.startsWith('[')) {
      totals.anonKiB += kib;
      if (kib > 0) anonymous.push({ sizeKiB: current.sizeKiB, rssKiB: kib });
    } else if (name.includes('core-bridge')) totals.coreBridgeKiB += kib;
    else if (name.endsWith('/node')) totals.nodeCodeKiB += kib;
    else totals.otherFileKiB += kib;
  }
  const bySize = (min: number, max: number) =>
    anonymous.filter((m) => m.sizeKiB >= min && m.sizeKiB < max).reduce((sum, m) => sum + m.rssKiB, 0);
  return {
    ...Object.fromEntries(
      Object.entries(totals).map(([key, kib]) => [key.replace('KiB', 'MiB'), Math.round(kib / 1024)]),
    ),
    /** Anonymous RSS in mappings of 60–64 MiB (glibc's secondary arenas reserve 64 MiB each), and the rest. */
    anonIn64MiBMappingsMiB: Math.round(bySize(60 * 1024, 64 * 1024 + 1) / 1024),
    anonInOtherMappingsMiB: Math.round((totals.anonKiB - bySize(60 * 1024, 64 * 1024 + 1)) / 1024),
  };
}

interface Observed {
  name: string;
  pid: number;
  /** The memory reports it logged (the Lifeboat worker and the baseline worker log them). */
  reports: MemoryReport[];
  rss: { stop(): Sample[] };
  stop(): Promise<void>;
}

/** Spawns `args` with `env`, its output to bench/out/run/<name>.log; resolves once it prints `ready`. */
async function observe(name: string, args: string[], env: NodeJS.ProcessEnv, ready: string) {
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logFile = fs.createWriteStream(path.join(bench.runDir, `${name}.log`), { flags: 'a' });
  const reports: MemoryReport[] = [];
  let pending = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    const lines = (pending + chunk.toString()).split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      if (line.startsWith(memoryReportPrefix))
        reports.push(JSON.parse(line.slice(memoryReportPrefix.length)) as MemoryReport);
      else logFile.write(`${line}\n`);
    }
  });
  child.stderr!.pipe(logFile);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 180 s`)), 180_000);
    const onData = (chunk: Buffer) => {
      if (!chunk.includes(ready)) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      resolve();
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code}) before it was ready; see bench/out/run/${name}.log`));
    });
  });
  const pid = child.pid!;
  const rss = poll(() => readStatusBytes(pid, 'VmRSS'));
  return { name, pid, reports, rss, stop: () => bench.stopChild(child) } satisfies Observed;
}

await bench.withBenchStack(async (stack) => {
  const { cluster, client } = stack;
  const settings = options.values.settings === 'on' ? readMemorySettings() : {};
  const taskQueue = 'bench-memory';
  const workDir = path.join(bench.runDir, 'work');
  const tokenFile = path.join(bench.runDir, 'admin-token');
  const apiPort = await freePort();
  const common = {
    ...{ LIFEBOAT_DATABASE_URL: stack.catalogUrl, LIFEBOAT_SECRET_KEY: stack.secretKey },
    ...{ TEMPORAL_ADDRESS: stack.temporalAddress, LIFEBOAT_TASK_QUEUE: taskQueue },
    ...{ LIFEBOAT_STORAGE_URL: `file://${bench.storageDir}`, LIFEBOAT_WORK_DIR: workDir },
  };
  // The bench's own environment minus NODE_OPTIONS (run.sh's --expose-gc is for this process only).
  const inherited = { ...process.env };
  delete inherited.NODE_OPTIONS;
  const env = { ...inherited, ...settings, ...common };

  // The worker builds its workflow bundle into the work dir on first start, as on a fresh machine: timed.
  const startMs = performance.now();
  const worker = await observe(
    'worker',
    [path.join(root, 'worker/main.ts')],
    { ...env, LIFEBOAT_WORKER_ID: taskQueue, LIFEBOAT_MEMORY_REPORT_MS: '250' },
    ' polling ',
  );
  const firstStartMs = performance.now() - startMs;
  stack.cleanup(() => worker.stop());
  const api = await observe(
    'api',
    [path.join(root, 'api/main.ts')],
    { ...env, LIFEBOAT_API_PORT: String(apiPort), LIFEBOAT_ADMIN_TOKEN_FILE: tokenFile },
    ' listening ',
  );
  stack.cleanup(() => api.stop());
  await waitForPort(apiPort, 10_000);
  const baselineArgs = ['bench/worker-memory-baseline.ts', stack.temporalAddress, 'bench-memory-baseline'];
  const baseline = await observe(
    'baseline-worker',
    [...baselineArgs, stack.workflowBundlePath, '250'],
    { ...inherited, ...settings },
    ' polling ',
  );
  stack.cleanup(() => baseline.stop());
  const bare = await observe(
    'bare-node',
    ['-e', 'console.log("ready"); setInterval(() => {}, 1e6)'],
    env,
    'ready',
  );
  stack.cleanup(() => bare.stop());
  const processes = { worker, api, baseline, bare };

  const token = fs.readFileSync(tokenFile, 'utf8').trim();
  const call = async <T>(route: string, body: unknown): Promise<T> => {
    const response = await fetch(`http://127.0.0.1:${apiPort}/api/admin${route}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`POST ${route}: ${response.status} ${text}`);
    return JSON.parse(text) as T;
  };

  /** RSS now, the kernel's peak since the last reset, and the worker's latest report, of each process. */
  const snapshot = () =>
    Object.fromEntries(
      Object.entries(processes).map(([name, p]) => [
        name,
        {
          rssMiB: mib(readStatusBytes(p.pid, 'VmRSS') ?? NaN),
          hwmMiB: mib(readStatusBytes(p.pid, 'VmHWM') ?? NaN),
          report: breakdown(p.reports.at(-1)),
          resident: residentMap(p.pid),
        },
      ]),
    );
  const breakdown = (report: MemoryReport | undefined) =>
    report && {
      rssMiB: mib(report.rssBytes),
      heapUsedMiB: mib(report.heapUsedBytes),
      heapTotalMiB: mib(report.heapTotalBytes),
      externalMiB: mib(report.externalBytes),
      arrayBuffersMiB: mib(report.arrayBuffersBytes),
      nativeMiB: mib(report.nativeBytes),
      rssAnonMiB: mib(report.rssAnonBytes),
      rssFileMiB: mib(report.rssFileBytes),
    };
  /** A phase: the peaks reset first, then `run`; its time, the peaks (VmHWM) and the worker's report at its peak. */
  const phase = async (name: string, run: () => Promise<unknown>) => {
    for (const p of [worker, api]) resetPeakRss(p.pid);
    const fromMs = Date.now();
    log(`${name}…`);
    const [startedMs, cpuBefore] = [performance.now(), cpuSeconds(worker.pid)];
    await run();
    const ms = Math.round(performance.now() - startedMs);
    /** The worker's Node process only (user + system), not pg_dump, pg_restore or psql. */
    const workerCpuS = Math.round((cpuSeconds(worker.pid) - cpuBefore) * 100) / 100;
    const during = worker.reports.filter((report) => report.atMs >= fromMs);
    const peakReport = during.reduce<MemoryReport | undefined>(
      (a, b) => (a && a.rssBytes >= b.rssBytes ? a : b),
      undefined,
    );
    const result = {
      ms,
      workerCpuS,
      workerPeakMiB: mib(readStatusBytes(worker.pid, 'VmHWM') ?? NaN),
      apiPeakMiB: mib(readStatusBytes(api.pid, 'VmHWM') ?? NaN),
      workerAtPeak: breakdown(peakReport),
      workerMaxHeapUsedMiB: mib(Math.max(0, ...during.map((report) => report.heapUsedBytes))),
      workerMaxExternalMiB: mib(Math.max(0, ...during.map((report) => report.externalBytes))),
    };
    log(
      `${name}: ${ms} ms, worker CPU ${workerCpuS} s, worker peak ${result.workerPeakMiB} MiB, API peak ${result.apiPeakMiB} MiB`,
    );
    return result;
  };
  const idle = async (name: string) => {
    await sleep(idleMs);
    const figures = snapshot();
    log(`${name}: worker ${figures.worker!.rssMiB} MiB, baseline ${figures.baseline!.rssMiB} MiB`);
    return figures;
  };

  const startup = { firstStartMs: Math.round(firstStartMs), ...(await idle('idle after start')) };
  const runs = [];
  for (const sizeMb of sizesMb) {
    const database = await ensureBenchDatabase(cluster, sizeMb);
    const target = await bench.createBenchTarget(stack, { database: database.name });
    const restored = `bench_memory_restore_${sizeMb}`;
    const drop = () => bench.adminQuery(cluster, `drop database if exists ${restored} with (force)`);
    await drop();
    stack.cleanup(drop);
    let backupId = '';
    const backup = await phase(`backup of ${database.name}`, async () => {
      const started = await call<{ backupId: string; workflowId: string }>('/backups', {
        target: target.name,
      });
      backupId = started.backupId;
      await client.workflow.getHandle(started.workflowId).result();
    });
    const afterBackup = await idle('idle after the backup');
    const restore = await phase(`restore into ${restored}`, async () => {
      const body = { mode: 'full', noOwner: true, destination: { database: restored } };
      const { confirmationToken } = await call<{ confirmationToken: string }>(
        `/backups/${backupId}/restore/preview`,
        body,
      );
      const started = await call<{ workflowId: string }>(`/backups/${backupId}/restore`, {
        ...body,
        confirmationToken,
      });
      await client.workflow.getHandle(started.workflowId).result();
    });
    const afterRestore = await idle('idle after the restore');
    await drop();
    await rm(path.join(bench.storageDir, target.name), { recursive: true, force: true });
    const facts = { name: database.name, sizeBytes: database.sizeBytes, reused: database.reused };
    runs.push({ sizeMb, database: facts, backup, afterBackup, restore, afterRestore });
  }
  const lifetimePeaks = Object.fromEntries(
    Object.entries(processes).map(([name, p]) => [
      name,
      mib(Math.max(0, ...p.rss.stop().map((s) => s.value))),
    ]),
  );
  writeResults(options.outFile, {
    ...{ bench: 'worker-memory', command: options.command, machine: stack.machine },
    parameters: { sizesMb, idleMs, settings, stepSlots: 4, sampleMs: 100, reportMs: 250 },
    ...{ startup, runs, polledPeaksMiB: lifetimePeaks },
    notes: [
      'peaks are VmHWM, reset (clear_refs 5) at the start of each phase; idle figures are VmRSS after idle-s',
      'nativeMiB = RSS − V8 heap committed − external, from the worker’s own reports (every 250 ms)',
    ],
  });
  console.table(
    runs.flatMap((run) => [
      {
        size: run.sizeMb,
        phase: 'backup',
        ms: run.backup.ms,
        worker: run.backup.workerPeakMiB,
        api: run.backup.apiPeakMiB,
      },
      {
        size: run.sizeMb,
        phase: 'restore',
        ms: run.restore.ms,
        worker: run.restore.workerPeakMiB,
        api: run.restore.apiPeakMiB,
      },
      {
        size: run.sizeMb,
        phase: 'idle after',
        ms: idleMs,
        worker: run.afterRestore.worker!.rssMiB,
        api: run.afterRestore.api!.rssMiB,
      },
    ]),
  );
  console.table(Object.fromEntries(Object.entries(startup).filter(([key]) => key !== 'firstStartMs')));
});
