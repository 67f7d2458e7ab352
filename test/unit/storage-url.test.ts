// Storage URLs and a target's destinations and encryption, as the API validates them.
import { describe, expect, it } from 'vitest';
import { isLocalStorageUrl, storageUrlProblem } from '../../domain/storage-url.ts';
import { targetInputSchema } from '../../domain/target.ts';

const recipient = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';

describe('storage URLs', () => {
  it('accepts file, s3 and sftp URLs that carry no secret', () => {
    expect(storageUrlProblem('file:///var/lib/lifeboat')).toBeUndefined();
    expect(storageUrlProblem('s3://bucket/prefix?endpoint=http://127.0.0.1:9000')).toBeUndefined();
    expect(storageUrlProblem('sftp://backup@host:2222/srv/backups?hostKey=SHA256:abc')).toBeUndefined();
  });

  it('refuses other schemes, passwords inside the URL and an SFTP URL without a host key', () => {
    expect(storageUrlProblem('ftp://host/dir')).toMatch(/not supported/);
    expect(storageUrlProblem('s3://key:secret@bucket')).toMatch(/password/);
    expect(storageUrlProblem('sftp://u:pw@host/dir?hostKey=SHA256:abc')).toMatch(/password/);
    expect(storageUrlProblem('sftp://u@host/dir')).toMatch(/hostKey/);
    expect(storageUrlProblem('not a url')).toMatch(/not a URL/);
  });

  it('tells local storage from off-machine storage', () => {
    expect(isLocalStorageUrl('file:///srv')).toBe(true);
    expect(isLocalStorageUrl('s3://bucket')).toBe(false);
  });
});

describe('target destinations and encryption', () => {
  const base = { name: 'app', url: 'postgres://u@h/db' };

  it('takes several destinations and age recipients', () => {
    const parsed = targetInputSchema.parse({
      ...base,
      destinations: ['file:///srv/a', 's3://bucket/app'],
      encryption: { recipients: [recipient] },
    });
    expect(parsed.destinations).toEqual(['file:///srv/a', 's3://bucket/app']);
    expect(parsed.encryption?.recipients).toEqual([recipient]);
  });

  it('refuses a destination twice, an unusable destination and a malformed recipient, naming the field', () => {
    const twice = targetInputSchema.safeParse({ ...base, destinations: ['file:///a', 'file:///a'] });
    expect(twice.success).toBe(false);
    const bad = targetInputSchema.safeParse({ ...base, destinations: ['s3://k:s@bucket'] });
    expect(bad.error?.issues[0]?.path).toEqual(['destinations', 0]);
    const key = targetInputSchema.safeParse({ ...base, encryption: { recipients: ['age1nope'] } });
    expect(key.error?.issues[0]?.path.slice(0, 2)).toEqual(['encryption', 'recipients']);
  });
});
