// The email channel: one message to every recipient over SMTP (nodemailer), implicit TLS, STARTTLS or
// plain, with login from the environment, certificates always verified.
import nodemailer, { type NodemailerError } from 'nodemailer';
import { rootCertificates } from 'node:tls';
import type { EmailChannelConfig } from '../channel-config.ts';
import type { Notifier } from '../notifier.ts';
import { emailHtml, emailMessageId, emailSubject, emailText } from './email-message.ts';
import { deliveryFailure, isCertificateError, oneLine, requireSecret, type ReadSecret } from './failures.ts';

export interface EmailOptions {
  timeoutMs: number;
  /** PEM certificates trusted besides the system's: a relay with a certificate from a private CA. */
  trustedCa?: string | undefined;
}

/** Header values from event fields: one line, so that nothing can start a header of its own. */
function headerValue(text: string): string {
  return oneLine(text, 200);
}

export function createEmailNotifier(
  config: EmailChannelConfig,
  readSecret: ReadSecret,
  options: EmailOptions,
): Notifier {
  const receiver = `SMTP server ${config.host}:${config.port}`;
  const { timeoutMs } = options;
  return {
    kind: 'email',
    async send(notification, signal) {
      const auth =
        config.userEnv && config.passwordEnv
          ? {
              user: requireSecret(readSecret, config.userEnv, receiver),
              pass: requireSecret(readSecret, config.passwordEnv, receiver),
            }
          : undefined;
      // The password, and the base64 forms AUTH LOGIN and AUTH PLAIN send it in, in case a server echoes them.
      const secrets = auth
        ? [
            auth.pass,
            Buffer.from(auth.pass).toString('base64'),
            Buffer.from(`\u0000${auth.user}\u0000${auth.pass}`).toString('base64'),
          ]
        : [];
      const transport = nodemailer.createTransport({
        host: config.host,
        port: config.port,
        secure: config.security === 'tls',
        requireTLS: config.security === 'starttls',
        ignoreTLS: config.security === 'none',
        auth,
        tls: {
          minVersion: 'TLSv1.2',
          // Node's `ca` replaces the system's roots; a private CA is trusted in addition to them.
          ...(options.trustedCa ? { ca: [...rootCertificates, options.trustedCa] } : {}),
        },
        logger: false,
      });
      // One deadline for the whole delivery (connection, greeting, TLS, login, data) instead of nodemailer's
      // timeouts per phase, which add up to minutes.
      const timeout = AbortSignal.timeout(timeoutMs);
      try {
        const info = await transport.sendMail({
          from: { name: 'Lifeboat', address: config.from },
          to: config.to,
          subject: emailSubject(notification),
          messageId: emailMessageId(notification.eventId),
          text: emailText(notification),
          html: emailHtml(notification),
          priority: notification.severity === 'critical' ? 'high' : 'normal',
          headers: {
            // RFC 3834: tells vacation responders and ticket systems not to answer.
            'Auto-Submitted': 'auto-generated',
            'X-Lifeboat-Event-Id': headerValue(notification.eventId),
            'X-Lifeboat-Kind': headerValue(notification.kind),
            'X-Lifeboat-Severity': notification.severity,
          },
          disableFileAccess: true,
          disableUrlAccess: true,
          signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        });
        const refused = info.rejected.length
          ? `; ${info.rejected.length} of ${config.to.length} recipients refused`
          : '';
        return { detail: `${receiver}: ${oneLine(info.response, 200)}${refused}` };
      } catch (error) {
        if (signal?.aborted) throw deliveryFailure(`${receiver}: delivery aborted`, false, secrets);
        if (timeout.aborted)
          throw deliveryFailure(`${receiver}: no answer within ${timeoutMs} ms`, false, secrets);
        throw smtpFailure(error as NodemailerError, receiver, config, secrets);
      } finally {
        transport.close();
      }
    },
  };
}

/** What went wrong, and whether another attempt can go better: RFC 5321 makes 5xx final, 4xx not. */
function smtpFailure(
  error: NodemailerError,
  receiver: string,
  config: EmailChannelConfig,
  secrets: string[],
) {
  const code = (error as NodemailerError & { originalCode?: string }).originalCode ?? error.code;
  const reason = oneLine(error.response ?? error.message, 300);
  if (isCertificateError(code)) {
    return deliveryFailure(
      `${receiver}: its TLS certificate was refused (${code}): ${reason}`,
      true,
      secrets,
    );
  }
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' && config.security === 'tls') {
    return deliveryFailure(
      `${receiver} does not speak TLS on this port: security "tls" means TLS from the first byte (usually port 465); use "starttls" for 587`,
      true,
      secrets,
    );
  }
  if (error.code === 'ETLS' || error.code === 'EREQUIRETLS') {
    return deliveryFailure(`${receiver}: TLS could not be started (${reason})`, true, secrets);
  }
  if (error.code === 'ENOAUTH') return deliveryFailure(`${receiver}: ${reason}`, true, secrets);
  if (error.responseCode !== undefined) {
    const permanent = error.responseCode >= 500 && error.responseCode !== 503;
    const during = error.command ? ` to ${oneLine(error.command, 40)}` : '';
    return deliveryFailure(`${receiver} answered${during}: ${reason}`, permanent, secrets);
  }
  return deliveryFailure(`${receiver} could not be reached: ${reason}`, false, secrets);
}
