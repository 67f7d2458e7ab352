// What every channel does with secrets and failures: reads the variables its settings name, and words a
// DeliveryError from which every secret value has been removed.
import { DeliveryError } from '../notifier.ts';

export type ReadSecret = (envName: string) => string | undefined;

/**
 * The value of the variable `envName`. A variable that is unset, empty, or refused by the reader (the
 * access policy's prefix) is a permanent failure: no retry sets it. The message names the variable only.
 */
export function requireSecret(readSecret: ReadSecret, envName: string, receiver: string): string {
  let value: string | undefined;
  try {
    value = readSecret(envName);
  } catch (error) {
    throw new DeliveryError(
      `${receiver}: the environment variable ${envName} may not be read (${(error as Error).message})`,
      true,
    );
  }
  if (!value) {
    throw new DeliveryError(
      `${receiver}: the environment variable ${envName} is not set on the worker`,
      true,
    );
  }
  return value;
}

/** Shorter secrets could match ordinary words of a message; nothing that short is worth hiding. */
const minimumRedactedLength = 4;

/** `text` with every occurrence of each secret value replaced, so that no echo of a receiver leaks one. */
export function redact(text: string, secrets: readonly string[]): string {
  let clean = text;
  for (const secret of secrets) {
    if (secret.length >= minimumRedactedLength) clean = clean.split(secret).join('[redacted]');
  }
  return clean;
}

/** A DeliveryError whose message is redacted of `secrets`. */
export function deliveryFailure(
  message: string,
  permanent: boolean,
  secrets: readonly string[],
): DeliveryError {
  return new DeliveryError(redact(message, secrets), permanent);
}

/**
 * Node's codes for a peer certificate that failed verification: a setting to fix (a private CA to trust,
 * the right host name), not something a retry changes.
 */
const certificateErrorCodes = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);

export function isCertificateError(code: string | undefined): boolean {
  return code !== undefined && certificateErrorCodes.has(code);
}

/** One line of at most `maxLength` characters, control characters and runs of white space made one space. */
export function oneLine(text: string, maxLength: number): string {
  // eslint-disable-next-line no-control-regex
  const line = text.replace(/[\u0000-\u001f\u007f\s]+/g, ' ').trim();
  return line.length > maxLength ? `${line.slice(0, maxLength - 1)}…` : line;
}
