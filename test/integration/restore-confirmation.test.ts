// What stands between a request and a restore: the preview's confirmation token (bound, expiring, used
// once), the admin role, and, when the settings ask for it, another admin's approval.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../catalog/tokens.ts';
import { generateIdentity } from '../../archive/encryption.ts';
import { eventually } from '../harness/api.ts';
import {
  backedUpTarget,
  backUp,
  preview,
  restoreOperation,
  snapshot,
  startRestore,
  waitForRestore,
} from '../harness/restore.ts';
import { createDatabase, sql, useStack } from '../harness/stack.ts';

const s = useStack();
let database: string;
let target: { id: string; name: string };
let backupA: string;
let backupB: string;

const withNotes = (empty: string) =>
  sql(empty, 'create table notes (id serial primary key, body text); insert into notes (body) values (1)');

beforeAll(async () => {
  ({ database, target, backupId: backupA } = await backedUpTarget(s, 'rtoken', withNotes));
  await sql(database, `insert into notes (body) values ('after A')`);
  backupB = await backUp(s.api, target.name);
});

afterAll(async () => {
  await s.db
    .query(`update settings set value = value - 'restoreApproval' - 'pendingRestoreApproval'`)
    .catch(() => undefined);
});

async function restoreWith(backupId: string, body: Record<string, unknown>, token = s.api.tokens.admin) {
  return s.api.json<{ operationId?: string; error?: { code: string; details?: { reason?: string } } }>(
    'POST',
    `/api/admin/backups/${backupId}/restore`,
    { body, token },
  );
}

const hash = (token: string) => createHash('sha256').update(token).digest('hex');

/** Every payload in a workflow's history, decoded as text. */
async function historyText(workflowId: string): Promise<string> {
  const history = await s.client.workflow.getHandle(workflowId).fetchHistory();
  const texts: string[] = [];
  const walk = (value: unknown) => {
    if (value instanceof Uint8Array) texts.push(Buffer.from(value).toString('utf8'));
    else if (value && typeof value === 'object') for (const inner of Object.values(value)) walk(inner);
    else if (typeof value === 'string') texts.push(value);
  };
  walk(history);
  return texts.join('\n');
}

describe('the confirmation token', () => {
  it('is refused when missing, unknown, expired, for another backup or other options, and once used', async () => {
    const before = await snapshot(database);
    const refusal = (reason: string) => ({
      status: 422,
      body: { error: { code: 'CONFIRMATION_INVALID', details: { reason } } },
    });

    expect(await restoreWith(backupA, { mode: 'full' })).toMatchObject(refusal('missing'));
    expect(await restoreWith(backupA, { mode: 'full', confirmationToken: 'lbr_unknown' })).toMatchObject(
      refusal('unknown'),
    );

    const forA = await preview(s.api, backupA, { mode: 'full' });
    expect(new Date(forA.expiresAt).getTime() - Date.now()).toBeGreaterThan(9 * 60_000);
    expect(
      await restoreWith(backupB, { mode: 'full', confirmationToken: forA.confirmationToken }),
    ).toMatchObject(refusal('other-backup'));
    expect(
      await restoreWith(backupA, { mode: 'data-only', confirmationToken: forA.confirmationToken }),
    ).toMatchObject(refusal('other-options'));
    expect(
      await restoreWith(backupA, {
        mode: 'full',
        destination: { database: 'somewhere_else' },
        confirmationToken: forA.confirmationToken,
      }),
    ).toMatchObject(refusal('other-options'));
    const asOperator = await restoreWith(
      backupA,
      { mode: 'full', confirmationToken: forA.confirmationToken },
      s.api.tokens.operator,
    );
    expect(asOperator).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });

    const expiring = await preview(s.api, backupA, { mode: 'full' });
    await s.db.query(
      `update restore_tokens set expires_at = now() - interval '1 second' where token_hash = $1`,
      [hash(expiring.confirmationToken)],
    );
    expect(
      await restoreWith(backupA, { mode: 'full', confirmationToken: expiring.confirmationToken }),
    ).toMatchObject(refusal('expired'));
    expect(await snapshot(database)).toEqual(before);

    // The refusals did not spend it: the exact request it was issued for goes through, once.
    const started = await restoreWith(backupA, { mode: 'full', confirmationToken: forA.confirmationToken });
    expect(started.status).toBe(202);
    expect((await waitForRestore(s.api, started.body.operationId!)).status).toBe('completed');
    expect(
      await restoreWith(backupA, { mode: 'full', confirmationToken: forA.confirmationToken }),
    ).toMatchObject(refusal('used'));

    const audited = await s.db.query<{ status: number; error_code: string | null }>(
      `select status, error_code from audit_log where path = $1 order by id`,
      [`/api/admin/backups/${backupA}/restore`],
    );
    expect(audited.rows.map((row) => `${row.status}:${row.error_code ?? ''}`)).toEqual([
      '422:CONFIRMATION_INVALID',
      '422:CONFIRMATION_INVALID',
      '422:CONFIRMATION_INVALID',
      '422:CONFIRMATION_INVALID',
      '403:FORBIDDEN',
      '422:CONFIRMATION_INVALID',
      '202:',
      '422:CONFIRMATION_INVALID',
    ]);
    const stored = await s.db.query('select 1 from restore_tokens where token_hash = $1 or token_hash = $2', [
      forA.confirmationToken,
      expiring.confirmationToken,
    ]);
    expect(stored.rowCount).toBe(0);
  });
});

describe('approval by another admin', () => {
  async function requireApproval(timeoutMinutes: number) {
    const setting = JSON.stringify({ required: true, timeoutMinutes, targets: [target.name] });
    await s.db.query(
      `insert into settings (id, value) values (true, jsonb_build_object('restoreApproval', $1::jsonb))
       on conflict (id) do update set value = settings.value || jsonb_build_object('restoreApproval', $1::jsonb)`,
      [setting],
    );
  }

  it('makes the restore wait: the requester cannot approve it, another admin can, and the catalog says who', async () => {
    await requireApproval(10);
    const second = await createToken(s.db, `admin2-${randomBytes(4).toString('hex')}`, 'admin');
    const { operationId } = await startRestore(s.api, backupB, { mode: 'full' });
    const waiting = await eventually(
      async () => {
        const operation = await restoreOperation(s.api, operationId);
        return operation.status === 'awaiting_approval' ? operation : undefined;
      },
      30_000,
      'the restore to wait for approval',
    );
    expect(waiting.progress).toMatchObject({ step: 'approval', status: 'awaiting_approval' });

    const self = await s.api.json<{ error: { code: string } }>(
      'POST',
      `/api/admin/restores/${operationId}/approve`,
    );
    expect(self).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
    const approved = await s.api.json<{ approvedBy: string }>(
      'POST',
      `/api/admin/restores/${operationId}/approve`,
      {
        token: second.token,
      },
    );
    expect(approved).toMatchObject({ status: 200, body: { approvedBy: second.name } });

    const ended = await waitForRestore(s.api, operationId);
    expect(ended).toMatchObject({ status: 'completed', approvedBy: second.name });
    expect(ended.requestedBy).not.toBe(second.name);
    const listed = await s.api.json<{ items: { id: string; approvedBy: string | null }[]; total: number }>(
      'GET',
      `/api/admin/restores?target=${target.name}&status=completed`,
      { token: s.api.tokens.viewer },
    );
    expect(listed.body.items.find((item) => item.id === operationId)?.approvedBy).toBe(second.name);
    expect(ended.steps.slice(0, 2).map((step) => `${step.step}:${step.status}`)).toEqual([
      'approval:waiting',
      'approval:completed',
    ]);
    const again = await s.api.json<{ error: { code: string } }>(
      'POST',
      `/api/admin/restores/${operationId}/approve`,
      {
        token: second.token,
      },
    );
    expect(again).toMatchObject({ status: 409, body: { error: { code: 'CONFLICT' } } });
  });

  it("refuses an approval by another token of the requester's owner: people approve, not tokens", async () => {
    await requireApproval(0.2);
    const requester = (
      await s.db.query<{ owner: string }>(`select owner from api_tokens where name = $1`, [
        `admin-${s.worker.taskQueue.slice(-12)}`,
      ])
    ).rows[0]!.owner;
    const sameOwner = await createToken(
      s.db,
      `admin-alt-${randomBytes(4).toString('hex')}`,
      'admin',
      requester,
    );
    const { operationId } = await startRestore(s.api, backupA, { mode: 'full' });
    await eventually(
      async () =>
        (await restoreOperation(s.api, operationId)).status === 'awaiting_approval' ? true : undefined,
      30_000,
      'the restore to wait for approval',
    );
    const refused = await s.api.json<{ error: { code: string } }>(
      'POST',
      `/api/admin/restores/${operationId}/approve`,
      { token: sameOwner.token },
    );
    expect(refused).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
    expect(await waitForRestore(s.api, operationId, 60_000)).toMatchObject({
      status: 'cancelled',
      approvedBy: null,
      requestedBy: requester,
    });
  });

  it('keeps restoreApproval when other settings change, and lets a loosening of it wait out its delay', async () => {
    const settingsUrl = '/api/admin/backups/settings';
    type Approval = { required: boolean; timeoutMinutes: number; targets: string[] | null };
    type Saved = {
      restoreApproval: Approval;
      pendingRestoreApproval: { value: Approval; effectiveAt: string; requestedBy: string } | null;
    };
    const strict = { required: true, timeoutMinutes: 10, targets: [target.name] };
    const tightened = await s.api.json<Saved>('PATCH', settingsUrl, { body: { restoreApproval: strict } });
    expect(tightened).toMatchObject({
      status: 200,
      body: { restoreApproval: strict, pendingRestoreApproval: null },
    });

    const unrelated = await s.api.json<Saved>('PUT', settingsUrl, { body: { allowOperatorDelete: false } });
    expect(unrelated.body.restoreApproval).toEqual(strict);

    const before = Date.now();
    const loosened = await s.api.json<Saved>('PATCH', settingsUrl, {
      body: { restoreApproval: { required: false } },
    });
    expect(loosened.body.restoreApproval).toEqual(strict);
    expect(loosened.body.pendingRestoreApproval).toMatchObject({
      value: { ...strict, required: false },
      requestedBy: `admin-${s.worker.taskQueue.slice(-12)}`,
    });
    const effectiveAt = Date.parse(loosened.body.pendingRestoreApproval!.effectiveAt);
    expect(effectiveAt).toBeGreaterThanOrEqual(before + 24 * 3_600_000);
    expect((await s.api.json<Saved>('GET', settingsUrl)).body.restoreApproval).toEqual(strict);

    // A day later (the catalog's clock moved by hand), the change has applied.
    await s.db.query(
      `update settings set value = jsonb_set(value, '{pendingRestoreApproval,effectiveAt}', to_jsonb($1::text))`,
      [new Date(Date.now() - 1000).toISOString()],
    );
    expect((await s.api.json<Saved>('GET', settingsUrl)).body).toMatchObject({
      restoreApproval: { ...strict, required: false },
      pendingRestoreApproval: null,
    });
    await s.db.query(`update settings set value = value - 'restoreApproval' - 'pendingRestoreApproval'`);
  });

  it('cancels the restore when nobody approves in time, changing nothing', async () => {
    await requireApproval(0.05);
    await sql(database, `insert into notes (body) values ('after B')`);
    const before = await snapshot(database);
    const { operationId } = await startRestore(s.api, backupA, { mode: 'full' });
    const ended = await waitForRestore(s.api, operationId, 60_000);
    expect(ended).toMatchObject({
      status: 'cancelled',
      errorCode: 'CANCELLED',
      safetyBackupId: null,
      approvedBy: null,
      rollback: { status: 'not_needed' },
    });
    expect(ended.errorMessage).toContain('approved');
    expect(await snapshot(database)).toEqual(before);
  });

  const approve = (operationId: string, token = s.api.tokens.admin) =>
    s.api.json<{ approvedBy?: string; error?: { code: string; message: string } }>(
      'POST',
      `/api/admin/restores/${operationId}/approve`,
      { token },
    );

  /**
   * Reads the catalog row itself, as fast as it can (no API, no pause), and returns the moment it says
   * awaiting_approval: the earliest an approver can see that the restore waits.
   */
  async function catalogSaysAwaiting(operationId: string): Promise<void> {
    let status: string | undefined;
    for (let reads = 0; reads < 50_000; reads++) {
      const { rows } = await s.db.query<{ status: string }>(
        'select status from restore_operations where id = $1',
        [operationId],
      );
      status = rows[0]?.status;
      if (status === 'awaiting_approval') return;
      if (status !== 'pending') break;
    }
    throw new Error(`restore ${operationId} never said awaiting_approval in the catalog (last: ${status})`);
  }

  it('accepts an approval sent the instant the catalog says the restore waits, every time', async () => {
    await requireApproval(10);
    const second = await createToken(s.db, `admin3-${randomBytes(4).toString('hex')}`, 'admin');
    for (let round = 0; round < 6; round++) {
      const copy = `rrace_${round}_${randomBytes(3).toString('hex')}`;
      const { operationId } = await startRestore(s.api, backupB, {
        mode: 'full',
        destination: { database: copy },
      });
      await catalogSaysAwaiting(operationId);
      // Both at once, so that both land where an approver who clicks at once lands.
      const [self, other] = await Promise.all([approve(operationId), approve(operationId, second.token)]);
      expect(self, `round ${round}`).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
      expect(other, `round ${round}`).toMatchObject({ status: 200, body: { approvedBy: second.name } });
      const ended = await waitForRestore(s.api, operationId);
      expect(ended, `round ${round}`).toMatchObject({ status: 'completed', approvedBy: second.name });
      expect(ended.steps.slice(0, 2).map((step) => `${step.step}:${step.status}`)).toEqual([
        'approval:waiting',
        'approval:completed',
      ]);
    }
  });

  it('holds the target while a restore waits: a second one is a 409, and once it ends nothing stays locked', async () => {
    await requireApproval(10);
    const second = await createToken(s.db, `admin4-${randomBytes(4).toString('hex')}`, 'admin');
    const before = await snapshot(database);
    const { operationId } = await startRestore(s.api, backupA, { mode: 'full' });
    await catalogSaysAwaiting(operationId);

    const other = await preview(s.api, backupB, { mode: 'full' });
    expect(
      await restoreWith(backupB, { mode: 'full', confirmationToken: other.confirmationToken }),
    ).toMatchObject({ status: 409, body: { error: { code: 'CONFLICT' } } });
    expect((await s.api.json('POST', `/api/admin/restores/${operationId}/cancel`)).status).toBe(202);
    const ended = await waitForRestore(s.api, operationId);
    expect(ended).toMatchObject({
      status: 'cancelled',
      errorCode: 'CANCELLED',
      approvedBy: null,
      rollback: { status: 'not_needed' },
    });
    expect(await snapshot(database)).toEqual(before);

    // Too late to approve: a 409 that changes nothing, and the database's lock is free.
    const late = await approve(operationId, second.token);
    expect(late).toMatchObject({ status: 409, body: { error: { code: 'CONFLICT' } } });
    const held = await s.db.query(
      `select id from restore_operations where finished_at is null
         and lock_key = (select lock_key from restore_operations where id = $1)`,
      [operationId],
    );
    expect(held.rows).toEqual([]);

    const { operationId: next } = await startRestore(s.api, backupB, { mode: 'full' });
    await catalogSaysAwaiting(next);
    expect(await approve(next, second.token)).toMatchObject({
      status: 200,
      body: { approvedBy: second.name },
    });
    expect(await waitForRestore(s.api, next)).toMatchObject({ status: 'completed', approvedBy: second.name });
  });
});

describe('an encrypted backup', () => {
  it('is restored only with its key, which is kept nowhere: not in the catalog, not in a workflow', async () => {
    const { identity, recipient } = await generateIdentity();
    const sealed = await createDatabase('rsealed');
    await sql(
      sealed,
      `create table ledger (id int primary key, note text); insert into ledger values (1, 'one')`,
    );
    const sealedTarget = await s.createTarget(`rsealed-${sealed.slice(-8)}`, sealed, {
      encryption: { recipients: [recipient] },
    });
    const backupId = await backUp(s.api, sealedTarget.name);
    const atBackup = await snapshot(sealed);
    await sql(sealed, `update ledger set note = 'changed'`);

    const refused = await s.api.json<{ error: { code: string } }>(
      'POST',
      `/api/admin/backups/${backupId}/restore/preview`,
      { body: { mode: 'full' } },
    );
    expect(refused).toMatchObject({ status: 422, body: { error: { code: 'DECRYPTION_FAILED' } } });

    const { operationId } = await startRestore(s.api, backupId, { mode: 'full', identity });
    const ended = await waitForRestore(s.api, operationId);
    expect(ended.status).toBe('completed');
    expect(await snapshot(sealed)).toEqual(atBackup);

    const kept = await s.db.query(
      `select 1 from restore_operations where id = $1 and identity_ciphertext is not null
       union all select 1 from restore_tokens where backup_id = $2 and identity_ciphertext is not null`,
      [operationId, backupId],
    );
    expect(kept.rowCount).toBe(0);
    expect(JSON.stringify(ended)).not.toContain(identity);
    // Both previews: the refused one without the key and the one with it.
    const previews = await eventually(
      async () => {
        const ids: string[] = [];
        for await (const execution of s.client.workflow.list({
          query: `WorkflowType = 'restorePreviewWorkflow'`,
        })) {
          if (execution.workflowId.startsWith(`restore-preview/${sealedTarget.name}/`))
            ids.push(execution.workflowId);
        }
        return ids.length === 2 ? ids : undefined;
      },
      30_000,
      'the preview workflows to be listed',
    );
    for (const workflowId of [ended.workflowId, ...previews]) {
      const text = await historyText(workflowId);
      expect(text.length).toBeGreaterThan(0);
      expect(text, workflowId).not.toContain(identity);
      expect(text, workflowId).not.toContain(identity.slice(-20));
    }
  });
});

describe('a target whose backups are encrypted to other keys', () => {
  it('refuses a restore whose safety backup could not be read back for a rollback', async () => {
    const before = await generateIdentity();
    const now = await generateIdentity();
    const { database, target, backupId } = await backedUpTarget(
      s,
      'rekeyed',
      (empty) => sql(empty, 'create table t (id int primary key); insert into t values (1)'),
      { encryption: { recipients: [before.recipient] } },
    );
    // The target's key was rotated: new backups, the safety backup among them, go to a key not at hand.
    await s.db.query('update targets set encryption_recipients = $2 where name = $1', [
      target.name,
      [now.recipient],
    ]);
    const atStart = await snapshot(database);

    const refused = await s.api.json<{ error: { code: string; message: string } }>(
      'POST',
      `/api/admin/backups/${backupId}/restore/preview`,
      { body: { mode: 'full', identity: before.identity } },
    );
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe('DECRYPTION_FAILED');
    expect(refused.body.error.message).toContain('safety backup');
    expect(await snapshot(database)).toEqual(atStart);
  });
});

describe('the OpenAPI document', () => {
  it('describes the restore endpoints', async () => {
    const response = await s.api.json<{ paths: Record<string, Record<string, unknown>> }>(
      'GET',
      '/api/openapi.json',
      {
        token: null,
      },
    );
    expect(response.status).toBe(200);
    const operations = Object.entries(response.body.paths).flatMap(([route, methods]) =>
      Object.keys(methods).map((method) => `${method.toUpperCase()} ${route}`),
    );
    expect(operations).toEqual(
      expect.arrayContaining([
        'POST /api/admin/backups/{id}/restore/preview',
        'POST /api/admin/backups/{id}/restore',
        'GET /api/admin/backups/restore/status',
        'GET /api/admin/restores',
        'GET /api/admin/restores/{operationId}',
        'POST /api/admin/restores/{operationId}/cancel',
        'POST /api/admin/restores/{operationId}/approve',
      ]),
    );
  });
});
