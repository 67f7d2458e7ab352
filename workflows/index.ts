// Every workflow the worker registers.
export { backupWorkflow } from './backup.ts';
export { retentionSweepWorkflow } from './retention.ts';
export { targetRetentionWorkflow } from './target-retention.ts';
export { restorePreviewWorkflow } from './restore-preview.ts';
export { restoreWorkflow } from './restore.ts';
export { notifyStaleCheckWorkflow, notifyTestWorkflow, notifyWorkflow } from './notify.ts';
export { setAsideSweepWorkflow } from './set-aside-sweep.ts';
export { drillScheduleWorkflow, drillWorkflow } from './drill.ts';
