// The CLI's HTTP client for the Lifeboat API: bearer token in, JSON or a clear error out.
import { LifeboatError, isErrorCode } from '../domain/errors.ts';

export interface ApiClient {
  request<T>(method: string, path: string, body?: unknown): Promise<T>;
}

export function createApiClient(baseUrl: string, token: string | undefined): ApiClient {
  return {
    async request<T>(method: string, path: string, body?: unknown): Promise<T> {
      if (!token) {
        throw new LifeboatError(
          'UNAUTHORIZED',
          'Set LIFEBOAT_TOKEN to an API token (create one with `lifeboat token create`).',
        );
      }
      let response: Response;
      try {
        response = await fetch(new URL(path, baseUrl), {
          method,
          headers: {
            authorization: `Bearer ${token}`,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
      } catch (error) {
        throw new LifeboatError(
          'CONNECTION_FAILED',
          `Cannot reach the Lifeboat API at ${baseUrl}: ${(error as Error).message}`,
        );
      }
      const text = await response.text();
      const parsed = text ? (JSON.parse(text) as unknown) : undefined;
      if (!response.ok) {
        const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
        const code = isErrorCode(error?.code) ? error.code : 'INTERNAL';
        throw new LifeboatError(code, error?.message ?? `HTTP ${response.status}`);
      }
      return parsed as T;
    },
  };
}
