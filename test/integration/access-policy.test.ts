// What API callers may point Lifeboat at: credential variables by prefix only, documents under the
// allowed roots only, never a system or the catalog database as a restore's destination; a password
// never follows a target to another server. Every refusal is a 400 that leaves nothing behind.
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeArchive } from '../../archive/write.ts';
import type { Manifest } from '../../domain/manifest.ts';
import { backUp, startRestore, waitForRestore } from '../harness/restore.ts';
import { dumpByHand } from '../harness/fixtures.ts';
import { createDatabase, scratchDir, sql, stack, useStack } from '../harness/stack.ts';

const { db, api, storageDir, workDir } = useStack();
let database: string;
const passwordVariable = `LIFEBOAT_TARGET_TEST_${randomUUID().slice(0, 8).toUpperCase()}`;

beforeAll(async () => {
  database = await createDatabase('access');
  await sql(
    database,
    `create table invoices (id int primary key, amount numeric(10,2) not null);
     insert into invoices select g, g * 1.25 from generate_series(1, 200) g`,
  );
  process.env[passwordVariable] = stack().pgPassword;
});

afterAll(() => {
  delete process.env[passwordVariable];
});

/** The parts of a target on the harness's PostgreSQL, without a password. */
function connection(on = database) {
  const s = stack();
  return { host: '127.0.0.1', port: s.pgPort, database: on, username: s.pgSuperuser };
}

async function targetCount(name: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>('select count(*)::int as n from targets where name = $1', [
    name,
  ]);
  return rows[0]!.n;
}

/** Posts a target and expects a 400 VALIDATION_FAILED on `field` that created nothing. */
async function expectRefusedTarget(body: Record<string, unknown>, field: string, message: RegExp) {
  const name = `refused-${randomUUID().slice(0, 8)}`;
  const response = await api.json<{ error: { code: string; message: string; details?: { field?: string } } }>(
    'POST',
    '/api/admin/targets',
    { body: { name, ...connection(), ...body } },
  );
  expect(response.status, JSON.stringify(response.body)).toBe(400);
  expect(response.body.error.code).toBe('VALIDATION_FAILED');
  expect(response.body.error.message).toMatch(message);
  expect(response.body.error.message.startsWith(`${field}:`)).toBe(true);
  expect(await targetCount(name)).toBe(0);
}

describe('credential variables', () => {
  it("refuses a target whose passwordEnv names LIFEBOAT_SECRET_KEY, or any of Lifeboat's settings, with 400", async () => {
    await expectRefusedTarget({ passwordEnv: 'LIFEBOAT_SECRET_KEY' }, 'passwordEnv', /own settings/);
    await expectRefusedTarget({ passwordEnv: 'LIFEBOAT_DATABASE_URL' }, 'passwordEnv', /own settings/);
  });

  it('refuses a passwordEnv without the target prefix, and storage credentials without the storage prefix', async () => {
    await expectRefusedTarget({ passwordEnv: 'PGPASSWORD' }, 'passwordEnv', /LIFEBOAT_TARGET_/);
    await expectRefusedTarget({ passwordEnv: 'LIFEBOAT_STORAGE_X' }, 'passwordEnv', /LIFEBOAT_TARGET_/);
    const s3 = (key: string, secret: string) =>
      `s3://bucket/x?endpoint=http://127.0.0.1:9&accessKeyIdEnv=${key}&secretAccessKeyEnv=${secret}`;
    await expectRefusedTarget(
      { passwordEnv: passwordVariable, destinations: [s3('LIFEBOAT_STORAGE_KEY', 'LIFEBOAT_SECRET_KEY')] },
      'destinations',
      /secretAccessKeyEnv: LIFEBOAT_SECRET_KEY is one of Lifeboat's own settings/,
    );
    await expectRefusedTarget(
      { passwordEnv: passwordVariable, destinations: [s3('AWS_ACCESS_KEY_ID', 'LIFEBOAT_STORAGE_SECRET')] },
      'destinations',
      /accessKeyIdEnv: AWS_ACCESS_KEY_ID does not start with LIFEBOAT_STORAGE_/,
    );
    const sftp = `sftp://u@h/r?hostKey=SHA256:${'A'.repeat(43)}&passwordEnv=LIFEBOAT_DATABASE_URL`;
    await expectRefusedTarget({ destinations: [sftp] }, 'destinations', /passwordEnv: LIFEBOAT_DATABASE_URL/);
  });

  it('backs up a target whose password is in a variable with the target prefix', async () => {
    const target = await api.json<{ name: string; passwordSource: string }>('POST', '/api/admin/targets', {
      body: { name: `access-env-${database.slice(-8)}`, ...connection(), passwordEnv: passwordVariable },
    });
    expect(target.status, JSON.stringify(target.body)).toBe(201);
    expect(target.body.passwordSource).toBe('env');
    await backUp(api, target.body.name);
  });
});

describe('a target moved to another server', () => {
  it('drops the stored password when host, port or user change without a new one, and keeps it otherwise', async () => {
    const name = `access-move-${database.slice(-8)}`;
    const body = { name, ...connection(), password: stack().pgPassword };
    expect((await api.json('POST', '/api/admin/targets', { body })).status).toBe(201);
    const put = (changes: Record<string, unknown>) =>
      api.json<{ passwordSource: string }>('PUT', `/api/admin/targets/${name}`, {
        body: { name, ...connection(), ...changes },
      });

    const described = await put({ description: 'same server' });
    expect(described.body.passwordSource).toBe('stored');
    const moved = await put({ port: stack().pgPort + 1 });
    expect(moved.status).toBe(200);
    expect(moved.body.passwordSource).toBe('none');

    expect((await put({ password: stack().pgPassword })).body.passwordSource).toBe('stored');
    expect((await put({ username: 'someone_else' })).body.passwordSource).toBe('none');
    expect((await put({ passwordEnv: passwordVariable })).body.passwordSource).toBe('env');
    expect((await put({ host: 'localhost' })).body.passwordSource).toBe('none');
  });
});

describe('documentsDir', () => {
  it('refuses a directory outside the roots, inside the data or work directory, or holding one, with 400', async () => {
    const password = stack().pgPassword;
    await expectRefusedTarget({ password, documentsDir: '/etc' }, 'documentsDir', /outside the allowed/);
    const inData = path.join(storageDir, 'documents');
    mkdirSync(inData, { recursive: true });
    await expectRefusedTarget({ password, documentsDir: inData }, 'documentsDir', /Lifeboat's own/);
    await expectRefusedTarget({ password, documentsDir: workDir }, 'documentsDir', /Lifeboat's own/);
    await expectRefusedTarget(
      { password, documentsDir: path.dirname(storageDir) },
      'documentsDir',
      /Lifeboat's own/,
    );
    const destination = scratchDir('access-destination');
    await expectRefusedTarget(
      { password, destinations: [`file://${destination}`], documentsDir: path.join(destination, 'docs') },
      'documentsDir',
      /Lifeboat's own/,
    );
    // A link inside a root counts where it leads.
    const link = path.join(scratchDir('access-link'), 'docs');
    symlinkSync('/etc', link);
    await expectRefusedTarget({ password, documentsDir: link }, 'documentsDir', /outside the allowed/);
  });

  it('accepts a directory under a root, existing or not yet', async () => {
    const docs = path.join(scratchDir('access-docs'), 'not-yet');
    const created = await api.json('POST', '/api/admin/targets', {
      body: { name: `access-docs-${database.slice(-8)}`, ...connection(), documentsDir: docs },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
  });
});

describe('restore destinations', () => {
  it('refuses restoring over postgres, template0, template1 or the catalog database with 400', async () => {
    const name = `access-restore-${database.slice(-8)}`;
    expect(
      (
        await api.json('POST', '/api/admin/targets', {
          body: { name, ...connection(), password: stack().pgPassword },
        })
      ).status,
    ).toBe(201);
    const backupId = await backUp(api, name);
    const catalogName = `access-catalog-${database.slice(-8)}`;
    expect(
      (
        await api.json('POST', '/api/admin/targets', {
          body: { name: catalogName, ...connection('lifeboat_catalog'), password: stack().pgPassword },
        })
      ).status,
    ).toBe(201);
    const { rows: before } = await db.query<{ n: number }>(
      'select count(*)::int as n from restore_operations where backup_id = $1',
      [backupId],
    );
    for (const destination of [
      { database: 'postgres' },
      { database: 'template0' },
      { database: 'template1' },
      { target: catalogName },
    ]) {
      for (const step of ['restore/preview', 'restore']) {
        const response = await api.json<{ error: { code: string; message: string } }>(
          'POST',
          `/api/admin/backups/${backupId}/${step}`,
          {
            body: {
              mode: 'full',
              destination,
              ...(step === 'restore' ? { confirmationToken: 'x'.repeat(40) } : {}),
            },
          },
        );
        expect(response.status, `${step} ${JSON.stringify(destination)}`).toBe(400);
        expect(response.body.error).toMatchObject({
          code: 'VALIDATION_FAILED',
          message: expect.stringMatching(/system database|catalog database/) as unknown,
        });
      }
    }
    const { rows: after } = await db.query<{ n: number }>(
      'select count(*)::int as n from restore_operations where backup_id = $1',
      [backupId],
    );
    expect(after).toEqual(before);
  });
});

describe('GET /api/admin/backups', () => {
  it.each(['not-a-date', '2024-02-30T00:00:00Z', '0000-01-01T00:00:00Z', '0308-01-01T00:00:00Z'])(
    'answers 400 for to=%s',
    async (to) => {
      const response = await api.json<{ error: { code: string } }>(
        'GET',
        `/api/admin/backups?to=${encodeURIComponent(to)}`,
      );
      expect(response.status, JSON.stringify(response.body)).toBe(400);
      expect(response.body.error.code).toBe('VALIDATION_FAILED');
    },
  );

  it('answers 200 for a valid time whose offset PostgreSQL would not take (-23:26)', async () => {
    const query = new URLSearchParams({ from: '2024-01-01T00:00:00+15:31', to: '5531-02-07T13:06:55-23:26' });
    const response = await api.json('GET', `/api/admin/backups?${query.toString()}`);
    expect(response.status, JSON.stringify(response.body)).toBe(200);
  });
});

describe('an upload whose backup id is already taken', () => {
  it('gets a new id and restores like any backup', async () => {
    const name = `access-upload-${database.slice(-8)}`;
    expect(
      (
        await api.json('POST', '/api/admin/targets', {
          body: { name, ...connection(), password: stack().pgPassword },
        })
      ).status,
    ).toBe(201);
    const taken = await backUp(api, name);

    const dir = scratchDir('access-upload');
    const dumpFile = path.join(dir, 'source.dump');
    dumpByHand(database, dumpFile);
    const now = new Date();
    const manifest: Omit<Manifest, 'files'> = {
      formatVersion: 1,
      lifeboatVersion: 'elsewhere',
      backupId: taken,
      target: name,
      database: { name: database, serverVersion: '15', serverVersionNum: 150000, sizeBytes: 1 },
      pgDump: { version: '15', format: 'custom', compression: 'none' },
      archive: { compression: 'zstd' },
      trigger: 'manual',
      startedAt: new Date(now.getTime() - 60_000).toISOString(),
      dumpFinishedAt: new Date(now.getTime() - 55_000).toISOString(),
      tables: [{ schema: 'public', name: 'invoices', rowEstimate: 200, sizeBytes: 8192 }],
      documents: null,
      options: { tags: [] },
    };
    const file = path.join(dir, 'archive');
    await writeArchive({
      sources: [
        {
          entryName: `database/${database}.dump`,
          file: dumpFile,
          sizeBytes: readFileSync(dumpFile).length,
          mtime: now,
        },
      ],
      manifest,
      outputFile: file,
      compression: 'zstd',
    });
    const uploaded = await api.app.request('/api/admin/backups/upload', {
      method: 'POST',
      headers: { authorization: `Bearer ${api.tokens.admin}`, 'content-type': 'application/octet-stream' },
      body: new Uint8Array(readFileSync(file)),
    });
    const backup = (await uploaded.json()) as { id: string };
    expect(uploaded.status, JSON.stringify(backup)).toBe(201);
    expect(backup.id).not.toBe(taken);

    const restoredName = `${database}_up`;
    const { operationId } = await startRestore(api, backup.id, {
      mode: 'full',
      destination: { database: restoredName },
    });
    const ended = await waitForRestore(api, operationId);
    expect(ended, JSON.stringify(ended)).toMatchObject({ status: 'completed' });
    expect(await sql(restoredName, 'select count(*)::int as n from invoices')).toEqual([{ n: 200 }]);
  });
});
