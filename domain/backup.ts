// What a backup is asked to do, and the plan frozen when it starts that every later step receives.
import type { Compression } from './naming.ts';
import type { TargetConnection } from './target.ts';

/** What a person set on a backup schedule, carried in the schedule's action so Temporal holds it all. */
export interface ScheduleDefinition {
  name: string;
  description: string | null;
  targetName: string;
  frequency: string | null;
  cron: string;
}

/** What the person or schedule that asked for a backup said of it; kept on its catalog row as given. */
export interface BackupLabels {
  trigger: string;
  requestedBy: string | null;
  displayName: string | null;
  description: string | null;
  tags: string[];
  protected: boolean;
}

export interface BackupRequest extends BackupLabels {
  backupId: string;
  workflowId: string;
  targetId: string;
  startedAt: string;
  /** Set on runs a schedule starts: the schedule's own definition, kept in Temporal with it. */
  schedule?: ScheduleDefinition | undefined;
}

/**
 * Where a backup goes and how it is sealed, read from the target once when the run starts. A target
 * edited while the run goes on changes the next run, not this one. Holds no secret: the password is
 * read by the dump step on the worker, never carried in workflow history.
 */
export interface BackupPlan {
  targetId: string;
  targetName: string;
  connection: TargetConnection;
  documentsDir: string | null;
  compression: Compression;
  /** age recipients the archive is encrypted to; null for none. */
  recipients: string[] | null;
  /** Storage URLs, the primary first. */
  destinations: string[];
  /** Object key of the archive in every destination. */
  key: string;
}
