// restoreWorkflow's compensations on the real Temporal dev server, with fake activities that fail where a
// test says: which steps are undone, in which order, and how the end is recorded; and which worker it uses.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { ApplicationFailure, Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { Context } from '@temporalio/activity';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Activities } from '../../activities/index.ts';
import type { RestoreEnding } from '../../catalog/restores.ts';
import type { ErrorCode } from '../../domain/errors.ts';
import type { RestoreAttemptDetails } from '../../domain/restore/failure.ts';
import type { RestoreWorkflowInput } from '../../workflows/restore.ts';
import { appendLog, pointFailuresAtLogs, testLogFile } from '../harness/logs.ts';
import { stack } from '../harness/stack.ts';
import type { SafetyBackupFake } from './fakes/restore-workflows.ts';

type Fakes = Pick<
  Activities,
  | 'recordRestoreStep'
  | 'setRestoreStatus'
  | 'recordRestoreApproval'
  | 'lockRestore'
  | 'recordSafetyBackup'
  | 'releaseSafetyBackup'
  | 'finishRestore'
  | 'claimRestoreWorker'
  | 'createRestoreDatabase'
  | 'dropRestoreDatabase'
  | 'prepareRestore'
  | 'restoreDatabase'
  | 'restoreDocuments'
  | 'rollbackDocuments'
  | 'finishDocuments'
  | 'verifyRestore'
  | 'discardRestoreWorkDir'
> &
  SafetyBackupFake;

/** What one workflow run did, as the fake activities saw it. */
interface Run {
  /** Every call but the step records, in order; restoreDatabase with its purpose, statuses with theirs. */
  calls: string[];
  /** The task queue each worker step ran on, by call. */
  queues: Record<string, string>;
  /** The recorded steps, `step:status`. */
  steps: string[];
  ending: RestoreEnding | undefined;
  /** Calls that fail, by the name `calls` gives them. */
  failures: Record<string, ApplicationFailure>;
  /** Set: restoreDatabase(restore) waits, heartbeating, until it is cancelled. */
  blockDatabase: { started: () => void } | undefined;
}

let run: Run;

const failure = (type: ErrorCode, details?: RestoreAttemptDetails) =>
  ApplicationFailure.create({
    type,
    message: `fake ${type}`,
    nonRetryable: true,
    details: details ? [details] : [],
  });

const taskQueue = `restore-compensation-${randomUUID()}`;
const ownQueue = `${taskQueue}@own`;
const previewQueue = `${taskQueue}@preview`;

/** Records a call and answers it with `value`, or fails it as the test asked. */
function called<T>(name: string, value: T): Promise<T> {
  run.calls.push(name);
  run.queues[name] ??= Context.current().info.taskQueue;
  const failing = run.failures[name];
  return failing ? Promise.reject(failing) : Promise.resolve(value);
}

const fakes: Fakes = {
  recordRestoreStep: (request) => {
    run.steps.push(`${request.step}:${request.status}`);
    return Promise.resolve();
  },
  setRestoreStatus: (request) => called(`setRestoreStatus(${request.status})`, undefined),
  recordRestoreApproval: () => called('recordRestoreApproval', undefined),
  lockRestore: () => called('lockRestore', undefined),
  recordSafetyBackup: () => called('recordSafetyBackup', undefined),
  releaseSafetyBackup: () => called('releaseSafetyBackup', undefined),
  finishRestore: (request) => {
    run.ending = request.ending;
    return called(`finishRestore(${request.ending.status})`, undefined);
  },
  claimRestoreWorker: () => called('claimRestoreWorker', ownQueue),
  createRestoreDatabase: () => called('createRestoreDatabase', undefined),
  dropRestoreDatabase: () => called('dropRestoreDatabase', true),
  prepareRestore: (request) =>
    called(`prepareRestore${request.previewId ? `(${request.previewId})` : ''}`, {
      manifestTables: [],
      hasDocuments: true,
      archiveBytes: 1_000,
      shared: !!request.previewId,
    }),
  restoreDatabase: async (request) => {
    const name = `restoreDatabase(${request.purpose})`;
    if (request.purpose === 'restore' && run.blockDatabase) {
      run.blockDatabase.started();
      const context = Context.current();
      const beat = setInterval(() => context.heartbeat(), 100);
      try {
        await context.cancelled;
      } finally {
        clearInterval(beat);
        run.calls.push(`${name} cancelled`);
      }
    }
    return called(name, {
      expected: [{ schema: 'public', name: 'orders', rows: 3 }],
      bytes: 100,
      durationMs: 5,
      pgRestoreVersion: 'fake',
    });
  },
  restoreDocuments: () => called('restoreDocuments', { files: 2 }),
  rollbackDocuments: () => called('rollbackDocuments', { outcome: 'previous-tree' as const }),
  finishDocuments: () => called('finishDocuments', undefined),
  verifyRestore: () => called('verifyRestore', { ok: true, tables: [], problems: [] }),
  discardRestoreWorkDir: (request) =>
    called(`discardRestoreWorkDir${request.previewId ? `(${request.previewId})` : ''}`, undefined),
  takeSafetyBackup: () => called('takeSafetyBackup', undefined),
};

let client: Client;
let connection: NativeConnection;
let workers: Worker[] = [];
let running: Promise<unknown>;

beforeAll(async () => {
  const log = testLogFile('bundle');
  const { code } = await bundleWorkflowCode({
    workflowsPath: path.resolve(import.meta.dirname, 'fakes/restore-workflows.ts'),
    logger: {
      trace() {},
      debug() {},
      info() {},
      log() {},
      warn: (message, meta) => appendLog(log, message, meta),
      error: (message, meta) => appendLog(log, message, meta),
    },
  });
  connection = await NativeConnection.connect({ address: stack().temporalAddress });
  // Heartbeats reach the server at once, and with them the cancellation the test asks for.
  const options = { connection, activities: fakes, maxHeartbeatThrottleInterval: '100ms' } as const;
  workers = [
    await Worker.create({ ...options, taskQueue, workflowBundle: { code } }),
    await Worker.create({ ...options, taskQueue: ownQueue }),
    await Worker.create({ ...options, taskQueue: previewQueue }),
  ];
  running = Promise.all(workers.map((worker) => worker.run()));
  client = new Client({ connection: await Connection.connect({ address: stack().temporalAddress }) });
});

afterAll(async () => {
  for (const worker of workers) if (worker.getState() === 'RUNNING') worker.shutdown();
  await running;
  await client?.connection.close();
  await connection?.close();
});

pointFailuresAtLogs();

beforeEach(() => {
  run = { calls: [], queues: {}, steps: [], ending: undefined, failures: {}, blockDatabase: undefined };
});

function restoreInput(overrides: Partial<RestoreWorkflowInput> = {}): RestoreWorkflowInput {
  return {
    operationId: randomUUID(),
    backupId: randomUUID(),
    destination: { kind: 'target', targetId: randomUUID(), targetName: 'shop', database: 'shop' },
    options: { mode: 'full', tables: [], documents: true, noOwner: false, terminateConnections: false },
    documentsDir: '/srv/shop/documents',
    requestedBy: 'admin',
    approval: null,
    preview: null,
    ...overrides,
  };
}

function startRestore(input: RestoreWorkflowInput) {
  return client.workflow.start('restoreWorkflow', {
    taskQueue,
    workflowId: `restore-compensation/${input.operationId}`,
    args: [input],
    workflowExecutionTimeout: '2m',
  });
}

/** Runs the restore to its end; returns how it failed (the cause's type), or null when it completed. */
async function restore(input: RestoreWorkflowInput): Promise<string | null> {
  try {
    await (await startRestore(input)).result();
    return null;
  } catch (error) {
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const cause = (error as WorkflowFailedError).cause;
    return cause instanceof ApplicationFailure ? (cause.type ?? 'ApplicationFailure') : String(cause?.name);
  }
}

/** The calls up to the step that failed, then what the failure ran. */
const throughVerify = [
  'claimRestoreWorker',
  'prepareRestore',
  'lockRestore',
  'recordSafetyBackup',
  'takeSafetyBackup',
  'restoreDatabase(restore)',
  'restoreDocuments',
  'verifyRestore',
];

describe('a restore that fails after the database was written', () => {
  it('restores the documents, then the database, from the safety backup, and releases it', async () => {
    run.failures.verifyRestore = failure('VERIFY_FAILED');
    expect(await restore(restoreInput())).toBe('VERIFY_FAILED');
    expect(run.calls).toEqual([
      ...throughVerify,
      'setRestoreStatus(rolling_back)',
      'rollbackDocuments',
      'restoreDatabase(rollback)',
      'releaseSafetyBackup',
      'discardRestoreWorkDir',
      'finishRestore(failed)',
    ]);
    expect(run.steps.slice(-4)).toEqual([
      'verify:started',
      'verify:failed',
      'rollback:started',
      'rollback:completed',
    ]);
    expect(run.ending).toMatchObject({
      status: 'failed',
      errorCode: 'VERIFY_FAILED',
      rollback: { status: 'completed', code: null },
    });
    expect(run.ending?.rollback?.message).toMatch(/^Restored from safety backup /);
    expect(run.queues['restoreDatabase(rollback)']).toBe(ownQueue);
  });

  it('records a rollback that fails, and keeps the safety backup protected', async () => {
    run.failures.verifyRestore = failure('VERIFY_FAILED');
    run.failures['restoreDatabase(rollback)'] = failure('PG_RESTORE_FAILED');
    expect(await restore(restoreInput())).toBe('VERIFY_FAILED');
    expect(run.calls.slice(throughVerify.length)).toEqual([
      'setRestoreStatus(rolling_back)',
      'rollbackDocuments',
      'restoreDatabase(rollback)',
      'discardRestoreWorkDir',
      'finishRestore(failed)',
    ]);
    expect(run.steps.at(-1)).toBe('rollback:failed');
    expect(run.ending).toMatchObject({
      status: 'failed',
      errorCode: 'VERIFY_FAILED',
      rollback: { status: 'failed', code: 'PG_RESTORE_FAILED', message: 'fake PG_RESTORE_FAILED' },
    });
  });
});

describe('a restore that fails before anything was written', () => {
  it('at validation: nothing is rolled back, and the ending says so', async () => {
    run.failures.prepareRestore = failure('CHECKSUM_MISMATCH');
    expect(await restore(restoreInput())).toBe('CHECKSUM_MISMATCH');
    expect(run.calls).toEqual([
      'claimRestoreWorker',
      'prepareRestore',
      'discardRestoreWorkDir',
      'finishRestore(failed)',
    ]);
    expect(run.steps).toEqual(['validate:started', 'validate:failed']);
    expect(run.ending).toMatchObject({
      status: 'failed',
      errorCode: 'CHECKSUM_MISMATCH',
      rollback: { status: 'not_needed', message: 'Nothing had been changed.' },
    });
  });

  it('in a first attempt that PostgreSQL rolled back: the safety backup is released, nothing restored', async () => {
    run.failures['restoreDatabase(restore)'] = failure('PG_RESTORE_FAILED', { rolledBack: true, attempt: 1 });
    expect(await restore(restoreInput())).toBe('PG_RESTORE_FAILED');
    expect(run.calls.slice(throughVerify.indexOf('restoreDatabase(restore)'))).toEqual([
      'restoreDatabase(restore)',
      'releaseSafetyBackup',
      'discardRestoreWorkDir',
      'finishRestore(failed)',
    ]);
    expect(run.ending?.rollback).toMatchObject({ status: 'not_needed' });
  });

  it('in an attempt that might have committed: the safety backup is restored all the same', async () => {
    run.failures['restoreDatabase(restore)'] = failure('PG_RESTORE_FAILED', { committed: 'unknown' });
    expect(await restore(restoreInput())).toBe('PG_RESTORE_FAILED');
    expect(run.calls).toContain('restoreDatabase(rollback)');
    expect(run.calls).not.toContain('rollbackDocuments');
    expect(run.ending?.rollback).toMatchObject({ status: 'completed' });
  });
});

describe('a restore into a new database', () => {
  it('drops the database it created when the load fails, and takes no safety backup', async () => {
    run.failures['restoreDatabase(restore)'] = failure('PG_RESTORE_FAILED');
    const input = restoreInput({
      destination: {
        kind: 'new-database',
        targetId: randomUUID(),
        targetName: 'shop',
        database: 'shop_copy',
      },
      options: { mode: 'full', tables: [], documents: false, noOwner: false, terminateConnections: false },
      documentsDir: null,
    });
    expect(await restore(input)).toBe('PG_RESTORE_FAILED');
    expect(run.calls).toEqual([
      'claimRestoreWorker',
      'prepareRestore',
      'lockRestore',
      'createRestoreDatabase',
      'restoreDatabase(restore)',
      'setRestoreStatus(rolling_back)',
      'dropRestoreDatabase',
      'discardRestoreWorkDir',
      'finishRestore(failed)',
    ]);
    expect(run.ending?.rollback).toMatchObject({
      status: 'completed',
      message: 'The database the restore created was dropped.',
    });
  });
});

describe('a restore cancelled while it loads the database', () => {
  it('lets the load report its end, then rolls back in a scope the cancellation cannot interrupt', async () => {
    let started!: () => void;
    const loading = new Promise<void>((resolve) => (started = resolve));
    run.blockDatabase = { started };
    const input = restoreInput({ options: { ...restoreInput().options, documents: false } });
    const handle = await startRestore(input);
    await loading;
    await handle.cancel();
    await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
    expect(run.calls.slice(throughVerify.indexOf('restoreDatabase(restore)'))).toEqual([
      'restoreDatabase(restore) cancelled',
      'setRestoreStatus(rolling_back)',
      'restoreDatabase(rollback)',
      'releaseSafetyBackup',
      'discardRestoreWorkDir',
      'finishRestore(cancelled)',
    ]);
    expect(run.ending).toMatchObject({
      status: 'cancelled',
      errorCode: 'CANCELLED',
      rollback: { status: 'completed' },
    });
    expect((await handle.describe()).status.name).toBe('CANCELLED');
  });
});

describe('the worker a restore runs on', () => {
  it("is the one holding the preview's extracted archive, when the preview names it", async () => {
    const previewId = randomUUID();
    expect(await restore(restoreInput({ preview: { previewId, archiveQueue: previewQueue } }))).toBeNull();
    expect(run.calls).not.toContain('claimRestoreWorker');
    expect(run.queues[`prepareRestore(${previewId})`]).toBe(previewQueue);
    expect(run.queues['restoreDatabase(restore)']).toBe(previewQueue);
    expect(run.calls.slice(-4)).toEqual([
      'releaseSafetyBackup',
      'finishDocuments',
      `discardRestoreWorkDir(${previewId})`,
      'finishRestore(completed)',
    ]);
    expect(run.queues[`discardRestoreWorkDir(${previewId})`]).toBe(previewQueue);
    expect(run.steps.slice(0, 2)).toEqual(['validate:started', 'validate:completed']);
  });
});
