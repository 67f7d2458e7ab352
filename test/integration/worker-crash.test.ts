// The worker process killed with SIGKILL in the middle of a dump: after a restart the same backup
// completes and verifies, and nothing half-written is ever listed as finished.
import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getBackup, listBackups } from '../../catalog/backups.ts';
import { createSecretBox } from '../../catalog/secret-box.ts';
import { createTarget } from '../../catalog/targets.ts';
import { createStorageRegistry } from '../../storage/registry.ts';
import { startBackup } from '../../services/start-backup.ts';
import type { Manifest } from '../../domain/manifest.ts';
import { resolveTargetInput } from '../../domain/target.ts';
import { killWorkerProcesses, startWorkerProcess } from '../harness/worker-process.ts';
import { eventually } from '../harness/api.ts';
import {
  catalogPool,
  createDatabase,
  scratchDir,
  sql,
  stack,
  superuserUrl,
  temporalClient,
  testSecretKey,
} from '../harness/stack.ts';

let db: pg.Pool;
let client: Client;

beforeAll(async () => {
  db = catalogPool();
  client = await temporalClient();
});

afterAll(async () => {
  killWorkerProcesses();
  await client?.connection.close();
  await db?.end();
});

async function dumpSessions(database: string, backupId: string): Promise<number[]> {
  const rows = await sql<{ pid: number }>(
    database,
    `select pid from pg_stat_activity where application_name = $1 and wait_event_type = 'Lock'`,
    [`lifeboat-backup-${backupId}`],
  );
  return rows.map((row) => row.pid);
}

describe('a worker killed during a dump', () => {
  it('is restarted and the same backup completes, verified, with nothing half-written listed', async () => {
    const s = stack();
    const source = await createDatabase('crash');
    await sql(
      source,
      `create table busy (id int, body text); insert into busy select g, md5(g::text) from generate_series(1, 5000) g`,
    );
    const secrets = createSecretBox(testSecretKey);
    const resolved = resolveTargetInput({
      name: `crash-${source.slice(-8)}`,
      host: '127.0.0.1',
      port: s.pgPort,
      database: source,
      username: s.pgSuperuser,
      password: s.pgPassword,
    });
    if (!resolved.ok) throw new Error(resolved.message);
    const target = await createTarget(db, secrets, resolved.value);
    const storageDir = scratchDir('crash-storage');
    const storages = createStorageRegistry(`file://${storageDir}`, () => undefined);
    const taskQueue = `crash-${randomUUID()}`;
    const env = {
      LIFEBOAT_DATABASE_URL: s.catalogUrl,
      LIFEBOAT_SECRET_KEY: testSecretKey,
      TEMPORAL_ADDRESS: s.temporalAddress,
      LIFEBOAT_TASK_QUEUE: taskQueue,
      LIFEBOAT_WORKER_ID: 'crash-test-worker',
      LIFEBOAT_STORAGE_URL: `file://${storageDir}`,
      LIFEBOAT_WORK_DIR: scratchDir('crash-work'),
      LIFEBOAT_WORKFLOW_BUNDLE: s.workflowBundlePath,
    };

    const blocker = new pg.Client({ connectionString: superuserUrl(source) });
    await blocker.connect();
    try {
      // pg_dump queues behind this lock, so the kill lands in the middle of the dump.
      await blocker.query('begin; lock table busy in access exclusive mode');
      const first = await startWorkerProcess(env);
      const { backupId } = await startBackup(
        { db, temporal: client, taskQueue, secrets, storage: storages.open(storages.defaultUrl), storages },
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
      const [firstPid] = await eventually(
        async () =>
          (await dumpSessions(source, backupId)).length ? dumpSessions(source, backupId) : undefined,
        60_000,
        'the first pg_dump',
      );

      const exited = new Promise((resolve) => first.once('exit', resolve));
      first.kill('SIGKILL');
      await exited;
      expect((await getBackup(db, backupId)).status).toBe('running');
      const afterKill = await listBackups(db, {
        target: target.name,
        status: 'completed',
        limit: 10,
        offset: 0,
      });
      expect(afterKill.total).toBe(0);

      await startWorkerProcess(env);
      // The retried dump ends the orphaned pg_dump's session and queues behind the lock itself.
      await eventually(
        async () => {
          const pids = await dumpSessions(source, backupId);
          return pids.length === 1 && pids[0] !== firstPid ? pids : undefined;
        },
        90_000,
        'the retried pg_dump',
      );
      await blocker.query('rollback');

      const backup = await eventually(
        async () => {
          const row = await getBackup(db, backupId);
          return row.status === 'running' ? undefined : row;
        },
        90_000,
        'the backup to end',
      );
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
