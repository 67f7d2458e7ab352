// The s3:// URL as the only configuration of the S3 backend, and what S3 failures become.
import { NoSuchBucket, S3ServiceException } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { describeS3Failure, parseS3Url } from '../../../storage/s3/backend.ts';
import { isPermanent, LifeboatError } from '../../../domain/errors.ts';

const env: Record<string, string> = { S3_KEY: 'AKIAEXAMPLE', S3_SECRET: 'very-secret-value' };
const readEnv = (name: string): string | undefined => env[name];
const parse = (url: string): ReturnType<typeof parseS3Url> => parseS3Url(new URL(url), readEnv);

function refusal(url: string): LifeboatError {
  try {
    parse(url);
  } catch (error) {
    expect(error).toBeInstanceOf(LifeboatError);
    expect((error as LifeboatError).code).toBe('VALIDATION_FAILED');
    return error as LifeboatError;
  }
  throw new Error(`${url} was accepted`);
}

describe('parseS3Url', () => {
  it('defaults to us-east-1, virtual-hosted style and the default credential chain for AWS itself', () => {
    expect(parse('s3://backups')).toEqual({
      bucket: 'backups',
      keyPrefix: '',
      region: 'us-east-1',
      endpoint: undefined,
      forcePathStyle: false,
      serverSideEncryption: undefined,
      sseKmsKeyId: undefined,
      credentials: undefined,
    });
  });

  it('uses path-style addressing by default when an endpoint is given', () => {
    const options = parse('s3://backups?endpoint=http://127.0.0.1:9000');
    expect(options.endpoint).toBe('http://127.0.0.1:9000');
    expect(options.forcePathStyle).toBe(true);
    expect(parse('s3://backups?endpoint=http://minio:9000&forcePathStyle=false').forcePathStyle).toBe(false);
  });

  it('turns the path into a key prefix ending with a slash', () => {
    expect(parse('s3://backups/team/nightly/').keyPrefix).toBe('team/nightly/');
    expect(parse('s3://backups/team/nightly').keyPrefix).toBe('team/nightly/');
    expect(parse('s3://backups/with%20space').keyPrefix).toBe('with space/');
  });

  it('reads every option the URL can carry', () => {
    expect(
      parse(
        's3://backups/p?region=eu-west-3&sse=aws:kms&sseKmsKeyId=alias/lifeboat' +
          '&accessKeyIdEnv=S3_KEY&secretAccessKeyEnv=S3_SECRET',
      ),
    ).toEqual({
      bucket: 'backups',
      keyPrefix: 'p/',
      region: 'eu-west-3',
      endpoint: undefined,
      forcePathStyle: false,
      serverSideEncryption: 'aws:kms',
      sseKmsKeyId: 'alias/lifeboat',
      credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'very-secret-value' },
    });
    expect(parse('s3://backups?sse=AES256').serverSideEncryption).toBe('AES256');
  });

  it('refuses credentials in the URL and points to the *Env parameters without repeating them', () => {
    const error = refusal('s3://AKIAEXAMPLE:hunter2@backups/p');
    expect(error.message).toContain('accessKeyIdEnv');
    expect(error.message).not.toContain('hunter2');
    refusal('s3://backups?endpoint=http://user:pw@127.0.0.1:9000');
  });

  it('refuses unknown and repeated parameters, so a typo does not pass silently', () => {
    expect(refusal('s3://backups?regoin=eu-west-3').message).toContain('"regoin"');
    refusal('s3://backups?region=a&region=b');
  });

  it('refuses a missing credential variable, naming it but never a value', () => {
    const error = refusal('s3://backups?accessKeyIdEnv=S3_KEY&secretAccessKeyEnv=S3_MISSING');
    expect(error.message).toContain('S3_MISSING');
    expect(error.message).not.toContain('AKIAEXAMPLE');
    expect(refusal('s3://backups?accessKeyIdEnv=S3_KEY&secretAccessKeyEnv=not-a-name').message).toContain(
      'not-a-name',
    );
    refusal('s3://backups?accessKeyIdEnv=S3_KEY');
  });

  it('refuses what cannot address a bucket', () => {
    refusal('s3:///prefix');
    refusal('s3://ab');
    refusal('s3://backups:9000/p');
    refusal('s3://backups/a%5Cb');
    refusal('s3://backups#x');
    refusal('s3://backups?endpoint=not a url');
    refusal('s3://backups?endpoint=ftp://host');
    refusal('s3://backups?forcePathStyle=yes');
    refusal('s3://backups?sse=rot13');
    refusal('s3://backups?sseKmsKeyId=k');
    refusal('s3://backups?region=');
    refusal('file:///var/lib/lifeboat');
  });
});

describe('describeS3Failure', () => {
  const where = { endpoint: 'http://127.0.0.1:9000', bucket: 'backups' };
  const serviceError = (name: string, status: number): S3ServiceException =>
    new S3ServiceException({ name, $fault: 'client', $metadata: { httpStatusCode: status }, message: name });

  it.each([
    {
      failure: 'refused credentials',
      kind: 'permanent',
      code: 'AUTH_FAILED',
      errors: [
        serviceError('InvalidAccessKeyId', 403),
        serviceError('SignatureDoesNotMatch', 403),
        serviceError('AccessDenied', 403),
        serviceError('Unknown', 403),
      ],
    },
    {
      failure: 'an unreachable, slow or failing server',
      kind: 'retryable',
      code: 'STORAGE_UNAVAILABLE',
      errors: [
        Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9000'), { code: 'ECONNREFUSED' }),
        Object.assign(new Error('socket hang up'), { code: 'ECONNRESET', name: 'TimeoutError' }),
        Object.assign(new Error('timed out'), { name: 'TimeoutError' }),
        serviceError('SlowDown', 503),
        serviceError('InternalError', 500),
        serviceError('NoSuchUpload', 404),
      ],
    },
  ])('treats $failure as $kind $code naming endpoint and bucket', ({ kind, code, errors }) => {
    for (const error of errors) {
      const failure = describeS3Failure(error, 'write k', where);
      expect(failure.code).toBe(code);
      expect(isPermanent(failure.code)).toBe(kind === 'permanent');
      expect(failure.message).toContain('http://127.0.0.1:9000');
      expect(failure.message).toContain('"backups"');
    }
  });

  it('answers NOT_FOUND naming the bucket when it does not exist', () => {
    const failure = describeS3Failure(
      new NoSuchBucket({
        $metadata: { httpStatusCode: 404 },
        message: 'The specified bucket does not exist',
      }),
      'list all keys',
      where,
    );
    expect(failure.code).toBe('NOT_FOUND');
    expect(failure.message).toContain('"backups"');
  });

  it('passes a LifeboatError through unchanged', () => {
    const original = new LifeboatError('PG_DUMP_FAILED', 'pg_dump died');
    expect(describeS3Failure(original, 'write k', where)).toBe(original);
  });
});
