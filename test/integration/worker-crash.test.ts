// The worker process killed with SIGKILL in the middle of a dump: after a restart the same backup
// completes and verifies, and nothing half-written is ever listed as finished.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { getBackup, listBackups } from '../../catalog/backups.ts';
import { startBackup } from '../../services/backups.ts';
import type { Manifest } from '../../domain/manifest.ts';
import { killWorkerProcess, killWorkerProcesses, startWorkerProcess } from '../harness/worker-process.ts';
import {
  createCatalogTarget,
  createDatabase,
  endedBackup,
  scratchDir,
  sql,
  stack,
  superuserUrl,
  useStack,
  waitForLockWaiter,
} from '../harness/stack.ts';

// No worker in this process: the test starts worker processes and kills them.
const { db, client, worker, storageDir } = useStack({ workers: 0 });

afterAll(() => killWorkerProcesses());

describe('a worker killed during a dump', () => {
  it('is restarted and the same backup completes, verified, with nothing half-written listed', async () => {
    const s = stack();
    const source = await createDatabase('crash');
    await sql(
      source,
      `create table busy (id int, body text); insert into busy select g, md5(g::text) from generate_series(1, 5000) g`,
    );
    const target = await createCatalogTarget(db, worker.secrets, `crash-${source.slice(-8)}`, source);
    const launch = {
      taskQueue: worker.taskQueue,
      workerId: 'crash-test-worker',
      storageDir,
      workDir: scratchDir('crash-work'),
    };

    const blocker = new pg.Client({ connectionString: superuserUrl(source) });
    await blocker.connect();
    try {
      // pg_dump queues behind this lock, so the kill lands in the middle of the dump.
      await blocker.query('begin; lock table busy in access exclusive mode');
      const first = await startWorkerProcess(launch);
      const { backupId } = await startBackup(
        { db, temporal: client, ...worker },
        {
          target,
          trigger: 'manual',
          requestedBy: 'crash-test',
          displayName: null,
          description: null,
          tags: [],
          protected: false,
        },
      );
      const session = `lifeboat-backup-${backupId}`;
      const firstPid = await waitForLockWaiter(source, session, {
        timeoutMs: 60_000,
        what: 'the first pg_dump',
      });

      await killWorkerProcess(first);
      expect((await getBackup(db, backupId)).status).toBe('running');
      const afterKill = await listBackups(db, {
        target: target.name,
        status: 'completed',
        limit: 10,
        offset: 0,
      });
      expect(afterKill.total).toBe(0);

      await startWorkerProcess(launch);
      // The retried dump ends the orphaned pg_dump's session and queues behind the lock itself.
      await waitForLockWaiter(source, session, { replacing: firstPid, what: 'the retried pg_dump' });
      await blocker.query('rollback');

      const backup = await endedBackup(db, backupId);
      expect(backup).toMatchObject({ status: 'completed', errorCode: null });
      const archive = path.join(storageDir, backup.storageKey!);
      expect(createHash('sha256').update(readFileSync(archive)).digest('hex')).toBe(backup.sha256);
      const extracted = scratchDir('crash-extracted');
      execFileSync('tar', ['-xf', archive, '-C', extracted]);
      const manifest = JSON.parse(readFileSync(path.join(extracted, 'manifest.json'), 'utf8')) as Manifest;
      for (const file of manifest.files) {
        const digest = createHash('sha256')
          .update(readFileSync(path.join(extracted, file.path)))
          .digest('hex');
        expect(digest, file.path).toBe(file.sha256);
      }
      const listing = execFileSync(
        path.join(s.pgBinDir, 'pg_restore'),
        ['--list', path.join(extracted, manifest.files[0]!.path)],
        {
          encoding: 'utf8',
        },
      );
      expect(listing).toContain('TABLE DATA public busy');

      const stored = readdirSync(path.join(storageDir, target.name));
      expect(stored.filter((name) => name.includes('.partial-'))).toEqual([]);
      expect(stored.sort()).toEqual(
        [
          path.basename(backup.storageKey!),
          `${path.basename(backup.storageKey!)}.manifest.json`,
          `${path.basename(backup.storageKey!)}.md5`,
        ].sort(),
      );
      const all = await listBackups(db, { target: target.name, limit: 10, offset: 0 });
      expect(all.items.map((b) => [b.id, b.status])).toEqual([[backupId, 'completed']]);
    } finally {
      await blocker.query('rollback').catch(() => undefined);
      await blocker.end();
    }
  });
});
