// The storage URLs the API takes, as one pattern that zod enforces and the OpenAPI document shows: each
// one storageUrlProblem accepts, naming only credential variables the policy allows.
import { z } from 'zod';
import { envNameProblem, type EnvNamePolicy } from './access-policy.ts';
import { envNameSource } from './access-patterns.ts';
import { storageEnvParameters, storageUrlEnvNames, storageUrlProblem } from './storage-url.ts';
import { hostPattern, pathSegment, portPattern, userCharacter } from './pattern-parts.ts';

/** A query value: URL characters or %XX escapes (never decoded into a name, so any escape will do). */
const valueCharacter = "(?:[A-Za-z0-9._~!$'()*+,;:@/?=-]|%[0-9A-Fa-f]{2})";

/**
 * One `name=value` query parameter: a credential parameter naming an allowed variable, or another name
 * (not one of `excluded`) with any value.
 */
function parameter(envName: string, excluded: readonly string[]): string {
  const credentials = storageEnvParameters.join('|');
  const other = `(?!(?:${[...storageEnvParameters, ...excluded].join('|')})=)[A-Za-z][A-Za-z0-9]*=${valueCharacter}*`;
  return `(?:(?:${credentials})=${envName}|${other})`;
}

/**
 * `file:///dir...`, `s3://bucket[/prefix][?parameters]` (a bucket as S3 names them) and
 * `sftp://user@host[:port]/dir?...hostKey=...`: no password, no fragment, no `.` or `..` in paths.
 */
export function storageUrlPattern(policy?: EnvNamePolicy): RegExp {
  const envName = envNameSource(policy, '(?:&|$)');
  const s3Parameter = parameter(envName, []);
  const sftpParameter = parameter(envName, ['hostKey']);
  const file = `file://(?:/${pathSegment})+/?`;
  const s3 = `s3://[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9](?:/${pathSegment})*/?(?:\\?${s3Parameter}(?:&${s3Parameter})*)?`;
  const sftp =
    `sftp://${userCharacter}+@${hostPattern}(?::${portPattern})?/(?:${pathSegment}(?:/${pathSegment})*/?)?` +
    `\\?(?:${sftpParameter}&)*hostKey=${valueCharacter}+(?:&${sftpParameter})*`;
  return new RegExp(`^(?:${file}|${s3}|${sftp})$`);
}

/** Why `url` is not a storage URL the API takes, in words a person can act on. */
export function storageUrlRefusal(url: string, policy?: EnvNamePolicy): string {
  const problem = storageUrlProblem(url);
  if (problem) return problem;
  for (const { parameter: name, name: variable } of storageUrlEnvNames(url)) {
    const refused = policy ? envNameProblem(variable, policy) : undefined;
    if (refused) return `${name}: ${refused}`;
  }
  return (
    'not a storage URL Lifeboat takes: file:///dir, s3://bucket/prefix?endpoint=…, or ' +
    'sftp://user@host/dir?hostKey=SHA256:…; no password, fragment, %-escape in a path, "." or ".." segment'
  );
}

/** A storage URL as the API takes it, for the credential variables `policy` allows (any, without one). */
export function storageUrlSchema(policy?: EnvNamePolicy) {
  return z.string().regex(storageUrlPattern(policy), {
    error: (issue) => storageUrlRefusal(String(issue.input), policy),
  });
}
