// file:// URLs of local-directory storage: the directory they name, made absolute.
import path from 'node:path';

export interface LocalStorageOptions {
  root: string;
}

export function parseLocalUrl(url: URL): LocalStorageOptions {
  return { root: path.resolve(decodeURIComponent(url.pathname)) };
}
