// domain/access-policy.ts and its readers: which credential variables, documents directories and
// restore destinations API callers may name.
import { mkdirSync, realpathSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { allowedDocumentsDir, realPathOf } from '../../archive/documents-dir.ts';
import { secretReader } from '../../config/env.ts';
import {
  documentsDirProblem,
  envNameProblem,
  restoreDestinationProblem,
  type EnvNamePolicy,
} from '../../domain/access-policy.ts';
import { storageUrlEnvNames } from '../../domain/storage-url.ts';
import { tempDir } from '../support/temp-dirs.ts';

const targets: EnvNamePolicy = {
  prefix: 'LIFEBOAT_TARGET_',
  reserved: ['LIFEBOAT_SECRET_KEY', 'LIFEBOAT_DATABASE_URL', 'LIFEBOAT_TARGET_ENV_PREFIX'],
};

describe('envNameProblem', () => {
  it('allows only names with the prefix', () => {
    expect(envNameProblem('LIFEBOAT_TARGET_APP', targets)).toBeUndefined();
    expect(envNameProblem('APP_PASSWORD', targets)).toMatch(/does not start with LIFEBOAT_TARGET_/);
    expect(envNameProblem('LIFEBOAT_TARGET_', targets)).toMatch(/does not start/);
    expect(envNameProblem('lifeboat_target_app', targets)).toMatch(/does not start/);
  });

  it("refuses Lifeboat's own settings whatever the prefix, and what is not a name", () => {
    expect(envNameProblem('LIFEBOAT_SECRET_KEY', targets)).toMatch(/own settings/);
    expect(envNameProblem('LIFEBOAT_TARGET_ENV_PREFIX', targets)).toMatch(/own settings/);
    expect(envNameProblem('LIFEBOAT_SECRET_KEY', { ...targets, prefix: 'LIFEBOAT_' })).toMatch(
      /own settings/,
    );
    expect(envNameProblem('A-B', targets)).toMatch(/not an environment variable name/);
  });
});

describe('storageUrlEnvNames', () => {
  it('names every credential variable of S3 and SFTP URLs, decoded', () => {
    expect(
      storageUrlEnvNames(
        's3://b/p?endpoint=http://x&accessKeyIdEnv=K&secretAccessKeyEnv=LIFEBOAT%5FSECRET%5FKEY',
      ),
    ).toEqual([
      { parameter: 'accessKeyIdEnv', name: 'K' },
      { parameter: 'secretAccessKeyEnv', name: 'LIFEBOAT_SECRET_KEY' },
    ]);
    expect(
      storageUrlEnvNames('sftp://u@h/r?hostKey=SHA256:x&privateKeyPassphraseEnv=P&passwordEnv=Q'),
    ).toEqual([
      { parameter: 'privateKeyPassphraseEnv', name: 'P' },
      { parameter: 'passwordEnv', name: 'Q' },
    ]);
    expect(storageUrlEnvNames('file:///srv/backups')).toEqual([]);
    expect(storageUrlEnvNames('s3://b?accessKeyIdEnv=%E0%A4%A')).toEqual([
      { parameter: 'accessKeyIdEnv', name: '%E0%A4%A' },
    ]);
  });
});

describe('secretReader', () => {
  it('reads allowed names and refuses the others with VALIDATION_FAILED, trusted names included', () => {
    process.env.LIFEBOAT_TARGET_UNIT_READ = 'pw';
    const read = secretReader(targets, ['OPERATOR_CHOSEN', 'LIFEBOAT_SECRET_KEY']);
    expect(read('LIFEBOAT_TARGET_UNIT_READ')).toBe('pw');
    expect(read('LIFEBOAT_TARGET_UNIT_UNSET')).toBeUndefined();
    expect(read('OPERATOR_CHOSEN')).toBeUndefined();
    expect(() => read('LIFEBOAT_SECRET_KEY')).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
    expect(() => read('HOME')).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
    delete process.env.LIFEBOAT_TARGET_UNIT_READ;
  });
});

describe('documents directories', () => {
  const policy = { roots: ['/srv/docs', '/home'], own: ['/srv/docs/lifeboat/work', '/var/lib/lifeboat'] };

  it('allows a directory at or under a root that neither is nor holds one of Lifeboat’s own', () => {
    expect(documentsDirProblem('/srv/docs', { ...policy, own: [] })).toBeUndefined();
    expect(documentsDirProblem('/srv/docs/shop', policy)).toBeUndefined();
    expect(documentsDirProblem('/home/app/files', policy)).toBeUndefined();
  });

  it('refuses one outside the roots, by path components and not by text', () => {
    expect(documentsDirProblem('/srv/docsx', policy)).toMatch(/outside/);
    expect(documentsDirProblem('/etc', policy)).toMatch(/outside/);
    expect(documentsDirProblem('/srv/docs', { roots: [], own: [] })).toMatch(/LIFEBOAT_DOCUMENTS_ROOTS/);
  });

  it("refuses Lifeboat's own directories, what lies in them and what holds them, even under a root", () => {
    expect(documentsDirProblem('/srv/docs/lifeboat/work', policy)).toMatch(/own directory/);
    expect(documentsDirProblem('/srv/docs/lifeboat/work/x', policy)).toMatch(/own directory/);
    expect(documentsDirProblem('/srv/docs/lifeboat', policy)).toMatch(/own directory/);
    expect(documentsDirProblem('/', { roots: ['/'], own: ['/var/lib/lifeboat'] })).toMatch(/own directory/);
  });

  it('resolves links before it decides, and appends what does not exist yet', () => {
    const root = realpathSync(tempDir('docs-root'));
    const outside = realpathSync(tempDir('docs-outside'));
    mkdirSync(path.join(root, 'real'));
    symlinkSync(outside, path.join(root, 'link'));
    const allowed = { roots: [root], own: [] };
    expect(allowedDocumentsDir(path.join(root, 'real'), allowed)).toBe(path.join(root, 'real'));
    expect(realPathOf(path.join(root, 'link', 'new', 'deeper'))).toBe(path.join(outside, 'new', 'deeper'));
    expect(() => allowedDocumentsDir(path.join(root, 'link'), allowed)).toThrow(
      expect.objectContaining({ code: 'VALIDATION_FAILED', details: { field: 'documentsDir' } }),
    );
    expect(() => allowedDocumentsDir(path.join(root, 'real', '..', 'link', 'x'), allowed)).toThrow(/outside/);
  });
});

describe('restoreDestinationProblem', () => {
  const catalog = { host: '127.0.0.1', port: 5432, database: 'lifeboat' };

  it('refuses the system databases and the catalog database, however its host is written', () => {
    for (const database of ['postgres', 'template0', 'template1']) {
      expect(restoreDestinationProblem({ host: 'db', port: 5432, database }, catalog)).toMatch(
        /system database/,
      );
    }
    expect(
      restoreDestinationProblem({ host: 'localhost', port: 5432, database: 'lifeboat' }, catalog),
    ).toMatch(/catalog database/);
  });

  it('allows the same name on another server or port, and any other database', () => {
    expect(
      restoreDestinationProblem({ host: 'db2', port: 5432, database: 'lifeboat' }, catalog),
    ).toBeUndefined();
    expect(
      restoreDestinationProblem({ host: '127.0.0.1', port: 5433, database: 'lifeboat' }, catalog),
    ).toBeUndefined();
    expect(
      restoreDestinationProblem({ host: '127.0.0.1', port: 5432, database: 'shop' }, catalog),
    ).toBeUndefined();
    expect(
      restoreDestinationProblem({ host: '127.0.0.1', port: 5432, database: 'lifeboat' }, null),
    ).toBeUndefined();
  });
});
