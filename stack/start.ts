// `scripts/start.sh`: the whole of Lifeboat on its embedded defaults — PostgreSQL, the Temporal dev
// server with its Web UI, the catalog, a demo target, the worker and the API. Ctrl-C stops it all.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createSecretBox } from '../catalog/secret-box.ts';
import { createTarget, findTarget } from '../catalog/targets.ts';
import { authenticateToken } from '../catalog/tokens.ts';
import { ensureBootstrapToken } from '../api/bootstrap-token.ts';
import { openCatalog } from '../config/catalog.ts';
import { childEnv, localEnvFile } from '../config/env.ts';
import { resolveTargetInput } from '../domain/target.ts';
import { ensureDatabase, ensureDemoDocuments, fillDemoDatabase } from './demo.ts';
import { waitForPort } from './ports.ts';
import { startPostgresCluster } from './postgres-cluster.ts';
import { startTemporalDevServer } from './temporal-dev-server.ts';

const root = path.resolve(import.meta.dirname, '..');
const dataDir = path.join(root, 'data');
const ports = { postgres: 55432, temporal: 7233, temporalUi: 8233, api: 8080 };

/** A secret generated on first start and kept in data/, so restarts keep working with the same data. */
function persistentSecret(name: string, make: () => string): string {
  const file = path.join(dataDir, name);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const value = make();
  writeFileSync(file, `${value}\n`, { mode: 0o600 });
  return value;
}

function prefixed(child: ChildProcess, name: string): void {
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) if (line) process.stdout.write(`[${name}] ${line}\n`);
    });
  }
}

async function main(): Promise<void> {
  mkdirSync(dataDir, { recursive: true });
  // The PostgreSQL server runs as its own user and must be able to pass through data/ to its cluster.
  chmodSync(dataDir, 0o711);
  const pgPassword = persistentSecret('postgres-password', () => randomBytes(18).toString('base64url'));
  const secretKey = persistentSecret('secret-key', () => randomBytes(32).toString('hex'));

  console.log('lifeboat: starting PostgreSQL and the Temporal dev server…');
  const cluster = await startPostgresCluster({
    dataDir: path.join(dataDir, 'postgres', 'data'),
    port: ports.postgres,
    password: pgPassword,
  });
  const temporal = await startTemporalDevServer({
    dbFile: path.join(dataDir, 'temporal', 'dev.db'),
    port: ports.temporal,
    uiPort: ports.temporalUi,
    logFile: path.join(dataDir, 'temporal.log'),
  });
  const children: ChildProcess[] = [];
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    console.log('\nlifeboat: stopping…');
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
            setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
          }),
      ),
    );
    await temporal.stop();
    cluster.stop();
    console.log('lifeboat: stopped.');
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

  try {
    await ensureDatabase(cluster.url('postgres'), 'lifeboat');
    if (await ensureDatabase(cluster.url('postgres'), 'demo')) await fillDemoDatabase(cluster.url('demo'));
    const documentsDir = path.join(dataDir, 'demo-documents');
    ensureDemoDocuments(documentsDir);

    const catalogUrl = cluster.url('lifeboat');
    const db = await openCatalog(catalogUrl);
    const secrets = createSecretBox(secretKey);
    if (!(await findTarget(db, 'demo'))) {
      const demo = resolveTargetInput({
        name: 'demo',
        description: 'The demo shop database and its documents',
        url: cluster.url('demo'),
        documentsDir,
      });
      if (!demo.ok) throw new Error(demo.message);
      await createTarget(db, secrets, demo.value);
    }
    const tokenFile = path.join(dataDir, 'admin-token');
    // As the API does: a first token for a new catalog, none for one whose tokens were all revoked.
    await ensureBootstrapToken(db, tokenFile);
    const token = existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() : '';
    if (!token || !(await authenticateToken(db, token))) {
      console.warn(
        `lifeboat: ${tokenFile} holds no active token (were they all revoked?); make one with ` +
          '`npx lifeboat token create --name NAME --role admin`.',
      );
    }
    await db.end();

    const env: Record<string, string> = {
      LIFEBOAT_DATABASE_URL: catalogUrl,
      LIFEBOAT_SECRET_KEY: secretKey,
      TEMPORAL_ADDRESS: temporal.address,
      LIFEBOAT_STORAGE_URL: `file://${path.join(dataDir, 'backups')}`,
      LIFEBOAT_WORK_DIR: path.join(dataDir, 'work'),
      // The demo's documents, and nothing else, may be a target's documentsDir (none is by default).
      LIFEBOAT_DOCUMENTS_ROOTS: documentsDir,
      LIFEBOAT_API_HOST: '127.0.0.1',
      LIFEBOAT_API_PORT: String(ports.api),
      LIFEBOAT_ADMIN_TOKEN_FILE: tokenFile,
    };
    const apiUrl = `http://127.0.0.1:${ports.api}`;
    writeFileSync(
      localEnvFile,
      Object.entries({ ...env, LIFEBOAT_API_URL: apiUrl, LIFEBOAT_TOKEN: token })
        .map(([key, value]) => `${key}=${value}`)
        .join('\n') + '\n',
      { mode: 0o600 },
    );

    for (const [name, entry] of [
      ['worker', 'worker/main.ts'],
      ['api', 'api/main.ts'],
    ] as const) {
      const child = spawn(process.execPath, [path.join(root, entry)], {
        env: childEnv(env),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      prefixed(child, name);
      child.once('exit', (code) => {
        if (!stopping) {
          console.error(`lifeboat: the ${name} exited (${code}); stopping everything.`);
          void stop(1);
        }
      });
      children.push(child);
    }
    await waitForPort(ports.api, 60_000);
    console.log(`
Lifeboat is running.
  API:           ${apiUrl}   (OpenAPI: ${apiUrl}/api/openapi.json)
  Temporal UI:   ${temporal.uiUrl}
  Admin token:   in ${tokenFile} (mode 0600)
  Demo target:   demo (database "demo" on 127.0.0.1:${ports.postgres}, documents in ${documentsDir})
  Backups go to: ${path.join(dataDir, 'backups')}

Try:  curl -s -X POST ${apiUrl}/api/admin/backups -H "Authorization: Bearer $(cat ${tokenFile})" \\
        -H 'content-type: application/json' -d '{"target":"demo"}'
Or:   npx lifeboat backup demo --wait

Press Ctrl-C to stop.`);
  } catch (error) {
    console.error(`lifeboat: could not start: ${(error as Error).message}`);
    await stop(1);
  }
}

await main();
