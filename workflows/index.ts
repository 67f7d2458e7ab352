// Every workflow the worker registers.
export { backupWorkflow } from './backup.ts';
export { retentionSweepWorkflow } from './retention.ts';
