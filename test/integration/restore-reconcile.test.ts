// A real API process SIGKILLed while it starts a restore or a backup. Its Temporal connection goes through a
// gate the test holds, so the kill lands at a known point: after the restore's row was written and before its
// workflow reached Temporal (reconciliation then records the row as INTERRUPTED and a new restore of the
// same database runs), and before or after a backup's start reached Temporal (no row, or a completed one).
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { listBackups } from '../../catalog/backups.ts';
import { getRestoreOperation, listRestoreOperations, type RestoreOperation } from '../../catalog/restores.ts';
import {
  reconcileGraceMs,
  reconcileRestore,
  reconcileRestores,
  workflowState,
} from '../../services/restore-reconcile.ts';
import { eventually } from '../harness/api.ts';
import { startApiProcess } from '../harness/api-process.ts';
import { fillRichDatabase } from '../harness/fixtures.ts';
import {
  backedUpTarget,
  preview,
  snapshot,
  waitForRestore,
  type DatabaseSnapshot,
} from '../harness/restore.ts';
import { endedBackup, sql, stack, useStack } from '../harness/stack.ts';
import { openTcpGate, type TcpGate } from '../harness/tcp-gate.ts';

const { db, client, worker, api, storageDir, createTarget } = useStack();

interface GatedApi {
  gate: TcpGate;
  /** Sends a request with the admin token; the promise settles when the answer comes or the process dies. */
  send(method: string, url: string, body?: unknown): Promise<{ status: number; body: unknown }>;
  kill(): Promise<void>;
}

const running: GatedApi[] = [];

/** An API process on this file's task queue that reaches Temporal through a gate the test holds. */
async function startGatedApi(): Promise<GatedApi> {
  const [host, port] = stack().temporalAddress.split(':') as [string, string];
  const gate = await openTcpGate({ host, port: Number(port) });
  const { server, url: base } = await startApiProcess({
    name: 'reconcile-api',
    taskQueue: worker.taskQueue,
    storageDir,
    temporalAddress: gate.address,
  });
  const started: GatedApi = {
    gate,
    async send(method, url, body) {
      const response = await fetch(`${base}${url}`, {
        method,
        headers: { authorization: `Bearer ${api.tokens.admin}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      return { status: response.status, body: text ? (JSON.parse(text) as unknown) : {} };
    },
    async kill() {
      await server.stop('SIGKILL');
      await gate.close();
    },
  };
  running.push(started);
  return started;
}

afterEach(async () => {
  for (const apiProcess of running.splice(0)) await apiProcess.kill();
});

/** The unfinished restore of `target` into `database`, once the API has recorded it. */
function recordedRestore(target: string, database: string): Promise<RestoreOperation> {
  return eventually(
    async () => {
      const { items } = await listRestoreOperations(db, { target, limit: 50, offset: 0 });
      return items.find((item) => !item.finishedAt && item.destination.database === database);
    },
    30_000,
    `the restore into ${database} to be recorded`,
  );
}

describe('an API process SIGKILLed while it starts a restore', () => {
  let database: string;
  let target: { id: string; name: string };
  let backupId: string;
  let atBackup: DatabaseSnapshot;

  beforeAll(async () => {
    ({ database, target, backupId } = await backedUpTarget(
      { api, createTarget },
      'reconcile',
      fillRichDatabase,
    ));
    atBackup = await snapshot(database);
  });

  it('leaves rows that reconciliation records as interrupted, after which the same database restores', async () => {
    await sql(database, 'update sales.customers set name = $1 where id < 5', ['after the backup']);
    const newDatabase = `reconcile_copy_${randomBytes(3).toString('hex')}`;
    const apiProcess = await startGatedApi();
    const requests = [{ mode: 'full' }, { mode: 'full', destination: { database: newDatabase } }];
    const tokens: string[] = [];
    for (const body of requests) {
      const previewed = await apiProcess.send('POST', `/api/admin/backups/${backupId}/restore/preview`, body);
      expect(previewed.status, JSON.stringify(previewed.body)).toBe(200);
      tokens.push((previewed.body as { confirmationToken: string }).confirmationToken);
    }

    // From here the API's requests never reach Temporal: each restore is recorded, and its start hangs.
    apiProcess.gate.holdRequests();
    const answers = requests.map((body, i) =>
      apiProcess
        .send('POST', `/api/admin/backups/${backupId}/restore`, { ...body, confirmationToken: tokens[i] })
        .catch(() => undefined),
    );
    const overTarget = await recordedRestore(target.name, database);
    const intoNew = await recordedRestore(target.name, newDatabase);
    await apiProcess.gate.heldSomething('the workflow starts to be sent', 30_000);
    await apiProcess.kill();
    expect(await Promise.all(answers)).toEqual([undefined, undefined]);
    for (const operation of [overTarget, intoNew]) {
      expect(operation.status).toBe('pending');
      expect(await workflowState(client, operation.workflowId)).toEqual({ kind: 'missing' });
    }

    // Inside the grace the row may be a start still on its way: the lock holds, and a new restore is refused.
    expect(await reconcileRestore({ db, temporal: client }, overTarget)).toBe(false);
    const again = await preview(api, backupId, { mode: 'full' });
    const refused = await api.json<{ error: { code: string; details?: { operationId?: string } } }>(
      'POST',
      `/api/admin/backups/${backupId}/restore`,
      { body: { mode: 'full', confirmationToken: again.confirmationToken } },
    );
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatchObject({ code: 'CONFLICT', details: { operationId: overTarget.id } });

    // A workflow that closed without recording its end (terminated from the Web UI) is reconciled at any
    // age, by the pass an API runs when it starts; the row still inside its grace is left alone.
    const stray = await client.workflow.start('restoreWorkflow', {
      taskQueue: `unpolled-${randomBytes(4).toString('hex')}`,
      workflowId: intoNew.workflowId,
      args: [],
    });
    await stray.terminate('terminated by hand, as from the Web UI');
    await startGatedApi();
    await eventually(
      async () => ((await getRestoreOperation(db, intoNew.id)).finishedAt ? true : undefined),
      30_000,
      'the restarted API to reconcile the terminated restore',
    );
    expect(await reconcileRestores({ db, temporal: client })).not.toContainEqual(
      expect.objectContaining({ operationId: overTarget.id }),
    );
    expect(await getRestoreOperation(db, intoNew.id)).toMatchObject({
      status: 'failed',
      errorCode: 'INTERRUPTED',
      errorMessage: expect.stringContaining('TERMINATED') as string,
      rollback: null,
    });
    expect((await getRestoreOperation(db, overTarget.id)).finishedAt).toBeNull();

    // Past the grace, the row whose workflow never started is recorded as interrupted, and its lock is free.
    const later = { now: new Date(Date.now() + reconcileGraceMs + 1_000) };
    expect(await reconcileRestore({ db, temporal: client }, overTarget, later)).toBe(true);
    const interrupted = await getRestoreOperation(db, overTarget.id);
    expect(interrupted).toMatchObject({
      status: 'failed',
      errorCode: 'INTERRUPTED',
      errorMessage: expect.stringContaining('The API stopped before') as string,
      rollback: { status: 'not_needed' },
    });
    expect(interrupted.finishedAt).not.toBeNull();
    expect(await reconcileRestore({ db, temporal: client }, overTarget, later)).toBe(false);

    // The refused request's token was not spent: the same request now starts, and the restore completes.
    const started = await api.json<{ operationId: string }>(
      'POST',
      `/api/admin/backups/${backupId}/restore`,
      {
        body: { mode: 'full', confirmationToken: again.confirmationToken },
      },
    );
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const fresh = await getRestoreOperation(db, started.body.operationId);
    // A row whose workflow runs (or has just recorded its end) is never taken for an interrupted one.
    expect(await reconcileRestore({ db, temporal: client }, fresh, later)).toBe(false);
    const ended = await waitForRestore(api, started.body.operationId, 180_000);
    expect(ended, ended.errorMessage ?? '').toMatchObject({ status: 'completed', errorCode: null });
    expect(await snapshot(database)).toEqual(atBackup);
  }, 300_000);
});

describe('an API process SIGKILLed while it starts a backup', () => {
  let target: { id: string; name: string };

  beforeAll(async () => {
    ({ target } = await backedUpTarget({ api, createTarget }, 'reconcileb', fillRichDatabase));
  });

  async function backupsOfTarget() {
    return (await listBackups(db, { target: target.name, limit: 100, offset: 0 })).items;
  }

  async function backupWorkflowsOfTarget(): Promise<string[]> {
    const ids: string[] = [];
    const query = `WorkflowType = 'backupWorkflow' AND LifeboatTarget = '${target.name}'`;
    for await (const execution of client.workflow.list({ query })) ids.push(execution.workflowId);
    return ids;
  }

  it('before the start reached Temporal, leaves no row and no workflow', async () => {
    const before = await backupsOfTarget();
    const apiProcess = await startGatedApi();
    apiProcess.gate.holdRequests();
    const answer = apiProcess
      .send('POST', '/api/admin/backups', { target: target.name })
      .catch(() => undefined);
    await apiProcess.gate.heldSomething('the backup start to be sent', 30_000);
    await apiProcess.kill();
    expect(await answer).toBeUndefined();
    // The workflow writes the row; no workflow of this backup exists, so no row ever will.
    const after = await backupsOfTarget();
    expect(after.map((backup) => [backup.id, backup.status])).toEqual(
      before.map((backup) => [backup.id, 'completed']),
    );
    expect((await backupWorkflowsOfTarget()).sort()).toEqual(
      before.map((backup) => backup.workflowId).sort(),
    );
  }, 120_000);

  it('after the start reached Temporal, leaves a backup that completes', async () => {
    const before = (await backupsOfTarget()).map((backup) => backup.id);
    const apiProcess = await startGatedApi();
    // Temporal takes the start; its answer never comes back to the API.
    apiProcess.gate.holdResponses();
    const answer = apiProcess
      .send('POST', '/api/admin/backups', { target: target.name })
      .catch(() => undefined);
    const recorded = await eventually(
      async () => (await backupsOfTarget()).find((backup) => !before.includes(backup.id)),
      60_000,
      'the backup workflow to record its row',
    );
    await apiProcess.kill();
    expect(await answer).toBeUndefined();
    const ended = await endedBackup(db, recorded.id, 120_000);
    expect(ended).toMatchObject({ status: 'completed', errorCode: null });
    expect((await backupsOfTarget()).filter((backup) => backup.status === 'running')).toEqual([]);
  }, 180_000);
});

afterAll(async () => {
  for (const apiProcess of running.splice(0)) await apiProcess.kill();
});
