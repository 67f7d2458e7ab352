// Every workflow the worker registers.
export { backupWorkflow } from './backup.ts';
export { retentionSweepWorkflow } from './retention.ts';
export { restorePreviewWorkflow, restoreWorkflow } from './restore.ts';
