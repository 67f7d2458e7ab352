// Queries and signals of the backup workflow, shared by the workflow, the activities' sender and the API.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { BackupProgress, BackupProgressUpdate } from '../domain/progress.ts';

export const progressQuery = defineQuery<BackupProgress>('progress');
export const progressSignal = defineSignal<[BackupProgressUpdate]>('progress');

/** Completes once the run's catalog row is written: the API answers a start only when the row exists. */
export const recordedUpdate = defineUpdate<void>('recorded');
