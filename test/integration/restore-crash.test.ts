// The worker process killed with SIGKILL while it restores: its psql never commits, the restarted worker
// takes the step over, fetches the archive again, and the restore ends with the database and documents
// exactly the backup's.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { killWorkerProcess, killWorkerProcesses, startWorkerProcess } from '../harness/worker-process.ts';
import { fillRichDatabase, writeDocumentsTree } from '../harness/fixtures.ts';
import {
  backedUpTarget,
  documentsSnapshot,
  snapshot,
  startRestore,
  waitForRestore,
} from '../harness/restore.ts';
import { scratchDir, sql, superuserUrl, useStack, waitForLockWaiter } from '../harness/stack.ts';

// No worker in this process: the test starts worker processes and kills them.
const { client, worker, api, storageDir, createTarget } = useStack({ workers: 0 });

afterAll(() => killWorkerProcesses());

describe('a worker killed during a restore', () => {
  it('is restarted, and the restore resumes and ends with the database and documents of the backup', async () => {
    const documentsDir = path.join(scratchDir('rcrash-docs'), 'documents');
    writeDocumentsTree(documentsDir);
    const launch = {
      taskQueue: worker.taskQueue,
      workerId: 'restore-crash-worker',
      storageDir,
      workDir: scratchDir('rcrash-work'),
    };
    const workerProcess = await startWorkerProcess(launch);
    const { database, backupId } = await backedUpTarget({ api, createTarget }, 'rcrash', fillRichDatabase, {
      documentsDir,
    });
    const atBackup = await snapshot(database);
    const documentsAtBackup = documentsSnapshot(documentsDir);
    await sql(database, `delete from sales.orders where id > 10; create table public.later (id int)`);
    writeFileSync(path.join(documentsDir, 'later.txt'), 'after the backup');

    // The restore queues behind this lock, so the kill lands while psql holds an open transaction.
    const blocker = new pg.Client({ connectionString: superuserUrl(database) });
    await blocker.connect();
    try {
      await blocker.query('begin; select count(*) from sales.customers');
      const { operationId } = await startRestore(api, backupId, { mode: 'full', method: 'in-place' });
      const session = `lifeboat-restore-${operationId}`;
      const firstPid = await waitForLockWaiter(database, session, {
        timeoutMs: 60_000,
        what: 'the first restore session',
      });

      await killWorkerProcess(workerProcess);
      await startWorkerProcess(launch);
      // The retried step ends the first attempt's orphaned session and queues behind the lock itself.
      await waitForLockWaiter(database, session, {
        replacing: firstPid,
        what: 'the retried restore session',
      });
      await blocker.query('rollback');

      const ended = await waitForRestore(api, operationId, 120_000);
      expect(ended).toMatchObject({ status: 'completed', errorCode: null });
      expect(await snapshot(database)).toEqual(atBackup);
      expect(documentsSnapshot(documentsDir)).toEqual(documentsAtBackup);

      const history = await client.workflow.getHandle(ended.workflowId).fetchHistory();
      const scheduled = new Map<number, string>();
      const attempts: number[] = [];
      for (const event of history.events ?? []) {
        const type = event.activityTaskScheduledEventAttributes?.activityType?.name;
        if (type) scheduled.set(Number(event.eventId), type);
        const started = event.activityTaskStartedEventAttributes;
        if (started && scheduled.get(Number(started.scheduledEventId)) === 'restoreDatabase') {
          attempts.push(started.attempt ?? 0);
        }
      }
      // One scheduled restoreDatabase, completed by its second attempt on the restarted worker.
      expect(attempts).toEqual([2]);
    } finally {
      await blocker.query('rollback').catch(() => undefined);
      await blocker.end();
    }
  });
});
