// Error codes shared by activities, workflows, the API and the CLI, and which of them are permanent.

export const errorCodes = [
  'CONNECTION_FAILED',
  'AUTH_FAILED',
  'INSUFFICIENT_SPACE',
  'PG_VERSION_MISMATCH',
  'PG_DUMP_FAILED',
  'PG_RESTORE_FAILED',
  'VERIFY_FAILED',
  'CHECKSUM_MISMATCH',
  'DECRYPTION_FAILED',
  'SOURCE_CHANGED',
  'STORAGE_UNAVAILABLE',
  'NOT_FOUND',
  'CONFLICT',
  'VALIDATION_FAILED',
  'CONFIRMATION_INVALID',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'PROTECTED',
  'CANCELLED',
  'TEMPORAL_UNAVAILABLE',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof errorCodes)[number];

/** Codes that no retry can fix: the activity fails at once and the workflow records it. */
const permanentCodes: ReadonlySet<ErrorCode> = new Set([
  'AUTH_FAILED',
  'PG_VERSION_MISMATCH',
  'CHECKSUM_MISMATCH',
  'DECRYPTION_FAILED',
  'VERIFY_FAILED',
  'NOT_FOUND',
  'CONFLICT',
  'VALIDATION_FAILED',
  'CONFIRMATION_INVALID',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'PROTECTED',
  'CANCELLED',
]);

export function isPermanent(code: ErrorCode): boolean {
  return permanentCodes.has(code);
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (errorCodes as readonly string[]).includes(value);
}

/** Thrown when an operation fails in a way a person can act on; carries a stable code. */
export class LifeboatError extends Error {
  override readonly name = 'LifeboatError';
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.code = code;
    this.details = details;
  }
}
