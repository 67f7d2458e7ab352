// Queries, signals and updates of the restore workflow, shared by the workflow, the activities and the API.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { RestoreProgress, RestoreProgressUpdate } from '../domain/restore/progress.ts';

/** Live progress: step, percent, the table loading now, status. */
export const restoreProgressQuery = defineQuery<RestoreProgress>('progress');

/** Sent by the restore's activities while they work: the restore's own updates, not the backup's. */
export const restoreProgressSignal = defineSignal<[RestoreProgressUpdate]>('restoreProgress');

export interface ApprovalRequest {
  /** The owner of the admin's API token (compared with the restore's requestedBy, also an owner). */
  approver: string;
}

export interface ApprovalResult {
  approvedBy: string;
  approvedAt: string;
}

/**
 * Approves a restore that waits for approval. Its validator refuses the admin who asked for the restore
 * (FORBIDDEN, in any state), then an approval when the restore is already approved or not waiting
 * (CONFLICT, with the reason). The workflow accepts it before the catalog says awaiting_approval, so an
 * approver who acts on that status at once is never refused as too early.
 */
export const approveUpdate = defineUpdate<ApprovalResult, [ApprovalRequest]>('approve');
