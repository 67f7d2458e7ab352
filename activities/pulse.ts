// The heartbeat of a long activity: Temporal hears from it every second, the workflow every few seconds.
import { Context } from '@temporalio/activity';
import type { SignalDefinition } from '@temporalio/common';
import type { ActivityDeps } from './deps.ts';
import { announce, type LiveRun } from './live.ts';

interface PulseUpdate {
  step?: string;
  percent?: number;
  bytes?: number;
  currentTable?: string | null | undefined;
}

/**
 * Heartbeats every second with `measure()` and signals it to the workflow every `progressIntervalMs`,
 * until the returned function is called (its `now()` beats at once). With `live`, the run's live stream hears of a backup's step at
 * once (`backup.step`) and of each change of progress at most once a second (`*.progress`). A failing
 * measurement, signal or event never fails the activity.
 */
export function startPulse<Update extends PulseUpdate>(
  deps: Pick<ActivityDeps, 'reportProgress' | 'progressIntervalMs' | 'db'>,
  workflowId: string | null,
  signal: SignalDefinition<[Update]>,
  measure: () => Update | Promise<Update>,
  live?: LiveRun,
): (() => void) & { now(): void } {
  const context = Context.current();
  const kind = live && 'backupId' in live ? 'backup' : 'restore';
  let lastReportMs = 0;
  let lastLive: string | undefined;
  const publish = async (update: Update, what: 'step' | 'progress') => {
    if (!live) return;
    const seen = `${update.step}:${update.percent}:${update.bytes}:${update.currentTable}`;
    if (what === 'progress' && seen === lastLive) return;
    lastLive = seen;
    await announce(deps, {
      type: `${kind}.${what}`,
      ...live,
      step: update.step,
      percent: update.percent,
      bytes: update.bytes,
      table: update.currentTable ?? undefined,
    });
  };
  // A backup's step changes are announced here; a restore's by its bookkeeping (recordRestoreStep), which
  // knows how each step went.
  // One activity may go through several steps (the streamed backup: dump, archive, upload): each new
  // step is announced when a measurement first shows it.
  let announcedStep: string | undefined;
  const announceStep = async (update: Update) => {
    if (!live || kind !== 'backup' || update.step === announcedStep) return;
    announcedStep = update.step;
    await publish(update, 'step');
  };
  Promise.resolve(measure())
    .then(announceStep)
    .catch(() => undefined);
  const beat = () => {
    Promise.resolve(measure())
      .then(async (update) => {
        context.heartbeat(update);
        await announceStep(update);
        await publish(update, 'progress');
        if (workflowId && Date.now() - lastReportMs >= deps.progressIntervalMs) {
          lastReportMs = Date.now();
          await deps.reportProgress(workflowId, signal, update);
        }
      })
      .catch(() => undefined);
  };
  const timer = setInterval(beat, 1_000);
  // `now()`: a beat at once, for a step that changed and must not wait (or be missed) until the next one.
  return Object.assign(() => clearInterval(timer), { now: beat });
}
