// The settings of a notification channel as stored in the catalog: zod schemas, one per kind, secrets only
// by environment-variable name.
import { z } from 'zod';

/** RFC 9110 token characters: what an HTTP header name may hold. */
const headerNamePattern = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Visible ASCII, space and tab: a header value that no proxy or fetch implementation mangles or refuses. */
const headerValuePattern = /^[\t\x20-\x7e]*$/;

const loopbackHosts = new Set(['localhost', '::1', '[::1]']);

/** True for a host name that never leaves the machine: localhost, 127.0.0.0/8, ::1. */
export function isLoopbackHost(host: string): boolean {
  return loopbackHosts.has(host.toLowerCase()) || /^127(\.\d{1,3}){3}$/.test(host);
}

/** Why `value` may not be a receiver's URL; undefined when it may. */
export function receiverUrlProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'not a URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'an http:// or https:// URL is needed';
  if (url.username || url.password) {
    return 'a URL must not hold a user or password; name an environment variable for the secret instead';
  }
  return undefined;
}

/**
 * The shape of an http(s) URL without credentials, as a pattern the OpenAPI document carries, so that
 * every URL it admits also parses: a host name whose last label holds a letter, a dotted IPv4 address, or
 * [::1]; a port up to 65535; any path and query.
 */
const label = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const hostName = `(?:${label}\\.)*[A-Za-z0-9-]*[A-Za-z][A-Za-z0-9-]*`;
const octet = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const host = `(?:${hostName}|(?:${octet}\\.){3}${octet}|\\[::1\\])`;
const port = '(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?';
const receiverUrlPattern = (path: string) => new RegExp(`^https?://${host}${port}${path}(?:[?][^\\s#]*)?$`);

/**
 * A receiver's URL in the shape `path` gives its path; a URL outside it is refused with the most precise
 * reason (a user or password in it, another scheme), else with `shape`. One check, so one message.
 */
const receiverUrlOf = (path: string, shape: string) =>
  z
    .string()
    .max(2048)
    .regex(receiverUrlPattern(path), {
      error: (issue) => (typeof issue.input === 'string' && receiverUrlProblem(issue.input)) || shape,
    });

const receiverUrl = receiverUrlOf(
  '(?:/[^\\s?#]*)?',
  'an http:// or https:// URL, e.g. https://hooks.example.com/x',
);

/** Headers Lifeboat sets itself, or that describe the connection rather than the request. */
const headersOwnedByLifeboat = ['host', 'content-length', 'content-type', 'connection', 'transfer-encoding'];

function headerNameProblem(name: string, secret: boolean): string | undefined {
  const lower = name.toLowerCase();
  if (!headerNamePattern.test(name)) return `"${name}" is not an HTTP header name`;
  if (headersOwnedByLifeboat.includes(lower) || lower.startsWith('lifeboat-')) {
    return `${name} is set by Lifeboat itself`;
  }
  if (!secret && (lower === 'authorization' || lower === 'proxy-authorization' || lower === 'cookie')) {
    return `${name} carries a secret: give it in headerEnvs, by environment-variable name`;
  }
  return undefined;
}

/**
 * The schemas of every kind, with the `…Env` fields taking names that match `envNameSource` (a regular
 * expression source; by default any environment-variable name). The API passes its access policy's
 * pattern, so that its OpenAPI document says which names it takes.
 */
export function channelConfigSchemas(envNameSource = '[A-Za-z_][A-Za-z0-9_]*') {
  const envName = z
    .string()
    .max(128)
    .regex(new RegExp(`^(?:${envNameSource})$`), {
      error: (issue) =>
        `${String(issue.input)} is not a variable a channel may name: names start with the notify prefix ` +
        '(LIFEBOAT_NOTIFY_ENV_PREFIX, e.g. LIFEBOAT_NOTIFY_SMTP_PASSWORD) and are never one of Lifeboat’s own settings',
    });

  const headerMap = (secret: boolean) =>
    z
      .record(
        z.string().max(256),
        secret
          ? envName
          : z
              .string()
              .max(1024)
              .regex(headerValuePattern, 'printable ASCII only (no line breaks or control characters)'),
      )
      .superRefine((headers, context) => {
        const names = Object.keys(headers);
        if (names.length > 20) context.addIssue({ code: 'custom', message: 'at most 20 headers' });
        for (const name of names) {
          const problem = headerNameProblem(name, secret);
          if (problem) context.addIssue({ code: 'custom', message: problem, path: [name] });
        }
      });

  const emailAddress = z.email('an email address, e.g. ops@example.com').max(254);

  const emailChannelSchema = z
    .strictObject({
      kind: z.literal('email'),
      /** The SMTP relay: a host name or an IP address. */
      host: z
        .string()
        .min(1)
        .max(253)
        .regex(/^[A-Za-z0-9.\-:[\]]+$/, 'a host name or an IP address'),
      port: z.number().int().min(1).max(65535),
      /** tls: TLS from the first byte (usually port 465); starttls: plain, then upgraded (587); none: plain. */
      security: z.enum(['tls', 'starttls', 'none']),
      from: emailAddress,
      to: z.array(emailAddress).min(1).max(50),
      userEnv: envName.optional(),
      passwordEnv: envName.optional(),
    })
    .superRefine((config, context) => {
      if (Boolean(config.userEnv) !== Boolean(config.passwordEnv)) {
        context.addIssue({
          code: 'custom',
          message: 'userEnv and passwordEnv go together: give both for SMTP authentication, or neither',
          path: [config.userEnv ? 'passwordEnv' : 'userEnv'],
        });
      }
      // A password sent over a plain connection can be read on the way; only a relay on this machine may take it.
      if (config.userEnv && config.security === 'none' && !isLoopbackHost(config.host)) {
        context.addIssue({
          code: 'custom',
          message:
            'SMTP authentication needs security "tls" or "starttls" unless the relay runs on this machine',
          path: ['security'],
        });
      }
    });

  const webhookChannelSchema = z
    .strictObject({
      kind: z.literal('webhook'),
      url: receiverUrl,
      /** The HMAC-SHA256 key that signs every request (Lifeboat-Signature). */
      secretEnv: envName.optional(),
      /** Headers sent as they are: nothing secret. */
      headers: headerMap(false).optional(),
      /** Header name → the environment variable holding its value, for secret headers such as Authorization. */
      headerEnvs: headerMap(true).optional(),
    })
    .superRefine((config, context) => {
      const plain = new Set(Object.keys(config.headers ?? {}).map((name) => name.toLowerCase()));
      for (const name of Object.keys(config.headerEnvs ?? {})) {
        if (plain.has(name.toLowerCase())) {
          context.addIssue({
            code: 'custom',
            message: `${name} is in headers too`,
            path: ['headerEnvs', name],
          });
        }
      }
    });

  const slackChannelSchema = z.strictObject({
    kind: z.literal('slack'),
    /** Holds the incoming-webhook URL, itself a secret (Slack, Mattermost, Discord's `/slack`). */
    urlEnv: envName,
  });

  const teamsChannelSchema = z.strictObject({
    kind: z.literal('teams'),
    /** Holds the Teams (Power Automate workflow) webhook URL, itself a secret. */
    urlEnv: envName,
  });

  const ntfyChannelSchema = z.strictObject({
    kind: z.literal('ntfy'),
    /** The topic URL, e.g. https://ntfy.sh/lifeboat-alerts. */
    url: receiverUrlOf('/[^\\s?#/]+(?:/[^\\s?#]*)?', 'the URL of a topic: https://host/topic'),
    /** Holds an access token, sent as `Authorization: Bearer`. */
    tokenEnv: envName.optional(),
  });

  const config = z.discriminatedUnion('kind', [
    emailChannelSchema,
    webhookChannelSchema,
    slackChannelSchema,
    teamsChannelSchema,
    ntfyChannelSchema,
  ]);

  return {
    email: emailChannelSchema,
    webhook: webhookChannelSchema,
    slack: slackChannelSchema,
    teams: teamsChannelSchema,
    ntfy: ntfyChannelSchema,
    config,
  };
}

const schemas = channelConfigSchemas();
export const emailChannelSchema = schemas.email;
export const webhookChannelSchema = schemas.webhook;
export const slackChannelSchema = schemas.slack;
export const teamsChannelSchema = schemas.teams;
export const ntfyChannelSchema = schemas.ntfy;
export const channelConfigSchema = schemas.config;

export type ChannelConfig = z.infer<typeof channelConfigSchema>;
export type EmailChannelConfig = z.infer<typeof emailChannelSchema>;
export type WebhookChannelConfig = z.infer<typeof webhookChannelSchema>;
export type SlackChannelConfig = z.infer<typeof slackChannelSchema>;
export type TeamsChannelConfig = z.infer<typeof teamsChannelSchema>;
export type NtfyChannelConfig = z.infer<typeof ntfyChannelSchema>;

/** Every environment-variable name a channel's settings refer to, for checking them against the policy. */
export function channelEnvNames(config: ChannelConfig): string[] {
  switch (config.kind) {
    case 'email':
      return [config.userEnv, config.passwordEnv].filter((name): name is string => Boolean(name));
    case 'webhook':
      return [...(config.secretEnv ? [config.secretEnv] : []), ...Object.values(config.headerEnvs ?? {})];
    case 'slack':
    case 'teams':
      return [config.urlEnv];
    case 'ntfy':
      return config.tokenEnv ? [config.tokenEnv] : [];
  }
}
