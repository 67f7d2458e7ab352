// backupWorkflow against the real dev server and PostgreSQL, started directly with a Temporal client.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Target } from '../../catalog/targets.ts';
import { getBackup } from '../../catalog/backups.ts';
import { backupWorkflowId } from '../../domain/naming.ts';
import { backupWorkflow } from '../../workflows/backup.ts';
import {
  createCatalogTarget,
  createDatabase,
  scratchDir,
  startTestWorker,
  useStack,
} from '../harness/stack.ts';
import { fillRichDatabase } from '../harness/fixtures.ts';

const { db, worker, client } = useStack();

/** A manual backup of `target` by backupWorkflow on `taskQueue`; `result` settles when it ends. */
function runBackupWorkflow(taskQueue: string, target: Target) {
  const backupId = randomUUID();
  const startedAt = new Date();
  const result = client.workflow.execute(backupWorkflow, {
    taskQueue,
    workflowId: backupWorkflowId(target.name, startedAt, backupId),
    args: [
      {
        backupId,
        targetId: target.id,
        trigger: 'manual',
        requestedBy: 'test',
        displayName: null,
        description: null,
        tags: [],
        protected: false,
        startedAt: startedAt.toISOString(),
      },
    ],
  });
  return { backupId, result };
}

describe('backupWorkflow', () => {
  it('backs up a database and records it as completed with its checksums', async () => {
    const database = await createDatabase('wf_source');
    await fillRichDatabase(database);
    const target = await createCatalogTarget(
      db,
      worker.secrets,
      `wf-${database.replace(/_/g, '-')}`,
      database,
    );
    const { backupId, result: running } = runBackupWorkflow(worker.taskQueue, target);
    const result = await running;
    expect(result.status).toBe('completed');
    const row = await getBackup(db, backupId);
    expect(row.status).toBe('completed');
    expect(row.sha256).toBe(result.sha256);
    // A small dump makes one part of the streamed layout.
    expect(row.manifest?.files.map((f) => f.path)).toEqual([`database/${database}.dump.000000`]);
    expect(row.manifest?.dumpParts).toMatchObject({
      path: `database/${database}.dump`,
      parts: [`database/${database}.dump.000000`],
    });
    expect(await worker.storage.stat(result.key)).toEqual({ key: result.key, sizeBytes: result.sizeBytes });
  });

  it('fails with PG_VERSION_MISMATCH, saying what to install, when no pg_dump is new enough', async () => {
    const lonely = await startTestWorker({
      db,
      storageDir: scratchDir('storage'),
      pgBinDirs: [scratchDir('no-clients')],
    });
    try {
      const database = await createDatabase('wf_version');
      const target = await createCatalogTarget(
        db,
        lonely.secrets,
        `wf-${database.replace(/_/g, '-')}`,
        database,
      );
      const { backupId, result } = runBackupWorkflow(lonely.taskQueue, target);
      await expect(result).rejects.toThrow();
      const row = await getBackup(db, backupId);
      expect(row).toMatchObject({ status: 'failed', errorCode: 'PG_VERSION_MISMATCH' });
      expect(row.errorMessage).toMatch(/postgresql-client-\d+/);
    } finally {
      await lonely.stop();
    }
  });
});
