// The workflows of restore-compensation.test.ts: the real restoreWorkflow, and a stand-in for its safety backup.
import { proxyActivities } from '@temporalio/workflow';

export { restoreWorkflow } from '../../../workflows/restore.ts';

export interface SafetyBackupFake {
  takeSafetyBackup(request: { backupId: string }): Promise<void>;
}

const fake = proxyActivities<SafetyBackupFake>({ startToCloseTimeout: '1m', retry: { maximumAttempts: 1 } });

/** Registered under the real backup workflow's name: restoreWorkflow runs it as its safety backup. */
export async function backupWorkflow(input: { backupId: string }): Promise<void> {
  await fake.takeSafetyBackup({ backupId: input.backupId });
}
