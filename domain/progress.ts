// The steps of a backup and how far along each puts it, for the progress query.

export const backupSteps = ['starting', 'dump', 'archive', 'upload', 'record', 'done'] as const;
export type BackupStep = (typeof backupSteps)[number];

export interface BackupProgress {
  step: BackupStep;
  percent: number;
  bytes: number;
  status: 'running' | 'completed' | 'failed' | 'cancelled';
}

/** What a backup activity reports while it works, sent to the workflow as the `progress` signal. */
export interface BackupProgressUpdate {
  step: BackupStep;
  percent: number;
  bytes: number;
}

/** Share of the whole backup reached at the start of each step; the dump takes most of the time. */
const stepStartPercent: Record<BackupStep, number> = {
  starting: 0,
  dump: 2,
  archive: 75,
  upload: 85,
  record: 97,
  done: 100,
};

/**
 * Percent for a step with `fraction` of it done (0..1). The dump's fraction comes from bytes written
 * against the database size, a rough guide since compression shrinks the dump.
 */
export function progressPercent(step: BackupStep, fraction: number): number {
  const index = backupSteps.indexOf(step);
  const start = stepStartPercent[step];
  const next = backupSteps[index + 1];
  const end = next ? stepStartPercent[next] : 100;
  const clamped = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  return Math.round(start + (end - start) * clamped);
}
