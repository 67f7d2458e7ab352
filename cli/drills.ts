// `lifeboat drill BACKUP_ID [--wait]` and `lifeboat drills [--status S]`: start a restore drill and follow
// it to its verdict, and list drills as a table of outcome, restore time and the check that failed.
import type { ApiClient } from './api-client.ts';

export const drillsUsage = `  drill BACKUP_ID [--wait]                               drill the backup now (restore it into a scratch
                                                         database on the drill server and check it);
                                                         --wait follows it and exits 1 unless it passed
  drills [--status queued|running|passed|failed|error] [--limit N]
                                                         restore drills, newest first`;

interface DrillView {
  id: string;
  backupId: string;
  targetName: string;
  status: string;
  rtoSeconds: number | null;
  errorMessage: string | null;
  finishedAt: string | null;
  checks: { name: string; label?: string; status: string; detail: string }[];
  progress?: { step: string; bytes: number } | null;
}

/** One line per drill: when, target, verdict, restore time, and what failed. */
export function drillTable(drills: readonly DrillView[]): string {
  const rows = drills.map((drill) => [
    drill.finishedAt?.slice(0, 19).replace('T', ' ') ?? '(running)',
    drill.targetName,
    drill.status,
    drill.rtoSeconds === null ? '-' : `${drill.rtoSeconds.toFixed(1)} s`,
    drill.id,
    drill.errorMessage ?? '',
  ]);
  const header = ['finished', 'target', 'status', 'restore time', 'drill', 'problem'];
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => Math.min(row[column]!.length, column === 5 ? 80 : 60))),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => cell.slice(0, column === 5 ? 80 : 60).padEnd(widths[column]!))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** Starts a drill; with `wait`, polls until it ends and returns it with whether it passed. */
export async function runDrillCommand(
  api: ApiClient,
  backupId: string,
  wait: boolean,
  say: (line: string) => void,
): Promise<{ drill: unknown; passed: boolean }> {
  const started = await api.request<{ drillId: string }>(
    'POST',
    `/api/admin/backups/${encodeURIComponent(backupId)}/drills`,
  );
  if (!wait) return { drill: started, passed: true };
  for (let last = ''; ;) {
    const drill = await api.request<DrillView>('GET', `/api/admin/drills/${started.drillId}`);
    const line = drill.progress ? `${drill.status} ${drill.progress.step}` : drill.status;
    if (line !== last) say(line);
    last = line;
    if (!['queued', 'running'].includes(drill.status)) {
      for (const check of drill.checks)
        say(`  ${check.status.padEnd(7)} ${check.label ?? check.name}: ${check.detail}`);
      return { drill, passed: drill.status === 'passed' };
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}

export async function listDrillsCommand(
  api: ApiClient,
  query: URLSearchParams,
  json: boolean,
): Promise<string> {
  const page = await api.request<{ items: DrillView[] }>('GET', `/api/admin/drills?${query.toString()}`);
  return json ? `${JSON.stringify(page, null, 2)}\n` : drillTable(page.items);
}
