// A real OpenSSH server for SFTP storage tests: its own config, host key, client key and log, on a
// loopback port, as the current user (root or not); stop() ends it and every session it forked.
// Without PAM, sshd refuses a locked account (`*` or `!` password field): a developer's own is fine.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { freePort } from '../../stack/ports.ts';
import { startServerProcess, type ServerProcess } from './server-process.ts';

const sshd = '/usr/sbin/sshd';
const stopTimeoutMs = 10_000;

export interface SftpServer {
  host: string;
  port: number;
  user: string;
  /** The directory the URLs point into; tests may read it directly. */
  rootDir: string;
  /** The host key's `SHA256:...` fingerprint, as `ssh-keygen -lf` prints it. */
  hostKeyFingerprint: string;
  /** A private key (no passphrase) the server accepts. */
  privateKeyFile: string;
  /** sshd's own log (-e, LogLevel VERBOSE). */
  logFile: string;
  /** An sftp:// URL for key authentication, rooted at `rootDir/subdir`; `query` adds or replaces parameters. */
  url(subdir?: string, query?: Record<string, string | undefined>): string;
  /** A new ed25519 key pair; its private key file, accepted by the server when `authorized` (default). */
  createClientKey(options?: { passphrase?: string; authorized?: boolean }): string;
  /** Kills every session process, as a server restart or a network cut would; the listener stays. */
  dropConnections(): Promise<void>;
  stop(): Promise<void>;
}

function generateKey(file: string, passphrase = ''): string {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', 'lifeboat-test', '-f', file]);
  const printed = execFileSync('ssh-keygen', ['-l', '-f', `${file}.pub`], { encoding: 'utf8' });
  const fingerprint = /SHA256:[A-Za-z0-9+/]+/.exec(printed)?.[0];
  if (!fingerprint) throw new Error(`ssh-keygen -l printed no SHA256 fingerprint: ${printed}`);
  return fingerprint;
}

/** PerSourcePenalties (OpenSSH 9.8+) would block 127.0.0.1 after the tests' deliberate failures. */
function supportsPerSourcePenalties(): boolean {
  const version = /OpenSSH_(\d+)\.(\d+)/.exec(spawnSync(sshd, ['-V'], { encoding: 'utf8' }).stderr);
  return !!version && (Number(version[1]) > 9 || (Number(version[1]) === 9 && Number(version[2]) >= 8));
}

/** Processes descended from `pid` (Linux /proc); sshd's sessions call setsid, so no process group holds them. */
function descendants(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // The process ended while we looked.
    }
  }
  const found: number[] = [];
  const visit = (parent: number): void => {
    for (const [child, itsParent] of parents) {
      if (itsParent === parent) {
        found.push(child);
        visit(child);
      }
    }
  };
  visit(pid);
  return found;
}

function isRunning(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function killAll(pids: number[]): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
  }
  const deadline = Date.now() + stopTimeoutMs;
  while (pids.some(isRunning)) {
    if (Date.now() > deadline) {
      for (const pid of pids.filter(isRunning)) process.kill(pid, 'SIGKILL');
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Keys, authorized_keys and sshd_config in `dir`, checked with `sshd -t`. */
function writeServerFiles(dir: string, port: number, user: string) {
  const hostKey = path.join(dir, 'host_ed25519_key');
  const hostKeyFingerprint = generateKey(hostKey);
  const authorizedKeys = path.join(dir, 'authorized_keys');
  writeFileSync(authorizedKeys, '');
  let keys = 0;
  const createClientKey: SftpServer['createClientKey'] = ({ passphrase, authorized = true } = {}) => {
    keys += 1;
    const file = path.join(dir, `client_key_${keys}`);
    generateKey(file, passphrase);
    if (authorized) appendFileSync(authorizedKeys, readFileSync(`${file}.pub`));
    return file;
  };
  const config = path.join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      'ListenAddress 127.0.0.1',
      `Port ${port}`,
      `HostKey ${hostKey}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      `AllowUsers ${user}`,
      'PermitRootLogin prohibit-password',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'LogLevel VERBOSE',
      'MaxStartups 100',
      ...(supportsPerSourcePenalties() ? ['PerSourcePenalties no'] : []),
      'AllowTcpForwarding no',
      'X11Forwarding no',
      'Subsystem sftp internal-sftp',
      'ForceCommand internal-sftp',
      '',
    ].join('\n'),
  );
  // As root, sshd insists on its privilege separation directory.
  if (process.getuid?.() === 0 && !existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755 });
  const check = spawnSync(sshd, ['-t', '-f', config], { encoding: 'utf8' });
  if (check.status !== 0) {
    throw new Error(
      `${sshd} -t refused the test configuration (scripts/setup.sh installs openssh-server): ` +
        (check.error?.message ?? check.stderr),
    );
  }
  return { config, hostKeyFingerprint, createClientKey, privateKeyFile: createClientKey() };
}

export async function startSftpServer(): Promise<SftpServer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'lifeboat-sftp-'));
  const rootDir = path.join(dir, 'root');
  mkdirSync(rootDir);
  const user = userInfo().username;
  const port = await freePort();
  const logFile = path.join(dir, 'sshd.log');
  let files: ReturnType<typeof writeServerFiles>;
  let server: ServerProcess;
  try {
    files = writeServerFiles(dir, port, user);
    server = await startServerProcess({
      name: 'sshd',
      command: sshd,
      args: ['-D', '-e', '-f', files.config],
      port,
      logFile,
      stopTimeoutMs,
    });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const { hostKeyFingerprint, createClientKey, privateKeyFile } = files;
  const sessions = (): number[] => (server.pid === undefined ? [] : descendants(server.pid));
  const stop = async (): Promise<void> => {
    if (server.running()) {
      await killAll(sessions());
      await server.stop();
    }
    rmSync(dir, { recursive: true, force: true });
  };

  return {
    host: '127.0.0.1',
    port,
    user,
    rootDir,
    hostKeyFingerprint,
    privateKeyFile,
    logFile,
    url(subdir = '', query = {}) {
      const parameters = { hostKey: hostKeyFingerprint, privateKeyFile, ...query };
      const search = Object.entries(parameters)
        .filter(([, value]) => value !== undefined)
        .map(([name, value]) => `${name}=${encodeURIComponent(value)}`)
        .join('&');
      return `sftp://${user}@127.0.0.1:${port}${path.posix.join(rootDir, subdir)}?${search}`;
    },
    createClientKey,
    async dropConnections() {
      await killAll(sessions());
    },
    stop,
  };
}
