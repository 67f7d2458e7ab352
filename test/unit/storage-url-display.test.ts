// Storage URLs as metrics show them: where the data goes, never a credential or its variable's name.
import { describe, expect, it } from 'vitest';
import { storageUrlDisplay } from '../../domain/storage-url.ts';

describe('storageUrlDisplay', () => {
  it('keeps a local directory as it is', () => {
    expect(storageUrlDisplay('file:///var/lib/lifeboat/backups')).toBe('file:///var/lib/lifeboat/backups');
  });

  it('keeps the bucket, prefix and endpoint origin of an S3 URL, and drops every other parameter', () => {
    expect(
      storageUrlDisplay(
        's3://backups/shop?endpoint=https://key:secret@minio.example:9000/ignored?x=1&region=eu&accessKeyIdEnv=LIFEBOAT_STORAGE_KEY&secretAccessKeyEnv=LIFEBOAT_STORAGE_SECRET',
      ),
    ).toBe('s3://backups/shop?endpoint=https://minio.example:9000');
    expect(storageUrlDisplay('s3://backups?sseKmsKeyId=arn:aws:kms:key')).toBe('s3://backups');
  });

  it('keeps the user, host and path of an SFTP URL but no password, host key or credential name', () => {
    expect(
      storageUrlDisplay(
        'sftp://backup:hunter2@vault.example:2222/srv/lifeboat?hostKey=SHA256:abc&passwordEnv=LIFEBOAT_STORAGE_PW#frag',
      ),
    ).toBe('sftp://backup@vault.example:2222/srv/lifeboat');
  });

  it('says so for a URL it cannot read, without repeating it', () => {
    expect(storageUrlDisplay('not a url with secret')).toBe('unreadable storage URL');
  });
});
