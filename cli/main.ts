// `lifeboat <command>`: tokens and migrations against the catalog; backups and targets through the API.
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { generateIdentity } from '../archive/encryption.ts';
import { createToken, listTokens, revokeToken, roles, type Role } from '../catalog/tokens.ts';
import { openCatalog } from '../config/catalog.ts';
import { loadClientEnv, loadEnv, loadLocalEnvFile } from '../config/env.ts';
import { LifeboatError } from '../domain/errors.ts';
import { createApiClient } from './api-client.ts';
import { channelsUsage, runChannels } from './channels.ts';
import { planFromText } from './retention-plan.ts';
import { runStatsCommand, statsUsage } from './stats.ts';
import { drillsUsage, listDrillsCommand, runDrillCommand } from './drills.ts';

const usage = `Usage: lifeboat <command> [options]

Catalog commands (need LIFEBOAT_DATABASE_URL):
  token create --name NAME --role admin|operator|viewer [--owner PERSON]
                                                         create an API token and print it once; tokens of
                                                         one owner count as one person for approvals
  token list                                             list tokens (never their values)
  token revoke --name NAME                               revoke a token
  migrate                                                bring the catalog schema up to date

Offline:
  retention plan [--keep-last N] [--keep-hourly N] [--keep-daily N] [--keep-weekly N]
                 [--keep-monthly N] [--keep-yearly N] [--keep-within 1y5m7d2h] [--timezone ZONE]
                                                         read ISO-8601 times from stdin, print what a
                                                         policy keeps (with reasons) and removes, as JSON
  keygen [--output FILE]                                 make an age key pair for encrypted backups: the
                                                         private key to FILE (mode 0600) or stdout, the
                                                         public key (a target's recipient) to stderr

API commands (need LIFEBOAT_API_URL and LIFEBOAT_TOKEN):
  targets                                                list targets
  backup TARGET [--name N] [--description D] [--tag T]... [--protected] [--wait]
                                                         start a backup; --wait follows it to the end
  backups [--target T] [--status S] [--limit N]          list backups, newest first
  show BACKUP_ID                                         one backup, with progress while it runs
  restore BACKUP_ID [--mode full|schema-only|data-only|tables] [--table SCHEMA.TABLE]...
                    [--into-target T] [--into-database DB] [--no-documents]
                    [--method auto|swap|in-place] [--terminate-connections]
                    [--identity-file FILE] [--yes] [--wait]
                                                         preview the restore, confirm it (type the target's
                                                         name, or --yes), start it; --wait follows it
  restores                                               list restore operations
${statsUsage}
${drillsUsage}
${channelsUsage}

Inside the checkout, settings written by scripts/start.sh (data/lifeboat.env) are used when not set.`;

type Values = Record<string, string | boolean | string[] | undefined>;

function text(values: Values, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

function required(values: Values, name: string): string {
  const value = text(values, name);
  if (!value) throw new LifeboatError('VALIDATION_FAILED', `--${name} is required.\n\n${usage}`);
  return value;
}

async function withCatalog<T>(run: (db: Awaited<ReturnType<typeof openCatalog>>) => Promise<T>): Promise<T> {
  const db = await openCatalog(loadEnv().LIFEBOAT_DATABASE_URL);
  try {
    return await run(db);
  } finally {
    await db.end();
  }
}

function print(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

async function followBackup(api: ReturnType<typeof createApiClient>, id: string): Promise<void> {
  const pollMs = 1_000;
  for (let last = ''; ;) {
    const backup = await api.request<{
      status: string;
      progress: { step: string; percent: number; bytes: number } | null;
      errorCode: string | null;
      errorMessage: string | null;
    }>('GET', `/api/admin/backups/${id}`);
    const line = backup.progress
      ? `${backup.progress.step} ${backup.progress.percent}% ${backup.progress.bytes} bytes`
      : backup.status;
    if (line !== last) {
      process.stderr.write(`${line}\n`);
      last = line;
    }
    if (backup.status !== 'running') {
      print(backup);
      if (backup.status !== 'completed') process.exitCode = 1;
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

interface RestorePreview {
  mode: string;
  destination: { targetName: string; database: string; host: string; port: number };
  tables: unknown[];
  safetyBackup: boolean;
  path?: { kind: string; reasons: string[] };
  warnings: { code: string; message: string }[];
  estimatedDurationMs: number;
  confirmationToken: string;
}

/** The identity lines of an age identity file, so that the private key is read from disk, never typed. */
function identityFrom(file: string | undefined): string | undefined {
  if (!file) return undefined;
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  if (lines.length !== 1) {
    throw new LifeboatError('VALIDATION_FAILED', `${file} should hold exactly one age identity.`);
  }
  return lines[0];
}

async function confirmRestore(preview: RestorePreview, values: Values): Promise<void> {
  const { targetName, database, host, port } = preview.destination;
  const where = `database ${String(database)} of target ${String(targetName)} (${String(host)}:${String(port)})`;
  process.stderr.write(
    `Restore (${preview.mode}) into ${where}: ${preview.tables.length} table(s), about ` +
      `${Math.ceil(preview.estimatedDurationMs / 1000)} s${preview.safetyBackup ? ', after a safety backup' : ''}.\n`,
  );
  if (preview.path) process.stderr.write(`  ${preview.path.kind}: ${preview.path.reasons.join(' ')}\n`);
  for (const warning of preview.warnings)
    process.stderr.write(`  warning ${warning.code}: ${warning.message}\n`);
  if (values.yes === true) return;
  if (!process.stdin.isTTY) {
    throw new LifeboatError('VALIDATION_FAILED', 'Not a terminal: pass --yes to confirm the restore.');
  }
  const name = String(targetName);
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await prompt.question(`Type the target's name (${name}) to go ahead: `);
    if (answer.trim() !== name) throw new LifeboatError('CANCELLED', 'Nothing was restored.');
  } finally {
    prompt.close();
  }
}

async function restoreBackup(api: ReturnType<typeof createApiClient>, backupId: string, values: Values) {
  const destination = {
    ...(text(values, 'into-target') ? { target: text(values, 'into-target') } : {}),
    ...(text(values, 'into-database') ? { database: text(values, 'into-database') } : {}),
  };
  const identity = identityFrom(text(values, 'identity-file'));
  const body = {
    mode: text(values, 'mode') ?? 'full',
    ...(Array.isArray(values.table) ? { tables: values.table } : {}),
    ...(Object.keys(destination).length ? { destination } : {}),
    ...(values['no-documents'] === true ? { documents: false } : {}),
    ...(text(values, 'method') ? { method: text(values, 'method') } : {}),
    ...(values['terminate-connections'] === true ? { terminateConnections: true } : {}),
    ...(identity ? { identity } : {}),
  };
  const path = `/api/admin/backups/${encodeURIComponent(backupId)}/restore`;
  const preview = await api.request<RestorePreview>('POST', `${path}/preview`, body);
  await confirmRestore(preview, values);
  const started = await api.request<{ operationId: string }>('POST', path, {
    ...body,
    confirmationToken: preview.confirmationToken,
  });
  if (!values.wait) return print(started);
  for (let last = ''; ;) {
    const operation = await api.request<{
      status: string;
      progress: { step: string; percent: number; currentTable: string | null } | null;
    }>('GET', `/api/admin/restores/${started.operationId}`);
    const line = operation.progress
      ? `${operation.progress.step} ${operation.progress.percent}%${operation.progress.currentTable ? ` ${operation.progress.currentTable}` : ''}`
      : operation.status;
    if (line !== last) process.stderr.write(`${line}\n`);
    last = line;
    if (['completed', 'failed', 'cancelled'].includes(operation.status)) {
      print(operation);
      if (operation.status !== 'completed') process.exitCode = 1;
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY)
    process.stderr.write('Reading timestamps from stdin, one per line; end with Ctrl-D.\n');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function main(argv: string[]): Promise<void> {
  loadLocalEnvFile();
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      owner: { type: 'string' },
      role: { type: 'string' },
      description: { type: 'string' },
      tag: { type: 'string', multiple: true },
      protected: { type: 'boolean' },
      wait: { type: 'boolean' },
      target: { type: 'string' },
      status: { type: 'string' },
      limit: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      'keep-last': { type: 'string' },
      'keep-hourly': { type: 'string' },
      'keep-daily': { type: 'string' },
      'keep-weekly': { type: 'string' },
      'keep-monthly': { type: 'string' },
      'keep-yearly': { type: 'string' },
      'keep-within': { type: 'string' },
      timezone: { type: 'string' },
      output: { type: 'string', short: 'o' },
      mode: { type: 'string' },
      table: { type: 'string', multiple: true },
      'into-target': { type: 'string' },
      'into-database': { type: 'string' },
      'no-documents': { type: 'boolean' },
      method: { type: 'string' },
      'terminate-connections': { type: 'boolean' },
      'identity-file': { type: 'string' },
      yes: { type: 'boolean', short: 'y' },
      kind: { type: 'string' },
      config: { type: 'string' },
      disabled: { type: 'boolean' },
      host: { type: 'string' },
      port: { type: 'string' },
      security: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string', multiple: true },
      'user-env': { type: 'string' },
      'password-env': { type: 'string' },
      url: { type: 'string' },
      'secret-env': { type: 'string' },
      header: { type: 'string', multiple: true },
      'header-env': { type: 'string', multiple: true },
      'url-env': { type: 'string' },
      'token-env': { type: 'string' },
    },
  });
  const [command, sub, arg] = positionals;
  if (values.help || !command) {
    console.log(usage);
    return;
  }
  const client = () => {
    const env = loadClientEnv();
    return createApiClient(env.LIFEBOAT_API_URL, env.LIFEBOAT_TOKEN);
  };

  switch (`${command}${sub && (command === 'token' || command === 'retention') ? ` ${sub}` : ''}`) {
    case 'retention plan': {
      const input = await readStdin();
      const output = planFromText(
        input,
        {
          keepLast: text(values, 'keep-last'),
          keepHourly: text(values, 'keep-hourly'),
          keepDaily: text(values, 'keep-daily'),
          keepWeekly: text(values, 'keep-weekly'),
          keepMonthly: text(values, 'keep-monthly'),
          keepYearly: text(values, 'keep-yearly'),
          keepWithin: text(values, 'keep-within'),
          timezone: text(values, 'timezone'),
        },
        new Date(),
      );
      console.log(JSON.stringify(output));
      return;
    }
    case 'keygen': {
      const { identity, recipient } = await generateIdentity();
      const file = `# created: ${new Date().toISOString()}\n# public key: ${recipient}\n${identity}\n`;
      const output = text(values, 'output');
      if (output) writeFileSync(output, file, { mode: 0o600, flag: 'wx' });
      else process.stdout.write(file);
      process.stderr.write(`Public key: ${recipient}\n`);
      return;
    }
    case 'token create': {
      const role = required(values, 'role');
      if (!(roles as readonly string[]).includes(role)) {
        throw new LifeboatError('VALIDATION_FAILED', `--role must be one of ${roles.join(', ')}.`);
      }
      const name = required(values, 'name');
      const created = await withCatalog((db) =>
        createToken(db, name, role as Role, text(values, 'owner') ?? name),
      );
      print({ name: created.name, role: created.role, owner: created.owner, token: created.token });
      process.stderr.write('Store the token now: it is not shown again.\n');
      return;
    }
    case 'token list':
      print(await withCatalog((db) => listTokens(db)));
      return;
    case 'token revoke':
      await withCatalog((db) => revokeToken(db, required(values, 'name')));
      return;
    case 'migrate':
      await withCatalog(() => Promise.resolve(print({ catalog: 'up to date' })));
      return;
    case 'targets':
      print(await client().request('GET', '/api/admin/targets'));
      return;
    case 'backup': {
      if (!sub)
        throw new LifeboatError('VALIDATION_FAILED', `Name the target: lifeboat backup TARGET\n\n${usage}`);
      const api = client();
      const started = await api.request<{ backupId: string; workflowId: string }>(
        'POST',
        '/api/admin/backups',
        {
          target: sub,
          ...(text(values, 'name') ? { displayName: text(values, 'name') } : {}),
          ...(text(values, 'description') ? { description: text(values, 'description') } : {}),
          tags: values.tag ?? [],
          protected: values.protected === true,
        },
      );
      if (values.wait) await followBackup(api, started.backupId);
      else print(started);
      return;
    }
    case 'backups': {
      const query = new URLSearchParams();
      for (const name of ['target', 'status', 'limit']) {
        const value = text(values, name);
        if (value) query.set(name, value);
      }
      print(await client().request('GET', `/api/admin/backups?${query.toString()}`));
      return;
    }
    case 'restore': {
      if (!sub)
        throw new LifeboatError(
          'VALIDATION_FAILED',
          `Name the backup: lifeboat restore BACKUP_ID\n\n${usage}`,
        );
      await restoreBackup(client(), sub, values);
      return;
    }
    case 'restores':
      print(await client().request('GET', '/api/admin/restores'));
      return;
    case 'stats':
      process.stdout.write(await runStatsCommand(client(), values));
      return;
    case 'channels': {
      const result = await runChannels(client(), sub, arg, values);
      print(result);
      if (sub === 'test' && (result as { status?: string }).status !== 'sent') process.exitCode = 1;
      return;
    }
    case 'drill': {
      if (!sub)
        throw new LifeboatError('VALIDATION_FAILED', `Name the backup: lifeboat drill BACKUP_ID\n\n${usage}`);
      const { drill, passed } = await runDrillCommand(client(), sub, values.wait === true, (line) =>
        process.stderr.write(`${line}\n`),
      );
      print(drill);
      if (!passed) process.exitCode = 1;
      return;
    }
    case 'drills': {
      const query = new URLSearchParams();
      for (const name of ['status', 'limit']) {
        const value = text(values, name);
        if (value) query.set(name, value);
      }
      process.stdout.write(await listDrillsCommand(client(), query, text(values, 'output') === 'json'));
      return;
    }
    case 'show':
      if (!sub) throw new LifeboatError('VALIDATION_FAILED', 'Name the backup: lifeboat show BACKUP_ID');
      print(await client().request('GET', `/api/admin/backups/${encodeURIComponent(sub)}`));
      return;
    default:
      throw new LifeboatError(
        'VALIDATION_FAILED',
        `Unknown command "${[command, sub, arg].filter(Boolean).join(' ')}".\n\n${usage}`,
      );
  }
}

try {
  await main(process.argv.slice(2));
} catch (error) {
  if (error instanceof LifeboatError) {
    console.error(`lifeboat: ${error.code}: ${error.message}`);
  } else {
    console.error(`lifeboat: ${(error as Error).message}`);
  }
  process.exitCode = 1;
}
