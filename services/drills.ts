// Drills as the API and the activities both handle them: asked for (on demand, after a backup, by the
// nightly schedule), listed, and each target's restorability: how much of what retention keeps is proven.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { getBackup, type Backup } from '../catalog/backups.ts';
import {
  createDrill,
  findDrill,
  latestDrills,
  listDrills,
  type Drill,
  type DrillTrigger,
} from '../catalog/drills.ts';
import { drillServerOf, getSettings } from '../catalog/settings.ts';
import { getTarget } from '../catalog/targets.ts';
import { drillWorkflowId } from '../domain/drill/checks.ts';
import { LifeboatError } from '../domain/errors.ts';
import type { drillWorkflow } from '../workflows/drill.ts';
import { drillProgressQuery, type DrillProgress } from '../workflows/drill-messages.ts';
import type { ServiceDeps } from './deps.ts';
import { queryWithin } from './live-progress.ts';

export interface RequestedDrill {
  drillId: string;
  workflowId: string;
  targetId: string;
}

/** Records a drill of `backup` (queued), with its workflow id; the caller starts the workflow. */
export async function recordDrillRequest(
  db: pg.Pool,
  backup: Backup,
  trigger: DrillTrigger,
  requestedBy: string | null,
): Promise<RequestedDrill> {
  if (backup.status !== 'completed') {
    throw new LifeboatError(
      'CONFLICT',
      `Backup ${backup.id} is ${backup.status}; only a completed backup is drilled.`,
    );
  }
  const drillId = randomUUID();
  const workflowId = drillWorkflowId(backup.targetName, backup.startedAt, drillId);
  await createDrill(db, {
    id: drillId,
    backupId: backup.id,
    targetId: backup.targetId,
    workflowId,
    trigger,
    requestedBy,
  });
  return { drillId, workflowId, targetId: backup.targetId };
}

/** Whether the settings name a drill server for the target: without one no drill can run. */
export async function drillServerSet(db: pg.Pool, targetName: string): Promise<boolean> {
  const { drills } = await getSettings(db);
  return drillServerOf(drills, targetName) !== null;
}

/** Starts a drill of the backup now (an operator's request); CONFLICT when no drill server is set. */
export async function startDrill(
  deps: ServiceDeps,
  backupId: string,
  requestedBy: string,
): Promise<RequestedDrill> {
  const backup = await getBackup(deps.db, backupId);
  if (!(await drillServerSet(deps.db, backup.targetName))) {
    throw new LifeboatError(
      'CONFLICT',
      `No drill server is set for target ${backup.targetName}: set settings.drills.server (a target whose server drills use).`,
    );
  }
  const requested = await recordDrillRequest(deps.db, backup, 'manual', requestedBy);
  await deps.temporal.workflow.start<typeof drillWorkflow>('drillWorkflow', {
    workflowId: requested.workflowId,
    taskQueue: deps.taskQueue,
    args: [{ drillId: requested.drillId, targetId: requested.targetId }],
  });
  return requested;
}

export interface DrillDetail extends Drill {
  /** While it runs: what the drill step is doing. */
  progress: DrillProgress | null;
}

export async function describeDrill(deps: ServiceDeps, id: string): Promise<DrillDetail> {
  const drill = /^[0-9a-f-]{36}$/i.test(id) ? await findDrill(deps.db, id) : undefined;
  if (!drill) throw new LifeboatError('NOT_FOUND', `No drill ${id}.`);
  const progress =
    drill.finishedAt === null ? await queryWithin(deps, drill.workflowId, drillProgressQuery) : null;
  return { ...drill, progress: progress ?? null };
}

export { listDrills };

/** What a backup shows of its newest finished drill. */
export interface Verification {
  status: 'passed' | 'failed' | 'error';
  verifiedAt: string;
  drillId: string;
  checks: Drill['checks'];
  rtoSeconds: number | null;
}

function verificationOf(drill: Drill | undefined): Verification | null {
  if (
    !drill?.finishedAt ||
    (drill.status !== 'passed' && drill.status !== 'failed' && drill.status !== 'error')
  ) {
    return null;
  }
  return {
    status: drill.status,
    verifiedAt: drill.finishedAt,
    drillId: drill.id,
    checks: drill.checks,
    rtoSeconds: drill.rtoSeconds,
  };
}

/** The backups, each with its verification: the outcome of its newest finished drill, or null. */
export async function withVerification<B extends { id: string }>(
  db: pg.Pool,
  backups: readonly B[],
): Promise<(B & { verification: Verification | null })[]> {
  const drills = await latestDrills(
    db,
    backups.map((backup) => backup.id),
  );
  return backups.map((backup) => ({ ...backup, verification: verificationOf(drills.get(backup.id)) }));
}

export interface Restorability {
  target: { id: string; name: string };
  /** The newest backup whose newest drill passed, with its age and restore time. */
  newestVerified: {
    backupId: string;
    startedAt: string;
    ageSeconds: number;
    rtoSeconds: number | null;
  } | null;
  /** Restore times of the passed drills, oldest first (the last 30). */
  rtoTrend: { at: string; rtoSeconds: number }[];
  /** Of the backups retention keeps now, how many a passed drill proves. */
  kept: { total: number; proven: number };
  /** The oldest kept backup no passed drill proves. */
  oldestUnproven: { backupId: string; startedAt: string } | null;
}

/** A target's drill report: the newest proven backup, the restore-time trend, how much of what is kept is proven. */
export async function targetRestorability(
  db: pg.Pool,
  idOrName: string,
  now = new Date(),
): Promise<Restorability> {
  const target = await getTarget(db, idOrName);
  const { rows: kept } = await db.query<{
    id: string;
    started_at: Date;
    proven: boolean;
    rto: number | null;
  }>(
    `select b.id, b.started_at,
            coalesce(last.status = 'passed', false) as proven, last.rto_seconds as rto
       from backups b
       left join lateral (
         select status, rto_seconds from drills d
          where d.backup_id = b.id and d.status in ('passed', 'failed') order by d.finished_at desc limit 1
       ) last on true
      where b.target_id = $1 and b.status = 'completed' and b.trashed_at is null
      order by b.started_at desc`,
    [target.id],
  );
  const { rows: trend } = await db.query<{ at: Date; rto: number }>(
    `select finished_at as at, rto_seconds as rto from (
       select finished_at, rto_seconds from drills
        where target_id = $1 and status = 'passed' and rto_seconds is not null
        order by finished_at desc limit 30) last order by at`,
    [target.id],
  );
  const newest = kept.find((row) => row.proven);
  const unproven = kept.filter((row) => !row.proven);
  const oldest = unproven[unproven.length - 1];
  return {
    target: { id: target.id, name: target.name },
    newestVerified: newest
      ? {
          backupId: newest.id,
          startedAt: newest.started_at.toISOString(),
          ageSeconds: Math.max(0, Math.round((now.getTime() - newest.started_at.getTime()) / 1000)),
          rtoSeconds: newest.rto,
        }
      : null,
    rtoTrend: trend.map((row) => ({ at: row.at.toISOString(), rtoSeconds: row.rto })),
    kept: { total: kept.length, proven: kept.length - unproven.length },
    oldestUnproven: oldest ? { backupId: oldest.id, startedAt: oldest.started_at.toISOString() } : null,
  };
}
