// The messages of drillWorkflow: the progress its drill step reports, and the query that reads it.
import { defineQuery, defineSignal } from '@temporalio/workflow';

export interface DrillProgress {
  step: 'queued' | 'fetch' | 'restore' | 'checks' | 'done';
  bytes: number;
}

export const drillProgressSignal = defineSignal<[DrillProgress]>('drillProgress');
export const drillProgressQuery = defineQuery<DrillProgress>('progress');
