// The patterns the OpenAPI document shows and zod enforces take only what the code behind them accepts:
// every string a pattern matches passes the older, hand-written check, so a request the document allows is
// never refused further on (and, where both are total, the two agree on random input).
import fc from 'fast-check';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateIdentity } from '../../archive/encryption.ts';
import { documentsDirSource, envNameSource } from '../../domain/access-patterns.ts';
import { documentsDirProblem, envNameProblem, type EnvNamePolicy } from '../../domain/access-policy.ts';
import { ageRecipientsSchema } from '../../domain/age-keys.ts';
import { parseTableName, tableNamePattern } from '../../domain/restore/options.ts';
import { cronPattern, cronProblem, scheduleInputSchema } from '../../domain/schedule.ts';
import { storageUrlPattern, storageUrlSchema } from '../../domain/storage-url-pattern.ts';
import { storageUrlEnvNames, storageUrlProblem } from '../../domain/storage-url.ts';
import { connectionUrlPattern, resolveTargetInput } from '../../domain/target.ts';
import { instant, instantPattern } from '../../domain/text.ts';
import { isComputableTimeZone, isValidTimeZone, timeZones } from '../../domain/time-zone.ts';

const runs = { numRuns: 3_000 };

/** `source` without its lookaheads (`(?=…)`, `(?!…)`), which fast-check cannot draw from. */
function withoutLookaheads(source: string): string {
  let out = '';
  for (let i = 0; i < source.length; i++) {
    if (source.startsWith('(?=', i) || source.startsWith('(?!', i)) {
      let depth = 0;
      let inClass = false;
      for (; i < source.length; i++) {
        const char = source[i];
        if (char === '\\') i++;
        else if (inClass) inClass = char !== ']';
        else if (char === '[') inClass = true;
        else if (char === '(') depth++;
        else if (char === ')' && --depth === 0) break;
      }
      continue;
    }
    out += source[i];
    if (source[i] === '\\') out += source[++i];
  }
  return out;
}

/** Strings `pattern` matches: drawn from it without its lookaheads, kept when the whole pattern matches. */
const matching = (pattern: RegExp) =>
  fc.stringMatching(new RegExp(withoutLookaheads(pattern.source))).filter((text) => pattern.test(text));
const reserved = ['LIFEBOAT_SECRET_KEY', 'LIFEBOAT_DATABASE_URL', 'LIFEBOAT_TARGET_RESERVED'];
const storageEnv: EnvNamePolicy = { prefix: 'LIFEBOAT_STORAGE_', reserved };
const targetEnv: EnvNamePolicy = { prefix: 'LIFEBOAT_TARGET_', reserved };

describe('cron expressions', () => {
  it('match the pattern only when cronProblem has nothing against them', () => {
    fc.assert(
      fc.property(fc.stringMatching(cronPattern), (cron) => cronProblem(cron) === undefined),
      runs,
    );
    const part = fc.constantFrom(
      '*',
      '0',
      '7',
      '59',
      '60',
      '1-5',
      '5-1',
      'jan-MAR',
      'sun-7',
      '*/0',
      '*/15',
      '007',
      'DEC-JAN',
      '31',
      '24',
      'SAT',
    );
    const expression = fc
      .tuple(
        fc.array(fc.array(part, { minLength: 1, maxLength: 3 }), { minLength: 5, maxLength: 5 }),
        fc.constantFrom(' ', '\t', '  '),
      )
      .map(([fields, space]) => fields.map((field) => field.join(',')).join(space));
    fc.assert(
      fc.property(expression, (cron) => cronPattern.test(cron) === (cronProblem(cron) === undefined)),
      runs,
    );
  });

  it('are refused with cronProblem’s words, and with exactly one of frequency and cron', () => {
    const refused = scheduleInputSchema.safeParse({ name: 'a', target: 't', cron: '5-3 * * * *' });
    expect(refused.error?.issues.map((issue) => issue.message)).toEqual([
      'minute: range "5-3" runs backwards',
    ]);
    expect(scheduleInputSchema.safeParse({ name: 'a', target: 't', cron: '@every 9s' }).success).toBe(false);
    expect(scheduleInputSchema.safeParse({ name: 'a', target: 't', cron: '\t0 3 * * sun-7 ' }).success).toBe(
      true,
    );
  });
});

describe('instants', () => {
  it('match the pattern only on days the calendar has, from 1970 to 9999, and then zod reads them', () => {
    fc.assert(
      fc.property(fc.stringMatching(instantPattern), (text) => instant().safeParse(text).success),
      runs,
    );
    const days = fc.date({
      min: new Date('1970-01-01T00:00:00Z'),
      max: new Date('9999-12-31T23:59:59Z'),
      noInvalidDate: true,
    });
    fc.assert(
      fc.property(days, (day) => instantPattern.test(day.toISOString())),
      runs,
    );
    for (const text of [
      '2100-02-29T00:00:00Z',
      '2023-04-31T00:00:00Z',
      '1969-12-31T23:59:59Z',
      '2024-01-01t00:00:00z',
      '2024-06-30T23:59:60Z',
    ]) {
      expect(instantPattern.test(text), text).toBe(false);
    }
    expect(instantPattern.test('2000-02-29T00:00:00.5-23:59')).toBe(true);
  });
});

describe('time zones', () => {
  it('are the ones Intl lists and UTC, each of which it can compute', () => {
    expect(timeZones[0]).toBe('UTC');
    expect(timeZones.every(isComputableTimeZone)).toBe(true);
    expect(['UTC', 'Europe/Berlin', 'Asia/Tokyo'].every(isValidTimeZone)).toBe(true);
    // Spellings Intl takes but does not list: readable in stored policies, refused in new requests.
    for (const zone of ['europe/berlin', 'US/Eastern', '+01:00', 'utc']) {
      expect(isValidTimeZone(zone), zone).toBe(false);
      expect(isComputableTimeZone(zone), zone).toBe(true);
    }
  });
});

describe('environment-variable names', () => {
  it('match a policy’s pattern only when envNameProblem lets them through', () => {
    const pattern = new RegExp(`^${envNameSource(targetEnv)}$`);
    fc.assert(
      fc.property(matching(pattern), (name) => envNameProblem(name, targetEnv) === undefined),
      runs,
    );
    const names = fc.oneof(
      fc.constantFrom(
        ...reserved,
        'LIFEBOAT_TARGET_',
        'LIFEBOAT_STORAGE_X',
        'PGPASSWORD',
        'lifeboat_target_x',
      ),
      fc.stringMatching(/^(?:LIFEBOAT_TARGET_)?[A-Za-z0-9_]{0,6}$/),
    );
    fc.assert(
      fc.property(names, (name) => pattern.test(name) === (envNameProblem(name, targetEnv) === undefined)),
      runs,
    );
  });
});

describe('storage URLs', () => {
  const pattern = storageUrlPattern(storageEnv);

  it('match the pattern only when storageUrlProblem accepts them and they name allowed variables', () => {
    fc.assert(
      fc.property(matching(pattern), (url) => {
        const names = storageUrlEnvNames(url).map(({ name }) => envNameProblem(name, storageEnv));
        return storageUrlProblem(url) === undefined && names.every((problem) => problem === undefined);
      }),
      runs,
    );
  });

  it('take the URLs the test harness and the README write', () => {
    const query = new URLSearchParams({
      endpoint: 'http://127.0.0.1:9000',
      accessKeyIdEnv: 'LIFEBOAT_STORAGE_KEY',
      secretAccessKeyEnv: 'LIFEBOAT_STORAGE_SECRET',
    });
    const hostKey = encodeURIComponent(`SHA256:${'aB3+/'.repeat(8)}abc`);
    for (const url of [
      'file:///var/lib/lifeboat/backups',
      `s3://lb-0123456789ab/?${query.toString()}`,
      's3://bucket/app',
      `sftp://backup@127.0.0.1:2222/srv/backups?hostKey=${hostKey}&privateKeyFile=%2Fkeys%2Fid_ed25519`,
      'sftp://u@h/r?privateKeyFile=/k&hostKey=SHA256:abc&passwordEnv=LIFEBOAT_STORAGE_SFTP',
    ]) {
      expect(pattern.test(url), url).toBe(true);
    }
  });

  it('are refused with the reason: a password, a Lifeboat setting, a missing host key', () => {
    const refusal = (url: string) => storageUrlSchema(storageEnv).safeParse(url).error?.issues[0]?.message;
    expect(refusal('s3://key:secret@bucket')).toMatch(/password/);
    expect(refusal('s3://bucket/x?secretAccessKeyEnv=LIFEBOAT_SECRET_KEY')).toMatch(
      /one of Lifeboat's own settings/,
    );
    expect(refusal('sftp://u@h/dir')).toMatch(/hostKey/);
    expect(refusal('file:///srv/a b')).toMatch(/not a storage URL Lifeboat takes/);
  });
});

describe('connection URLs', () => {
  it('give resolveTargetInput a whole connection when they have a user, a host and a database', () => {
    const full = connectionUrlPattern({ user: true, host: true, database: true });
    fc.assert(
      fc.property(matching(full), (url) => resolveTargetInput({ name: 'a', url }).ok),
      runs,
    );
  });

  it('without a password, give none', () => {
    const pattern = connectionUrlPattern({ user: true, host: true, database: true, password: false });
    fc.assert(
      fc.property(matching(pattern), (url) => {
        const resolved = resolveTargetInput({ name: 'a', url, passwordEnv: 'LIFEBOAT_TARGET_X' });
        return resolved.ok && resolved.value.password.kind === 'env';
      }),
      runs,
    );
  });
});

describe('documents directories', () => {
  it('match a policy’s pattern only where documentsDirProblem allows them', () => {
    const policy = { roots: ['/srv/docs', '/data'], own: ['/data/lifeboat/work', '/srv/backups'] };
    const pattern = new RegExp(`^${documentsDirSource(policy)}$`);
    fc.assert(
      fc.property(
        matching(pattern),
        (dir) => documentsDirProblem(path.posix.resolve(dir), policy) === undefined,
      ),
      runs,
    );
    for (const dir of ['/data', '/data/lifeboat', '/data/lifeboat/work/x', '/srv/docs/../backups', '/etc']) {
      expect(pattern.test(dir), dir).toBe(false);
    }
    expect(pattern.test('/data/lifeboat/other')).toBe(true);
    expect(documentsDirSource({ roots: [], own: [] })).toBeUndefined();
  });
});

describe('table names', () => {
  it('match the pattern exactly when parseTableName reads them', () => {
    const text = fc.stringMatching(/^[ a."b\t\u00a0\u2028]{0,8}$/);
    fc.assert(
      fc.property(text, (name) => tableNamePattern.test(name) === (parseTableName(name) !== undefined)),
      runs,
    );
  });
});

describe('age recipients', () => {
  it('take real keys of one kind, and state in the document that kinds are not mixed', async () => {
    // Keys end in data characters whose unused bits are zero: enough of them that every ending shows up.
    const classic = await Promise.all(Array.from({ length: 16 }, () => generateIdentity()));
    const quantumSafe = await Promise.all(
      Array.from({ length: 8 }, () => generateIdentity({ postQuantum: true })),
    );
    for (const key of [...classic, ...quantumSafe]) {
      expect(ageRecipientsSchema.safeParse([key.recipient]).success, key.recipient).toBe(true);
    }
    expect(ageRecipientsSchema.safeParse(classic.slice(0, 2).map((key) => key.recipient)).success).toBe(true);
    expect(ageRecipientsSchema.safeParse([classic[0]!.recipient, quantumSafe[0]!.recipient]).success).toBe(
      false,
    );
    const shapes = (ageRecipientsSchema.meta() as { anyOf: { items: { pattern: string } }[] }).anyOf;
    const matches = (recipient: string) =>
      shapes.map((shape) => new RegExp(shape.items.pattern).test(recipient));
    expect(matches(classic[0]!.recipient)).toEqual([true, false]);
    expect(matches(quantumSafe[0]!.recipient)).toEqual([false, true]);
  });
});
