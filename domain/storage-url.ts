// Storage URLs as people write them: file://, s3:// and sftp://, never with a secret inside.
export const storageSchemes = ['file:', 's3:', 'sftp:'] as const;

/** What is wrong with a storage URL, in words a person can act on; undefined when it is usable. */
export function storageUrlProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'not a URL (file:///dir, s3://bucket/prefix?…, sftp://user@host/dir?hostKey=…)';
  }
  if (!(storageSchemes as readonly string[]).includes(parsed.protocol)) {
    return `scheme ${parsed.protocol} is not supported; use file://, s3:// or sftp://`;
  }
  if (parsed.password) {
    return 'has a password in it; credentials come from environment variables named in the URL (…Env parameters)';
  }
  if (parsed.protocol === 'file:' && !parsed.pathname.startsWith('/')) return 'needs an absolute path';
  if (parsed.protocol === 's3:' && !parsed.hostname) return 'needs a bucket: s3://bucket/prefix';
  if (parsed.protocol === 'sftp:') {
    if (!parsed.hostname || !parsed.username) return 'needs a user and a host: sftp://user@host/dir';
    if (!parsed.searchParams.get('hostKey')) {
      return 'needs hostKey=SHA256:… (the server key fingerprint, as ssh-keygen -lf prints it)';
    }
  }
  return undefined;
}

/** True for storage on the machine itself: a copy there does not survive the machine. */
export function isLocalStorageUrl(url: string): boolean {
  return url.startsWith('file:');
}

/** The URL parameters that name environment variables holding a storage credential. */
export const storageEnvParameters = [
  'accessKeyIdEnv',
  'secretAccessKeyEnv',
  'passwordEnv',
  'privateKeyPassphraseEnv',
] as const;

/** Percent-decoded, or as written when it is not valid percent-encoding (then no usable name either). */
function decoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Every environment variable a storage URL names, with the parameter that names it. */
export function storageUrlEnvNames(url: string): { parameter: string; name: string }[] {
  const query = url.includes('?') ? url.slice(url.indexOf('?') + 1).replace(/#.*$/, '') : '';
  const names: { parameter: string; name: string }[] = [];
  for (const pair of query.split('&')) {
    const separator = pair.indexOf('=');
    if (separator === -1) continue;
    const parameter = decoded(pair.slice(0, separator));
    const name = decoded(pair.slice(separator + 1));
    if ((storageEnvParameters as readonly string[]).includes(parameter)) names.push({ parameter, name });
  }
  return names;
}

/**
 * A storage URL as metrics and dashboards may show it: scheme, user, host, port and path, and for S3 the
 * endpoint's origin, but no other query parameter, no password and no fragment, whatever the URL holds.
 */
export function storageUrlDisplay(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'unreadable storage URL';
  }
  const user = parsed.username ? `${parsed.username}@` : '';
  const base = `${parsed.protocol}//${user}${parsed.host}${parsed.pathname}`;
  const endpoint = parsed.protocol === 's3:' ? parsed.searchParams.get('endpoint') : null;
  if (!endpoint) return base;
  try {
    const origin = new URL(endpoint).origin;
    return origin === 'null' ? base : `${base}?endpoint=${origin}`;
  } catch {
    return base;
  }
}
