import { describe, expect, it } from 'vitest';
import {
  carryOverSql,
  choosePath,
  splitSettingList,
  swapNames,
  type SwapFacts,
} from '../../domain/restore/swap.ts';

const target = { kind: 'target' as const, targetId: 't', targetName: 'app', database: 'app' };
const able: SwapFacts = {
  superuser: false,
  createdb: true,
  ownsDatabase: true,
  isTemplate: false,
  allowsConnections: true,
  subscriptions: 0,
  logicalSlots: 0,
  freeBytes: 10_000,
  neededBytes: 1_000,
};

describe('the path of a restore', () => {
  it('is a swap for a full restore into a target whose server allows it', () => {
    expect(choosePath({ mode: 'full', destination: target, method: 'auto' }, able).path).toBe('swap');
  });

  it('is in place for other modes, a new database, method in-place, and restores asked for before swaps', () => {
    expect(choosePath({ mode: 'data-only', destination: target, method: 'auto' }, able).path).toBe(
      'in-place',
    );
    expect(choosePath({ mode: 'tables', destination: target, method: 'swap' }, able).path).toBe('in-place');
    const created = { ...target, kind: 'new-database' as const };
    expect(choosePath({ mode: 'full', destination: created, method: 'auto' }, able).path).toBe('in-place');
    expect(choosePath({ mode: 'full', destination: target, method: 'in-place' }, able).path).toBe('in-place');
    expect(choosePath({ mode: 'full', destination: target }, able).path).toBe('in-place');
  });

  it('names every reason that rules a swap out', () => {
    const decision = choosePath(
      { mode: 'full', destination: target, method: 'auto' },
      { ...able, createdb: false, ownsDatabase: false, subscriptions: 1, logicalSlots: 2, freeBytes: 1_100 },
    );
    expect(decision.path).toBe('in-place');
    const text = decision.reasons.join(' ');
    for (const reason of [
      'lacks CREATEDB',
      'does not own',
      '1 subscription',
      '2 logical replication',
      '1100 bytes free',
    ]) {
      expect(text).toContain(reason);
    }
  });

  it('lets a superuser swap without CREATEDB or ownership, and says what it could not check', () => {
    const decision = choosePath(
      { mode: 'full', destination: target, method: 'auto' },
      {
        ...able,
        superuser: true,
        createdb: false,
        ownsDatabase: false,
        freeBytes: null,
        subscriptions: null,
      },
    );
    expect(decision.path).toBe('swap');
    expect(decision.reasons.join(' ')).toMatch(/Free space .* could not be checked/);
  });
});

describe('the names of a swap', () => {
  it('carry the operation and stay within 63 bytes, never cutting a character', () => {
    const id = '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';
    expect(swapNames('app', id)).toEqual({
      incoming: 'app__lifeboat_0f1e2d3c4b5a',
      aside: 'app__lifeboat_was_0f1e2d3c4b5a',
    });
    const long = swapNames('é'.repeat(40), id);
    for (const name of [long.incoming, long.aside]) {
      expect(Buffer.byteLength(name)).toBeLessThanOrEqual(63);
      expect(name.startsWith('é')).toBe(true);
      expect(name).not.toContain('\uFFFD');
    }
    expect(long.incoming).not.toBe(long.aside);
  });
});

describe('what a database carries over', () => {
  it('splits list settings into their names, quotes undone', () => {
    expect(splitSettingList('"$user", public, "odd ""schema"""')).toEqual([
      '$user',
      'public',
      'odd "schema"',
    ]);
  });

  it('gives the owner, privileges, settings, comment and limit, every value a literal', () => {
    const statements = carryOverSql('app', {
      owner: 'app_owner',
      acl: [
        { grantee: null, privilege: 'CONNECT', grantable: false },
        { grantee: 'app_owner', privilege: 'CREATE', grantable: false },
        { grantee: 'app_owner', privilege: 'CONNECT', grantable: false },
        { grantee: 'we"ird', privilege: 'CONNECT', grantable: true },
      ],
      comment: "the app's",
      connectionLimit: 50,
      settings: [
        { role: null, config: ['work_mem=12MB', 'search_path="$user", public', 'bad name=1'] },
        { role: 'reader', config: ["statement_timeout=5min'; drop table x; --"] },
      ],
    });
    expect(statements).toEqual([
      'ALTER DATABASE app OWNER TO app_owner',
      'REVOKE ALL ON DATABASE app FROM PUBLIC',
      'REVOKE ALL ON DATABASE app FROM app_owner',
      'GRANT CONNECT ON DATABASE app TO PUBLIC',
      'GRANT CREATE ON DATABASE app TO app_owner',
      'GRANT CONNECT ON DATABASE app TO app_owner',
      'GRANT CONNECT ON DATABASE app TO "we""ird" WITH GRANT OPTION',
      "ALTER DATABASE app SET work_mem = '12MB'",
      "ALTER DATABASE app SET search_path = '$user', 'public'",
      "ALTER ROLE reader IN DATABASE app SET statement_timeout = '5min''; drop table x; --'",
      "COMMENT ON DATABASE app IS 'the app''s'",
      'ALTER DATABASE app WITH CONNECTION LIMIT 50',
    ]);
  });

  it('leaves the default privileges alone when the database has no ACL', () => {
    const statements = carryOverSql('App', {
      owner: 'o',
      acl: null,
      comment: null,
      connectionLimit: -1,
      settings: [],
    });
    expect(statements).toEqual([
      'ALTER DATABASE "App" OWNER TO o',
      'COMMENT ON DATABASE "App" IS NULL',
      'ALTER DATABASE "App" WITH CONNECTION LIMIT -1',
    ]);
  });
});
