// Error codes shared by activities, workflows, the API and the CLI, and which of them are permanent.

/**
 * Every code, and whether another attempt can fix it: a permanent failure ends its step at once and the
 * workflow records it; a transient one is retried with backoff.
 */
const codes = {
  CONNECTION_FAILED: 'transient',
  AUTH_FAILED: 'permanent',
  INSUFFICIENT_SPACE: 'transient',
  PG_VERSION_MISMATCH: 'permanent',
  PG_DUMP_FAILED: 'transient',
  PG_RESTORE_FAILED: 'transient',
  VERIFY_FAILED: 'permanent',
  CHECKSUM_MISMATCH: 'permanent',
  DECRYPTION_FAILED: 'permanent',
  SOURCE_CHANGED: 'transient',
  STORAGE_UNAVAILABLE: 'transient',
  // A step's input on the worker's disk is gone (the worker was replaced or wiped): no retry of that
  // step can bring it back; the workflow starts the run over from its first step.
  SCRATCH_MISSING: 'permanent',
  NOT_FOUND: 'permanent',
  CONFLICT: 'permanent',
  VALIDATION_FAILED: 'permanent',
  CONFIRMATION_INVALID: 'permanent',
  UNAUTHORIZED: 'permanent',
  FORBIDDEN: 'permanent',
  // The API's own refusals of a client: too many failed authentications, a body over the size limit.
  RATE_LIMITED: 'transient',
  PAYLOAD_TOO_LARGE: 'permanent',
  METHOD_NOT_ALLOWED: 'permanent',
  PROTECTED: 'permanent',
  CANCELLED: 'permanent',
  // The process driving an operation stopped before its workflow took over (or the workflow was terminated):
  // reconciliation records it so, and a new request starts it again.
  INTERRUPTED: 'permanent',
  TEMPORAL_UNAVAILABLE: 'transient',
  // The API cannot take this request now (it serves as many live-event streams as it allows, say).
  SERVICE_UNAVAILABLE: 'transient',
  INTERNAL: 'transient',
} as const satisfies Record<string, 'permanent' | 'transient'>;

export type ErrorCode = keyof typeof codes;

export const errorCodes = Object.keys(codes) as [ErrorCode, ...ErrorCode[]];

const permanentCodes: ReadonlySet<ErrorCode> = new Set(
  errorCodes.filter((code) => codes[code] === 'permanent'),
);

export function isPermanent(code: ErrorCode): boolean {
  return permanentCodes.has(code);
}

/**
 * A retry policy's `nonRetryableErrorTypes`: every permanent code and `also`, the codes a step knows that
 * another attempt of it cannot fix, so that the workflow's list and the activities' own verdict agree.
 */
export function nonRetryableCodes(...also: ErrorCode[]): ErrorCode[] {
  return [...permanentCodes, ...also.filter((code) => !permanentCodes.has(code))];
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
