// `lifeboat channels add|list|test|remove`: a channel's settings from flags (or --config JSON), and the
// calls to the API that manage and test channels.
import { LifeboatError } from '../domain/errors.ts';
import type { ApiClient } from './api-client.ts';

export const channelsUsage = `  channels list                                          list notification channels
  channels add --name N --kind email --host H --port P --security tls|starttls|none --from ADDR
               --to ADDR [--to ADDR]... [--user-env VAR --password-env VAR]
  channels add --name N --kind webhook --url URL [--secret-env VAR] [--header NAME=VALUE]...
               [--header-env NAME=VAR]...
  channels add --name N --kind slack|teams --url-env VAR
  channels add --name N --kind ntfy --url TOPIC_URL [--token-env VAR]
  channels add --name N --config JSON                    the settings as the API takes them; every add
                                                         takes --disabled (created switched off). Secrets
                                                         only by variable name (LIFEBOAT_NOTIFY_…), read
                                                         by the worker when it sends
  channels test NAME                                     send a test notification through it now
  channels remove NAME                                   delete a channel no rule names`;

export type Flags = Record<string, string | boolean | string[] | undefined>;

function flag(flags: Flags, name: string): string | undefined {
  const value = flags[name];
  return typeof value === 'string' ? value : undefined;
}

function list(flags: Flags, name: string): string[] {
  const value = flags[name];
  if (Array.isArray(value)) return value;
  return typeof value === 'string' ? [value] : [];
}

function needed(flags: Flags, name: string, kind: string): string {
  const value = flag(flags, name);
  if (!value) throw new LifeboatError('VALIDATION_FAILED', `--${name} is required for a ${kind} channel.`);
  return value;
}

/** `NAME=VALUE` pairs into an object; the first `=` splits, so values may hold one. */
function pairs(entries: string[], option: string): Record<string, string> | undefined {
  if (!entries.length) return undefined;
  const result: Record<string, string> = {};
  for (const entry of entries) {
    const at = entry.indexOf('=');
    if (at <= 0)
      throw new LifeboatError('VALIDATION_FAILED', `--${option} takes NAME=VALUE, not "${entry}".`);
    result[entry.slice(0, at)] = entry.slice(at + 1);
  }
  return result;
}

/** The `config` of a new channel, from --config or from the flags of its kind. The API checks it in full. */
export function channelConfigFromFlags(flags: Flags): Record<string, unknown> {
  const json = flag(flags, 'config');
  if (json !== undefined) {
    let config: unknown;
    try {
      config = JSON.parse(json);
    } catch (error) {
      throw new LifeboatError('VALIDATION_FAILED', `--config is not JSON: ${(error as Error).message}`);
    }
    if (!config || typeof config !== 'object' || Array.isArray(config)) {
      throw new LifeboatError('VALIDATION_FAILED', '--config must be a JSON object.');
    }
    const kind = flag(flags, 'kind');
    return kind ? { ...(config as Record<string, unknown>), kind } : (config as Record<string, unknown>);
  }
  const kind = flag(flags, 'kind');
  const optional = (name: string, key: string) => (flag(flags, name) ? { [key]: flag(flags, name) } : {});
  switch (kind) {
    case 'email': {
      const port = Number(needed(flags, 'port', kind));
      return {
        kind,
        host: needed(flags, 'host', kind),
        port,
        security: needed(flags, 'security', kind),
        from: needed(flags, 'from', kind),
        to: list(flags, 'to'),
        ...optional('user-env', 'userEnv'),
        ...optional('password-env', 'passwordEnv'),
      };
    }
    case 'webhook': {
      const headers = pairs(list(flags, 'header'), 'header');
      const headerEnvs = pairs(list(flags, 'header-env'), 'header-env');
      return {
        kind,
        url: needed(flags, 'url', kind),
        ...optional('secret-env', 'secretEnv'),
        ...(headers ? { headers } : {}),
        ...(headerEnvs ? { headerEnvs } : {}),
      };
    }
    case 'slack':
    case 'teams':
      return { kind, urlEnv: needed(flags, 'url-env', kind) };
    case 'ntfy':
      return { kind, url: needed(flags, 'url', kind), ...optional('token-env', 'tokenEnv') };
    default:
      throw new LifeboatError(
        'VALIDATION_FAILED',
        '--kind must be email, webhook, slack, teams or ntfy (or give --config JSON).',
      );
  }
}

const base = '/api/admin/notifications/channels';

/** Runs `channels <sub>`; what it prints is the API's answer, as JSON. */
export async function runChannels(
  api: ApiClient,
  sub: string | undefined,
  arg: string | undefined,
  flags: Flags,
): Promise<unknown> {
  const named = (what: string) => {
    if (!arg)
      throw new LifeboatError('VALIDATION_FAILED', `Name the channel: lifeboat channels ${what} NAME`);
    return `${base}/${encodeURIComponent(arg)}`;
  };
  switch (sub) {
    case 'list':
    case undefined:
      return api.request('GET', base);
    case 'add': {
      const name = flag(flags, 'name');
      if (!name) throw new LifeboatError('VALIDATION_FAILED', '--name is required.');
      return api.request('POST', base, {
        name,
        enabled: flags.disabled !== true,
        config: channelConfigFromFlags(flags),
      });
    }
    case 'test':
      return api.request('POST', `${named('test')}/test`);
    case 'remove':
      await api.request('DELETE', named('remove'));
      return { removed: arg };
    default:
      throw new LifeboatError('VALIDATION_FAILED', `Unknown command "channels ${sub}".\n\n${channelsUsage}`);
  }
}
