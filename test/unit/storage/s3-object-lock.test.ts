// S3 Object Lock: the URL parameters, and what the backend sends. rclone's S3 server (the integration
// suite's) has neither versions nor Object Lock, so a small HTTP server here records the requests and
// answers as S3 does; whether a real bucket enforces the lock is S3's part.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Storage, parseS3Url } from '../../../storage/s3/backend.ts';

const credentials = { LIFEBOAT_STORAGE_LOCK_KEY: 'key', LIFEBOAT_STORAGE_LOCK_SECRET: 'secret' };
const readEnv = (name: string) => credentials[name as keyof typeof credentials];

function parse(url: string) {
  return parseS3Url(new URL(url), readEnv);
}

describe('objectLockMode and objectLockDays', () => {
  it('are read together into the retention every object gets', () => {
    expect(parse('s3://backups?objectLockMode=COMPLIANCE&objectLockDays=30').objectLock).toEqual({
      mode: 'COMPLIANCE',
      days: 30,
    });
    expect(parse('s3://backups').objectLock).toBeUndefined();
  });

  it.each([
    ['s3://backups?objectLockMode=GOVERNANCE', 'give both'],
    ['s3://backups?objectLockDays=7', 'give both'],
    ['s3://backups?objectLockMode=LEGAL&objectLockDays=7', 'GOVERNANCE or COMPLIANCE'],
    ['s3://backups?objectLockMode=GOVERNANCE&objectLockDays=0', 'whole number'],
    ['s3://backups?objectLockMode=GOVERNANCE&objectLockDays=1.5', 'whole number'],
    ['s3://backups?objectLockMode=GOVERNANCE&objectLockDays=99999', 'whole number'],
  ])('refuse %s', (url, message) => {
    expect(() => parse(url)).toThrow(message);
  });
});

interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
}

describe('the S3 backend under Object Lock', () => {
  const requests: Recorded[] = [];
  /** versionId → whether S3 refuses to delete it (its retention has not ended). */
  const versions = new Map<string, boolean>();
  let server: Server;
  let endpoint: string;

  beforeAll(async () => {
    server = createServer((request, response) => {
      requests.push({ method: request.method!, url: request.url!, headers: request.headers });
      request.resume();
      request.on('end', () => {
        const url = new URL(request.url!, 'http://s3');
        if (request.method === 'GET' && url.searchParams.has('uploads')) {
          response.writeHead(200, { 'content-type': 'application/xml' });
          response.end(
            '<ListMultipartUploadsResult><Bucket>locked</Bucket><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>',
          );
        } else if (request.method === 'PUT') {
          response.writeHead(200, { etag: '"abc"' });
          response.end();
        } else if (request.method === 'GET' && url.searchParams.has('versions')) {
          const entries = [...versions.keys()]
            .map(
              (id) =>
                `<Version><Key>p/a.tar</Key><VersionId>${id}</VersionId><IsLatest>false</IsLatest></Version>`,
            )
            .join('');
          response.writeHead(200, { 'content-type': 'application/xml' });
          response.end(
            `<ListVersionsResult><Name>locked</Name><IsTruncated>false</IsTruncated>${entries}<Version><Key>p/a.tar.md5</Key><VersionId>other</VersionId></Version></ListVersionsResult>`,
          );
        } else if (request.method === 'DELETE') {
          const id = url.searchParams.get('versionId') ?? '';
          if (versions.get(id)) {
            response.writeHead(403, { 'content-type': 'application/xml' });
            response.end(
              '<Error><Code>AccessDenied</Code><Message>Access Denied because object protected by object lock.</Message></Error>',
            );
          } else {
            versions.delete(id);
            response.writeHead(204);
            response.end();
          }
        } else {
          response.writeHead(400);
          response.end();
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const open = (lock = '&objectLockMode=COMPLIANCE&objectLockDays=30') =>
    createS3Storage(
      new URL(
        `s3://locked/p?endpoint=${endpoint}&accessKeyIdEnv=LIFEBOAT_STORAGE_LOCK_KEY` +
          `&secretAccessKeyEnv=LIFEBOAT_STORAGE_LOCK_SECRET${lock}`,
      ),
      readEnv,
    );

  it('writes every object with the lock mode and a retain-until date the given days ahead', async () => {
    requests.length = 0;
    const before = Date.now();
    await open().put('a.tar', Readable.from([Buffer.from('archive bytes')]));
    const put = requests.find((request) => request.method === 'PUT');
    expect(put?.url).toMatch(/^\/locked\/p\/a\.tar/);
    expect(put?.headers['x-amz-object-lock-mode']).toBe('COMPLIANCE');
    const until = Date.parse(String(put?.headers['x-amz-object-lock-retain-until-date']));
    expect(until).toBeGreaterThanOrEqual(before + 30 * 86_400_000 - 1000);
    expect(until).toBeLessThanOrEqual(Date.now() + 30 * 86_400_000 + 1000);
  });

  it('sends no lock headers without the parameters', async () => {
    requests.length = 0;
    await open('').put('a.tar', Readable.from([Buffer.from('archive bytes')]));
    const put = requests.find((request) => request.method === 'PUT');
    expect(put?.headers['x-amz-object-lock-mode']).toBeUndefined();
  });

  it('removes every version of the key by id, not only its latest, when the locks have ended', async () => {
    versions.clear();
    versions.set('v1', false).set('v2', false);
    requests.length = 0;
    await open().delete('a.tar');
    const deletes = requests
      .filter((request) => request.method === 'DELETE')
      .map((request) => new URL(request.url, 'http://s3'))
      .map((url) => `${url.pathname} ${url.searchParams.get('versionId')}`);
    expect(deletes.sort()).toEqual(['/locked/p/a.tar v1', '/locked/p/a.tar v2']);
    expect(versions.size).toBe(0);
  });

  it('rejects with PROTECTED when S3 refuses a version still under retention', async () => {
    versions.clear();
    versions.set('v1', true);
    await expect(open().delete('a.tar')).rejects.toMatchObject({ code: 'PROTECTED' });
    expect(versions.has('v1')).toBe(true);
  });
});
