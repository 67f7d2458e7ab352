// Every workflow the worker registers.
export { backupWorkflow } from './backup.ts';
