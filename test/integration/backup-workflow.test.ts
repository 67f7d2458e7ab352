// backupWorkflow against the real dev server and PostgreSQL, started directly with a Temporal client.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@temporalio/client';
import type pg from 'pg';
import { createTarget } from '../../catalog/targets.ts';
import { getBackup } from '../../catalog/backups.ts';
import { backupWorkflowId } from '../../domain/naming.ts';
import { resolveTargetInput } from '../../domain/target.ts';
import { backupWorkflow } from '../../workflows/backup.ts';
import {
  catalogPool,
  createDatabase,
  scratchDir,
  stack,
  startTestWorker,
  temporalClient,
  type TestWorker,
} from '../harness/stack.ts';
import { fillRichDatabase } from '../harness/fixtures.ts';

let db: pg.Pool;
let worker: TestWorker;
let client: Client;

beforeAll(async () => {
  db = catalogPool();
  worker = await startTestWorker({ db, storageDir: scratchDir('storage') });
  client = await temporalClient();
});

afterAll(async () => {
  await worker?.stop();
  await client?.connection.close();
  await db?.end();
});

describe('backupWorkflow', () => {
  it('backs up a database and records it as completed with its checksums', async () => {
    const database = await createDatabase('wf_source');
    await fillRichDatabase(database);
    const resolved = resolveTargetInput({
      name: `wf-${database.replace(/_/g, '-')}`,
      host: '127.0.0.1',
      port: stack().pgPort,
      database,
      username: stack().pgSuperuser,
      password: stack().pgPassword,
    });
    if (!resolved.ok) throw new Error(resolved.message);
    const target = await createTarget(db, worker.secrets, resolved.value);
    const backupId = randomUUID();
    const startedAt = new Date();
    const result = await client.workflow.execute(backupWorkflow, {
      taskQueue: worker.taskQueue,
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
    expect(result.status).toBe('completed');
    const row = await getBackup(db, backupId);
    expect(row.status).toBe('completed');
    expect(row.sha256).toBe(result.sha256);
    expect(row.manifest?.files.map((f) => f.path)).toEqual([`database/${database}.dump`]);
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
      const resolved = resolveTargetInput({
        name: `wf-${database.replace(/_/g, '-')}`,
        host: '127.0.0.1',
        port: stack().pgPort,
        database,
        username: stack().pgSuperuser,
        password: stack().pgPassword,
      });
      if (!resolved.ok) throw new Error(resolved.message);
      const target = await createTarget(db, lonely.secrets, resolved.value);
      const backupId = randomUUID();
      const startedAt = new Date();
      const run = client.workflow.execute(backupWorkflow, {
        taskQueue: lonely.taskQueue,
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
      await expect(run).rejects.toThrow();
      const row = await getBackup(db, backupId);
      expect(row).toMatchObject({ status: 'failed', errorCode: 'PG_VERSION_MISMATCH' });
      expect(row.errorMessage).toMatch(/postgresql-client-\d+/);
    } finally {
      await lonely.stop();
    }
  });
});
