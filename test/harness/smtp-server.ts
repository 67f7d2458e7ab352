// A real SMTP server for the notification tests: Mailpit (installed by scripts/setup.sh) on loopback ports,
// plain, STARTTLS or implicit TLS with a certificate made for the run, optionally requiring a login; its
// HTTP API tells what it received, and its chaos triggers make it refuse recipients for a while.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, waitForPort } from '../../stack/ports.ts';
import { tempDir } from '../support/temp-dirs.ts';
import { testLogFile } from './logs.ts';
import { startServerProcess, type ServerProcess } from './server-process.ts';

export interface SmtpServerOptions {
  /** starttls: plain, upgraded on STARTTLS (required); tls: TLS from the first byte. Plain without it. */
  tls?: 'starttls' | 'tls';
  /** The only login the server accepts; without it, the server asks for none. */
  auth?: { user: string; password: string };
}

export interface ReceivedMail {
  from: string;
  to: string[];
  subject: string;
  /** The text and HTML parts, their line ends made \n (SMTP carries \r\n). */
  text: string;
  html: string;
  /** Header name as sent → its values, undecoded. */
  headers: Record<string, string[]>;
  /** The Message-ID without its angle brackets, as Mailpit reports it. */
  messageId: string;
  /** The login the message was sent with, '' without one. */
  username: string;
}

export interface SmtpServer {
  host: '127.0.0.1';
  port: number;
  /** The server's self-signed certificate (PEM), for the client to trust; only with `tls`. */
  certificate?: string;
  /** Every message received since the start or the last `clear()`, oldest first. */
  messages(): Promise<ReceivedMail[]>;
  clear(): Promise<void>;
  /** Makes the server refuse every recipient with `code` (451: later; 550: never); no code: accept again. */
  refuseRecipients(code?: number): Promise<void>;
  /** Stops the server (the port closes); `start()` brings it back on the same ports with the same messages. */
  stop(): Promise<void>;
  start(): Promise<void>;
  logFile: string;
}

export function mailpitPath(): string {
  const local = path.resolve(import.meta.dirname, '..', '..', '.tools', 'mailpit', 'bin', 'mailpit');
  if (!existsSync(local)) throw new Error(`no Mailpit at ${local}; run scripts/setup.sh`);
  return local;
}

/** A self-signed certificate for 127.0.0.1 and localhost, valid two days; the key stays in `dir`. */
function makeCertificate(dir: string): { certFile: string; keyFile: string } {
  const certFile = path.join(dir, 'smtp-cert.pem');
  const keyFile = path.join(dir, 'smtp-key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { stdio: 'ignore' },
  );
  return { certFile, keyFile };
}

interface MailpitAddress {
  Name: string;
  Address: string;
}

export async function startSmtpServer(options: SmtpServerOptions = {}): Promise<SmtpServer> {
  const dir = tempDir('mailpit');
  const [port, apiPort] = [await freePort(), await freePort()];
  const api = `http://127.0.0.1:${apiPort}/api/v1`;
  const logFile = testLogFile(`mailpit-${port}`);
  const args = [
    '--smtp',
    `127.0.0.1:${port}`,
    '--listen',
    `127.0.0.1:${apiPort}`,
    // A file of its own, so that the messages outlive a stop() and start().
    '--database',
    path.join(dir, 'mailpit.db'),
    '--disable-version-check',
    '--smtp-disable-rdns',
    '--enable-chaos',
  ];
  let certificate: string | undefined;
  if (options.tls) {
    const { certFile, keyFile } = makeCertificate(dir);
    certificate = readFileSync(certFile, 'utf8');
    args.push('--smtp-tls-cert', certFile, '--smtp-tls-key', keyFile);
    args.push(options.tls === 'tls' ? '--smtp-require-tls' : '--smtp-require-starttls');
  }
  if (options.auth) {
    // The password goes into a file (mode 0600), never into the arguments `ps` shows.
    const authFile = path.join(dir, 'smtp-auth');
    writeFileSync(authFile, `${options.auth.user}:${options.auth.password}\n`, { mode: 0o600 });
    args.push('--smtp-auth-file', authFile);
    if (!options.tls) args.push('--smtp-auth-allow-insecure');
  }

  let server: ServerProcess | undefined;
  const start = async (): Promise<void> => {
    if (server?.running()) throw new Error(`Mailpit on port ${port} is already running`);
    server = await startServerProcess({ name: 'mailpit', command: mailpitPath(), args, port, logFile });
    await waitForPort(apiPort, 15_000);
  };
  const call = async (method: string, route: string, body?: unknown): Promise<unknown> => {
    const response = await fetch(`${api}${route}`, {
      method,
      ...(body === undefined
        ? {}
        : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
    if (!response.ok)
      throw new Error(`Mailpit ${method} ${route}: HTTP ${response.status} ${await response.text()}`);
    return response.headers.get('content-type')?.includes('json') ? response.json() : response.text();
  };

  await start();
  return {
    host: '127.0.0.1',
    port,
    ...(certificate ? { certificate } : {}),
    logFile,
    async messages() {
      const list = (await call('GET', '/messages?limit=1000')) as { messages: { ID: string }[] };
      const mails: ReceivedMail[] = [];
      // Mailpit lists the newest first.
      for (const { ID } of list.messages.reverse()) {
        const message = (await call('GET', `/message/${ID}`)) as {
          From: MailpitAddress;
          To: MailpitAddress[];
          Subject: string;
          Text: string;
          HTML: string;
          MessageID: string;
          Username: string;
        };
        const headers = (await call('GET', `/message/${ID}/headers`)) as Record<string, string[]>;
        mails.push({
          from: message.From.Address,
          to: message.To.map((address) => address.Address),
          subject: message.Subject,
          text: message.Text.replace(/\r\n/g, '\n'),
          html: message.HTML.replace(/\r\n/g, '\n'),
          headers,
          messageId: message.MessageID,
          username: message.Username,
        });
      }
      return mails;
    },
    async clear() {
      await call('DELETE', '/messages');
    },
    async refuseRecipients(code) {
      await call(
        'PUT',
        '/chaos',
        code === undefined ? {} : { Recipient: { ErrorCode: code, Probability: 100 } },
      );
    },
    async stop() {
      await server?.stop();
    },
    start,
  };
}
