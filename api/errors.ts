// The API's one error shape, {error: {code, message, details}}, and the HTTP status of each code.
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { LifeboatError, type ErrorCode } from '../domain/errors.ts';

const statusOf: Record<ErrorCode, ContentfulStatusCode> = {
  VALIDATION_FAILED: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PROTECTED: 409,
  CANCELLED: 409,
  SOURCE_CHANGED: 409,
  AUTH_FAILED: 422,
  PG_VERSION_MISMATCH: 422,
  CHECKSUM_MISMATCH: 422,
  DECRYPTION_FAILED: 422,
  CONFIRMATION_INVALID: 422,
  PAYLOAD_TOO_LARGE: 413,
  METHOD_NOT_ALLOWED: 405,
  RATE_LIMITED: 429,
  VERIFY_FAILED: 500,
  PG_RESTORE_FAILED: 500,
  PG_DUMP_FAILED: 500,
  INTERNAL: 500,
  INTERRUPTED: 500,
  SCRATCH_MISSING: 500,
  CONNECTION_FAILED: 502,
  STORAGE_UNAVAILABLE: 503,
  TEMPORAL_UNAVAILABLE: 503,
  SERVICE_UNAVAILABLE: 503,
  INSUFFICIENT_SPACE: 507,
};

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: Record<string, unknown> | undefined };
}

/** Sends any error as the JSON error shape; unknown errors become INTERNAL without their internals. */
export function errorResponse(c: Context, error: unknown): Response {
  let body: ErrorBody;
  if (error instanceof LifeboatError) {
    body = { error: { code: error.code, message: error.message, details: error.details } };
  } else if (error instanceof HTTPException) {
    const code: ErrorCode =
      error.status === 401 ? 'UNAUTHORIZED' : error.status === 404 ? 'NOT_FOUND' : 'VALIDATION_FAILED';
    body = { error: { code, message: error.message || 'Bad request.' } };
  } else {
    console.error('lifeboat api: unexpected error', error);
    body = {
      error: { code: 'INTERNAL', message: 'An unexpected error occurred; the server log has the details.' },
    };
  }
  c.set('errorCode', body.error.code);
  return c.json(body, statusOf[body.error.code]);
}
