// A restore's steps, its status and progress as the workflow reports them, and the percent each step reaches.

export const restoreSteps = [
  'approval',
  'validate',
  'lock',
  'safety-backup',
  'restore-database',
  'restore-documents',
  'verify',
  'swap',
  'finish',
  'rollback',
  'done',
] as const;
export type RestoreStep = (typeof restoreSteps)[number];

export type RestoreStatus =
  'pending' | 'awaiting_approval' | 'running' | 'rolling_back' | 'completed' | 'failed' | 'cancelled';

export interface RestoreProgress {
  step: RestoreStep;
  percent: number;
  currentTable: string | null;
  status: RestoreStatus;
}

/** What an activity reports while it works, sent to the workflow as its `restoreProgress` signal. */
export interface RestoreProgressUpdate {
  step: RestoreStep;
  percent: number;
  bytes: number;
  currentTable?: string | null | undefined;
}

/** Share of the whole restore reached at the start and end of each step. */
const stepRange: Record<RestoreStep, [number, number]> = {
  approval: [0, 0],
  validate: [0, 10],
  lock: [10, 11],
  'safety-backup': [11, 30],
  'restore-database': [30, 80],
  'restore-documents': [80, 88],
  verify: [88, 95],
  swap: [95, 97],
  finish: [97, 100],
  // A rollback starts over: it is a restore of the safety backup.
  rollback: [0, 100],
  done: [100, 100],
};

/** Percent for a step with `fraction` of it done (0..1). */
export function restorePercent(step: RestoreStep, fraction: number): number {
  const [start, end] = stepRange[step];
  const clamped = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  return Math.round(start + (end - start) * clamped);
}
