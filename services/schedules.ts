// Backup schedules as Temporal Schedules: the one source of truth, also steerable with `temporal schedule`.
import {
  type Client,
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  type ScheduleDescription,
  type ScheduleOptionsStartWorkflowAction,
} from '@temporalio/client';
import type pg from 'pg';
import type { ScheduleDefinition } from '../domain/backup.ts';
import { backupOutcomesByWorkflowId, lastCompletedBackupAt } from '../catalog/schedule-runs.ts';
import type { Target } from '../catalog/targets.ts';
import { LifeboatError } from '../domain/errors.ts';
import { scheduleCron, scheduleId, scheduleIdPrefix, type ScheduleInput } from '../domain/schedule.ts';
import { statusAttribute, targetAttribute, triggerAttribute } from '../domain/search-attributes.ts';
import type { backupWorkflow, BackupWorkflowInput } from '../workflows/backup.ts';
import type { ServiceDeps } from './deps.ts';

/** A missed run is still taken if the service was down for less than this. */
export const catchupWindowMs = 60 * 60 * 1000;

export interface ScheduleView {
  id: string;
  name: string;
  description: string | null;
  target: { id: string; name: string };
  frequency: string | null;
  cron: string;
  timeZone: string;
  options: { tags: string[]; format: 'custom' };
  enabled: boolean;
  note: string | null;
  nextRunTimes: string[];
  recentRuns: {
    workflowId: string;
    scheduledAt: string;
    startedAt: string;
    status: string;
    errorCode: string | null;
  }[];
  consecutiveFailures: number;
  lastSuccessAt: string | null;
  actionsTaken: number;
  createdAt: string;
  updatedAt: string | null;
}

function definitionOf(input: BackupWorkflowInput | undefined): ScheduleDefinition | undefined {
  return input?.schedule;
}

function actionFor(
  deps: ServiceDeps,
  target: Target,
  input: ScheduleInput,
): ScheduleOptionsStartWorkflowAction<typeof backupWorkflow> {
  const definition: ScheduleDefinition = {
    name: input.name,
    description: input.description ?? null,
    targetName: target.name,
    frequency: input.frequency ?? null,
    cron: scheduleCron(input),
  };
  return {
    type: 'startWorkflow',
    workflowType: 'backupWorkflow',
    taskQueue: deps.taskQueue,
    workflowId: `backup/${target.name}/scheduled-${input.name}`,
    args: [
      {
        targetId: target.id,
        trigger: 'scheduled',
        requestedBy: `schedule:${input.name}`,
        displayName: input.name,
        description: input.description ?? null,
        tags: input.options.tags,
        protected: false,
        schedule: definition,
      },
    ],
    typedSearchAttributes: [
      { key: targetAttribute, value: target.name },
      { key: triggerAttribute, value: 'scheduled' },
      { key: statusAttribute, value: 'running' },
    ],
    staticSummary: `Scheduled backup of ${target.name} (${input.name})`,
  };
}

function notFound(name: string): LifeboatError {
  return new LifeboatError('NOT_FOUND', `No backup schedule "${name}".`);
}

/** Accepts the schedule's name or its Temporal id. */
function idOf(nameOrId: string): string {
  return nameOrId.startsWith(scheduleIdPrefix) ? nameOrId : scheduleId(nameOrId);
}

/** A schedule another request deleted between the describe and the change is gone: NOT_FOUND, not a 500. */
async function changing<T>(nameOrId: string, change: () => Promise<T>): Promise<T> {
  try {
    return await change();
  } catch (error) {
    if (error instanceof ScheduleNotFoundError) throw notFound(nameOrId);
    throw error;
  }
}

async function describe(deps: ServiceDeps, nameOrId: string): Promise<ScheduleDescription> {
  try {
    return await deps.temporal.schedule.getHandle(idOf(nameOrId)).describe();
  } catch (error) {
    if (error instanceof ScheduleNotFoundError) throw notFound(nameOrId);
    throw error;
  }
}

/** For a run the catalog no longer lists (retention removed it, or it has not started yet). */
async function workflowStatus(temporal: Client, workflowId: string): Promise<string> {
  try {
    const status = (await temporal.workflow.getHandle(workflowId).describe()).status.name;
    return status === 'COMPLETED' ? 'completed' : status.toLowerCase();
  } catch {
    return 'unknown';
  }
}

async function view(db: pg.Pool, temporal: Client, description: ScheduleDescription): Promise<ScheduleView> {
  const input = description.action.args?.[0] as BackupWorkflowInput | undefined;
  const definition = definitionOf(input);
  if (!input || !definition) {
    throw new LifeboatError('CONFLICT', `Schedule ${description.scheduleId} was not made by Lifeboat.`);
  }
  const recent = [...description.info.recentActions].sort(
    (a, b) => b.scheduledAt.getTime() - a.scheduledAt.getTime(),
  );
  const outcomes = await backupOutcomesByWorkflowId(
    db,
    recent.map((run) => run.action.workflow.workflowId),
  );
  const recentRuns = await Promise.all(
    recent.map(async (run) => {
      const outcome = outcomes.get(run.action.workflow.workflowId);
      return {
        workflowId: run.action.workflow.workflowId,
        scheduledAt: run.scheduledAt.toISOString(),
        startedAt: run.takenAt.toISOString(),
        status: outcome?.status ?? (await workflowStatus(temporal, run.action.workflow.workflowId)),
        errorCode: outcome?.errorCode ?? null,
      };
    }),
  );
  let consecutiveFailures = 0;
  for (const run of recentRuns) {
    if (run.status === 'running') continue;
    if (run.status !== 'failed') break;
    consecutiveFailures++;
  }
  return {
    id: description.scheduleId,
    name: definition.name,
    description: definition.description,
    target: { id: input.targetId, name: definition.targetName },
    frequency: definition.frequency,
    cron: definition.cron,
    timeZone: description.spec.timezone ?? 'UTC',
    options: { tags: input.tags, format: 'custom' },
    enabled: !description.state.paused,
    note: description.state.note || null,
    nextRunTimes: description.info.nextActionTimes.map((time) => time.toISOString()),
    recentRuns,
    consecutiveFailures,
    lastSuccessAt: await lastCompletedBackupAt(db, `schedule:${definition.name}`),
    actionsTaken: description.info.numActionsTaken,
    createdAt: description.info.createdAt.toISOString(),
    updatedAt: description.info.lastUpdatedAt?.toISOString() ?? null,
  };
}

/** Temporal's own refusal of a spec (say, a cron it cannot read) is the caller's input error. */
function specError(error: unknown): never {
  const message = (error as Error).message ?? String(error);
  if (/invalid|cron|time ?zone|spec/i.test(message) && !(error instanceof LifeboatError)) {
    throw new LifeboatError('VALIDATION_FAILED', `Temporal refused the schedule: ${message}`, {
      field: 'cron',
    });
  }
  throw error;
}

export async function createSchedule(
  deps: ServiceDeps,
  target: Target,
  input: ScheduleInput,
  timeZone: string,
) {
  try {
    await deps.temporal.schedule.create({
      scheduleId: scheduleId(input.name),
      spec: { cronExpressions: [scheduleCron(input)], timezone: timeZone },
      action: actionFor(deps, target, input),
      policies: { overlap: 'SKIP', catchupWindow: catchupWindowMs, pauseOnFailure: false },
      state: { paused: !input.enabled, note: input.enabled ? 'created' : 'created disabled' },
      memo: { lifeboat: 'backup-schedule' },
    });
  } catch (error) {
    if (error instanceof ScheduleAlreadyRunning) {
      throw new LifeboatError('CONFLICT', `A schedule named "${input.name}" already exists.`, {
        field: 'name',
      });
    }
    specError(error);
  }
  return getSchedule(deps, input.name);
}

export async function getSchedule(deps: ServiceDeps, nameOrId: string): Promise<ScheduleView> {
  return view(deps.db, deps.temporal, await describe(deps, nameOrId));
}

/** How many schedules are described at once when listing them: Temporal answers each describe on its own. */
const describeConcurrency = 8;

export async function listSchedules(deps: ServiceDeps): Promise<ScheduleView[]> {
  const ids: string[] = [];
  for await (const summary of deps.temporal.schedule.list()) {
    if (summary.scheduleId.startsWith(scheduleIdPrefix)) ids.push(summary.scheduleId);
  }
  const views: ScheduleView[] = [];
  const describeNext = async (): Promise<void> => {
    for (let id = ids.pop(); id !== undefined; id = ids.pop()) {
      try {
        views.push(await getSchedule(deps, id));
      } catch (error) {
        // Listing is eventually consistent: a schedule deleted a moment ago may still be listed.
        if (!(error instanceof LifeboatError && error.code === 'NOT_FOUND')) throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(describeConcurrency, ids.length) }, describeNext));
  return views.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * The schedules, or undefined when Temporal has not listed and described them within `timeoutMs`: for the
 * summaries (statistics, health) that answer without schedules rather than keep their caller waiting.
 */
export async function listSchedulesWithin(
  deps: ServiceDeps,
  timeoutMs = 5_000,
): Promise<ScheduleView[] | undefined> {
  const listing = listSchedules(deps);
  // Once the deadline has passed, a late failure of the listing concerns no one.
  listing.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      listing,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export async function updateSchedule(
  deps: ServiceDeps,
  nameOrId: string,
  target: Target,
  input: ScheduleInput,
  timeZone: string,
): Promise<ScheduleView> {
  const current = await getSchedule(deps, nameOrId);
  if (input.name !== current.name) {
    throw new LifeboatError('VALIDATION_FAILED', 'A schedule cannot be renamed; create a new one instead.', {
      field: 'name',
    });
  }
  try {
    await deps.temporal.schedule.getHandle(current.id).update((previous) => ({
      spec: { cronExpressions: [scheduleCron(input)], timezone: timeZone },
      action: actionFor(deps, target, input),
      policies: { overlap: 'SKIP', catchupWindow: catchupWindowMs, pauseOnFailure: false },
      state: { paused: !input.enabled, note: previous.state.note ?? '' },
    }));
  } catch (error) {
    if (error instanceof ScheduleNotFoundError) throw notFound(nameOrId);
    specError(error);
  }
  return getSchedule(deps, current.id);
}

export async function setScheduleEnabled(
  deps: ServiceDeps,
  nameOrId: string,
  enabled: boolean,
  note: string,
) {
  const current = await getSchedule(deps, nameOrId);
  const handle = deps.temporal.schedule.getHandle(current.id);
  await changing(nameOrId, () => (enabled ? handle.unpause(note) : handle.pause(note)));
  return getSchedule(deps, current.id);
}

/**
 * Runs the schedule's backup now, under the schedule's own overlap policy (skip): a trigger while a
 * run is in progress is dropped rather than queued. (With BUFFER_ONE or ALLOW_ALL, the Temporal 1.29.1
 * dev server's schedule stopped answering describe calls (DEADLINE_EXCEEDED) after such a trigger.)
 */
export async function triggerSchedule(deps: ServiceDeps, nameOrId: string): Promise<ScheduleView> {
  const current = await getSchedule(deps, nameOrId);
  await changing(nameOrId, () => deps.temporal.schedule.getHandle(current.id).trigger());
  return current;
}

export async function deleteSchedule(deps: ServiceDeps, nameOrId: string): Promise<void> {
  const current = await getSchedule(deps, nameOrId);
  await changing(nameOrId, () => deps.temporal.schedule.getHandle(current.id).delete());
}
