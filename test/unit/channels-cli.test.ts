// `lifeboat channels add`: the flags of each kind make the settings the API takes.
import { describe, expect, it } from 'vitest';
import { channelConfigFromFlags } from '../../cli/channels.ts';
import { channelConfigSchema } from '../../notify/channel-config.ts';

describe('channelConfigFromFlags', () => {
  it('makes valid settings of every kind from its flags', () => {
    const cases = [
      {
        kind: 'email',
        host: '127.0.0.1',
        port: '2525',
        security: 'none',
        from: 'lifeboat@example.test',
        to: ['ops@example.test', 'dba@example.test'],
      },
      {
        kind: 'webhook',
        url: 'https://hooks.example.test/lifeboat',
        'secret-env': 'LIFEBOAT_NOTIFY_HOOK_KEY',
        header: ['X-Team=db=ops'],
        'header-env': ['Authorization=LIFEBOAT_NOTIFY_HOOK_AUTH'],
      },
      { kind: 'slack', 'url-env': 'LIFEBOAT_NOTIFY_SLACK_URL' },
      { kind: 'teams', 'url-env': 'LIFEBOAT_NOTIFY_TEAMS_URL' },
      { kind: 'ntfy', url: 'https://ntfy.example.test/backups', 'token-env': 'LIFEBOAT_NOTIFY_NTFY' },
    ];
    for (const flags of cases) {
      const config = channelConfigFromFlags(flags);
      expect(channelConfigSchema.safeParse(config).success, JSON.stringify(config)).toBe(true);
    }
    expect(channelConfigFromFlags(cases[1]!)).toMatchObject({
      headers: { 'X-Team': 'db=ops' },
      headerEnvs: { Authorization: 'LIFEBOAT_NOTIFY_HOOK_AUTH' },
    });
    expect(channelConfigFromFlags(cases[0]!)).toMatchObject({ port: 2525, to: cases[0]!.to });
  });

  it('takes --config JSON as it is, with --kind filled in when given', () => {
    expect(channelConfigFromFlags({ config: '{"urlEnv": "LIFEBOAT_NOTIFY_CHAT"}', kind: 'slack' })).toEqual({
      urlEnv: 'LIFEBOAT_NOTIFY_CHAT',
      kind: 'slack',
    });
  });

  it('says which flag is missing, and refuses an unknown kind and bad JSON', () => {
    expect(() => channelConfigFromFlags({ kind: 'webhook' })).toThrow(
      '--url is required for a webhook channel',
    );
    expect(() => channelConfigFromFlags({ kind: 'pigeon' })).toThrow('--kind must be');
    expect(() => channelConfigFromFlags({ config: '{nope' })).toThrow('--config is not JSON');
    expect(() => channelConfigFromFlags({ config: '[1]' })).toThrow('must be a JSON object');
    expect(() =>
      channelConfigFromFlags({ kind: 'webhook', url: 'https://x.test/', header: ['novalue'] }),
    ).toThrow('--header takes NAME=VALUE');
  });
});
