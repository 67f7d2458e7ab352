// s3:// storage URLs: bucket, key prefix and options, with credentials read from the variables they name.
// Pure apart from reading those variables; kept apart from the backend so that checking a URL does not load
// the AWS SDK.
import type { ServerSideEncryption } from '@aws-sdk/client-s3';
import { LifeboatError } from '../../domain/errors.ts';
import { isValidKey } from '../storage.ts';

const queryParameters = [
  'endpoint',
  'region',
  'forcePathStyle',
  'sse',
  'sseKmsKeyId',
  'accessKeyIdEnv',
  'secretAccessKeyEnv',
  'objectLockMode',
  'objectLockDays',
] as const;
const envNamePattern = /^[A-Za-z_][A-Za-z0-9_]*$/;
const bucketPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$/;

export interface S3StorageOptions {
  bucket: string;
  /** Prepended to every key: empty, or ending with `/`. */
  keyPrefix: string;
  region: string;
  /** Undefined for AWS itself. */
  endpoint: string | undefined;
  forcePathStyle: boolean;
  serverSideEncryption: ServerSideEncryption | undefined;
  sseKmsKeyId: string | undefined;
  /** Undefined: the SDK's default credential chain (AWS_ACCESS_KEY_ID, profiles, instance roles...). */
  credentials: { accessKeyId: string; secretAccessKey: string } | undefined;
  /**
   * S3 Object Lock retention set on every object written: no one (in COMPLIANCE mode not even the bucket's
   * owner) removes it for `days` days. Needs a bucket created with Object Lock enabled.
   */
  objectLock: { mode: 'GOVERNANCE' | 'COMPLIANCE'; days: number } | undefined;
}

/** A century: far beyond any retention policy, and within what S3 accepts. */
const maxObjectLockDays = 36_500;

function invalid(message: string): LifeboatError {
  return new LifeboatError('VALIDATION_FAILED', `S3 storage URL: ${message}`);
}

function credentialFromEnv(
  parameter: string,
  name: string,
  readEnv: (name: string) => string | undefined,
): string {
  if (!envNamePattern.test(name)) {
    throw invalid(`${parameter} must name an environment variable (letters, digits, _), not "${name}".`);
  }
  const value = readEnv(name);
  if (!value) {
    throw invalid(`${parameter} names ${name}, but that environment variable is not set for this process.`);
  }
  return value;
}

/** The options an s3:// URL describes; credentials come from the environment variables it names. */
export function parseS3Url(url: URL, readEnv: (name: string) => string | undefined): S3StorageOptions {
  if (url.protocol !== 's3:') throw invalid(`expected s3://bucket/prefix, got scheme ${url.protocol}.`);
  if (url.username || url.password) {
    throw invalid(
      'credentials do not belong in the URL; put them in environment variables and name those with ' +
        'accessKeyIdEnv and secretAccessKeyEnv.',
    );
  }
  if (url.port) throw invalid('the bucket takes no port; give the server as endpoint=http://host:port.');
  if (url.hash) throw invalid('fragments (#...) mean nothing in a storage URL.');
  const bucket = url.hostname;
  if (!bucketPattern.test(bucket)) {
    throw invalid(`"${bucket}" is not a bucket name (3 to 63 letters, digits, dots, hyphens).`);
  }

  const segments = url.pathname
    .split('/')
    .filter((segment) => segment !== '')
    .map((segment) => decodeURIComponent(segment));
  const prefix = segments.join('/');
  if (prefix && !isValidKey(prefix)) throw invalid(`"${prefix}" is not a usable key prefix.`);

  const params = new Map<string, string>();
  for (const [name, value] of url.searchParams) {
    if (!(queryParameters as readonly string[]).includes(name)) {
      throw invalid(`unknown parameter "${name}"; known ones are ${queryParameters.join(', ')}.`);
    }
    if (params.has(name)) throw invalid(`parameter "${name}" is given twice.`);
    params.set(name, value);
  }

  const endpoint = params.get('endpoint');
  if (endpoint !== undefined) {
    let parsed: URL;
    try {
      parsed = new URL(endpoint);
    } catch {
      throw invalid(`endpoint "${endpoint}" is not a URL (e.g. http://127.0.0.1:9000).`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw invalid('endpoint must be an http:// or https:// URL.');
    }
    if (parsed.username || parsed.password) throw invalid('endpoint must not carry credentials.');
  }

  const region = params.get('region') ?? 'us-east-1';
  if (!region) throw invalid('region is empty.');

  const pathStyle = params.get('forcePathStyle');
  if (pathStyle !== undefined && pathStyle !== 'true' && pathStyle !== 'false') {
    throw invalid('forcePathStyle must be true or false.');
  }
  const forcePathStyle = pathStyle === undefined ? endpoint !== undefined : pathStyle === 'true';

  const sse = params.get('sse');
  if (sse !== undefined && sse !== 'AES256' && sse !== 'aws:kms') {
    throw invalid('sse must be AES256 or aws:kms.');
  }
  const sseKmsKeyId = params.get('sseKmsKeyId');
  if (sseKmsKeyId !== undefined && sse !== 'aws:kms') throw invalid('sseKmsKeyId needs sse=aws:kms.');
  if (sseKmsKeyId === '') throw invalid('sseKmsKeyId is empty.');

  const accessKeyIdEnv = params.get('accessKeyIdEnv');
  const secretAccessKeyEnv = params.get('secretAccessKeyEnv');
  if ((accessKeyIdEnv === undefined) !== (secretAccessKeyEnv === undefined)) {
    throw invalid('give both accessKeyIdEnv and secretAccessKeyEnv, or neither for the default credentials.');
  }
  const credentials =
    accessKeyIdEnv !== undefined && secretAccessKeyEnv !== undefined
      ? {
          accessKeyId: credentialFromEnv('accessKeyIdEnv', accessKeyIdEnv, readEnv),
          secretAccessKey: credentialFromEnv('secretAccessKeyEnv', secretAccessKeyEnv, readEnv),
        }
      : undefined;

  const lockMode = params.get('objectLockMode');
  const lockDays = params.get('objectLockDays');
  if ((lockMode === undefined) !== (lockDays === undefined)) {
    throw invalid('give both objectLockMode and objectLockDays, or neither.');
  }
  if (lockMode !== undefined && lockMode !== 'GOVERNANCE' && lockMode !== 'COMPLIANCE') {
    throw invalid('objectLockMode must be GOVERNANCE or COMPLIANCE.');
  }
  if (
    lockDays !== undefined &&
    !(/^\d+$/.test(lockDays) && +lockDays >= 1 && +lockDays <= maxObjectLockDays)
  ) {
    throw invalid(`objectLockDays must be a whole number of days from 1 to ${maxObjectLockDays}.`);
  }

  return {
    bucket,
    keyPrefix: prefix ? `${prefix}/` : '',
    region,
    endpoint,
    forcePathStyle,
    serverSideEncryption: sse,
    sseKmsKeyId,
    credentials,
    objectLock: lockMode !== undefined ? { mode: lockMode, days: Number(lockDays) } : undefined,
  };
}
