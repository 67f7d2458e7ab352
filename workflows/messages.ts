// Queries and signals of the backup workflow, shared by the workflow, the activities' sender and the API.
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { BackupProgress } from '../domain/progress.ts';
import type { ProgressUpdate } from '../activities/backup.ts';

export const progressQuery = defineQuery<BackupProgress>('progress');
export const progressSignal = defineSignal<[ProgressUpdate]>('progress');
