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
 * Approves a restore that waits for approval. Its validator refuses an approval by the admin who asked
 * for the restore, and one that comes when the restore is not waiting.
 */
export const approveUpdate = defineUpdate<ApprovalResult, [ApprovalRequest]>('approve');
