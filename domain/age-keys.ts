// age keys as text: which strings are recipients (public, to back up) and identities (private, to restore).
import { z } from 'zod';
import { jsWhitespace } from './pattern-parts.ts';

// Bech32 (BIP 173), the encoding of age keys: a checksum over the prefix and the data catches a
// mistyped or truncated key when it is entered, not when the first backup runs at 3 AM.
const bech32Charset = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const bech32Generators = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
const checksumLength = 6;

function bech32Polymod(values: readonly number[]): number {
  let checksum = 1;
  for (const value of values) {
    const top = checksum >>> 25;
    checksum = ((checksum & 0x1ffffff) << 5) ^ value;
    bech32Generators.forEach((generator, bit) => {
      if ((top >>> bit) & 1) checksum ^= generator;
    });
  }
  return checksum;
}

/** Whether `s` is `<prefix>1<data><checksum>` carrying exactly `byteLength` bytes, in one letter case. */
function isBech32Key(s: string, prefix: string, byteLength: number): boolean {
  const lower = s.toLowerCase();
  if (s !== lower && s !== s.toUpperCase()) return false;
  const hrp = prefix.toLowerCase();
  const dataLength = Math.ceil((byteLength * 8) / 5);
  if (!lower.startsWith(`${hrp}1`) || lower.length !== hrp.length + 1 + dataLength + checksumLength) {
    return false;
  }
  const words = [...lower.slice(hrp.length + 1)].map((char) => bech32Charset.indexOf(char));
  if (words.includes(-1)) return false;
  const expandedHrp = [
    ...[...hrp].map((char) => char.charCodeAt(0) >>> 5),
    0,
    ...[...hrp].map((char) => char.charCodeAt(0) & 31),
  ];
  if (bech32Polymod([...expandedHrp, ...words]) !== 1) return false;
  const paddingBits = dataLength * 5 - byteLength * 8;
  return ((words[dataLength - 1] ?? 0) & ((1 << paddingBits) - 1)) === 0;
}

// The key types that both the age command-line tool and Lifeboat's restore can use. Tag recipients
// (age1tag1..., hardware keys behind a plugin) are left out: Lifeboat could encrypt to them but
// never restore from them. The prefixes also pin the letter case age writes (and reads).
const isClassicRecipient = (s: string): boolean => s.startsWith('age1') && isBech32Key(s, 'age', 32);
const isPostQuantumRecipient = (s: string): boolean =>
  s.startsWith('age1pq1') && isBech32Key(s, 'age1pq', 1216);

/** An age public key to encrypt to: X25519 (`age1...`) or post-quantum hybrid (`age1pq1...`). */
export function isAgeRecipient(s: string): boolean {
  return isClassicRecipient(s) || isPostQuantumRecipient(s);
}

/** An age private key to decrypt with: X25519 (`AGE-SECRET-KEY-1...`) or hybrid (`AGE-SECRET-KEY-PQ-1...`). */
export function isAgeIdentity(s: string): boolean {
  return (
    (s.startsWith('AGE-SECRET-KEY-1') && isBech32Key(s, 'AGE-SECRET-KEY-', 32)) ||
    (s.startsWith('AGE-SECRET-KEY-PQ-1') && isBech32Key(s, 'AGE-SECRET-KEY-PQ-', 32))
  );
}

/**
 * What is wrong with `s` as a recipient, in words a person can act on, or undefined when it is one.
 * Never quotes `s`: a private key pasted by mistake must not travel on in an error message.
 */
export function ageRecipientProblem(s: string): string | undefined {
  if (isAgeRecipient(s)) return undefined;
  if (/^AGE-SECRET-KEY-/i.test(s)) {
    return 'this is a private key (identity), not a recipient: give its public key instead (age1..., printed by `age-keygen -y`), and keep the private key out of Lifeboat until a restore needs it';
  }
  if (/^(ssh-|ecdsa-sha2-)/.test(s)) {
    return 'SSH public keys are not supported: give an age recipient (age1...) made with `age-keygen`';
  }
  if (s.startsWith('age1tag')) {
    return 'hardware-key (age1tag...) recipients are not supported, because Lifeboat could not restore from them: give an age1... or age1pq1... recipient';
  }
  if (s.startsWith('age1')) {
    return 'not a valid age recipient: it may be mistyped or cut short (the checksum does not match)';
  }
  return 'not an age recipient: expected a public key that starts with age1 (or age1pq1 for post-quantum), as printed by `age-keygen`';
}

/** The reference `age` refuses such a mix: the classic recipient would leave the file open to quantum computers. */
export const mixedRecipientsProblem =
  "post-quantum (age1pq1...) and classic (age1...) recipients can't be mixed: the classic one would leave the archive open to quantum computers";

/** Whether encrypting to all of `recipients` together would mix post-quantum and classic keys. */
export function mixesRecipientKinds(recipients: readonly string[]): boolean {
  return recipients.some(isPostQuantumRecipient) && recipients.some(isClassicRecipient);
}

export const maxAgeRecipients = 20;

/** What String.prototype.trim removes: the recipients are trimmed, so the pattern allows it around a key. */
const trimmed = `[${jsWhitespace}]*`;

/**
 * The shapes of the two recipient kinds, with the zero bits that end their data: everything but the bech32
 * checksum, which no pattern can state (recipientChecksumProblem checks it).
 */
/** The characters whose last `bits` bits are zero: how a key's data ends when its bytes do not fill it. */
const endingIn = (bits: number) => [...bech32Charset].filter((_, value) => value % 2 ** bits === 0).join('');
// 32 bytes take 52 five-bit characters (4 bits left over), 1216 bytes 1946 (2 bits); then the checksum.
const classicRecipient = `age1[${bech32Charset}]{51}[${endingIn(4)}][${bech32Charset}]{${checksumLength}}`;
const postQuantumRecipient = `age1pq1[${bech32Charset}]{1945}[${endingIn(2)}][${bech32Charset}]{${checksumLength}}`;
const classicRecipientPattern = new RegExp(`^${trimmed}${classicRecipient}${trimmed}$`);
const postQuantumRecipientPattern = new RegExp(`^${trimmed}${postQuantumRecipient}${trimmed}$`);
const recipientPattern = new RegExp(`^${trimmed}(?:${classicRecipient}|${postQuantumRecipient})${trimmed}$`);

/**
 * A target's recipients as the API receives them: 1 to 20 distinct age public keys of one kind, trimmed.
 * The document states "of one kind" as an anyOf of the two list shapes, built from the same patterns that
 * the check below uses (a zod union would hide which recipient is wrong behind "no shape fits").
 */
export const ageRecipientsSchema = z
  .array(
    z
      .string()
      .regex(recipientPattern, {
        error: (issue) => ageRecipientProblem(String(issue.input).trim()) ?? 'not an age recipient',
      })
      .transform((s) => s.trim()),
  )
  .min(1, 'give at least one age recipient (age1...) to encrypt backups to')
  .max(maxAgeRecipients, `at most ${maxAgeRecipients} recipients`)
  .superRefine((recipients, ctx) => {
    recipients.forEach((recipient, index) => {
      const first = recipients.indexOf(recipient);
      if (first !== index) {
        ctx.addIssue({
          code: 'custom',
          path: [index],
          message: `the same recipient as number ${first + 1}; list each recipient once`,
        });
      }
    });
    if (!recipients.every((recipient) => recipientPattern.test(recipient))) return;
    const kinds = new Set(recipients.map((recipient) => classicRecipientPattern.test(recipient)));
    if (kinds.size > 1) ctx.addIssue({ code: 'custom', message: mixedRecipientsProblem });
  })
  .meta({
    uniqueItems: true,
    anyOf: [classicRecipientPattern, postQuantumRecipientPattern].map((pattern) => ({
      items: { pattern: pattern.source },
    })),
  });

/**
 * The first recipient whose bech32 checksum does not hold, as a person can act on it: a key of the right
 * shape, mistyped or cut short. Undefined when every one is a key. Its own check, because a checksum is
 * content, not shape: a request with such a key is well-formed and refused for what it says.
 */
export function recipientChecksumProblem(recipients: readonly string[]): string | undefined {
  const index = recipients.findIndex((recipient) => !isAgeRecipient(recipient));
  if (index < 0) return undefined;
  return `recipient ${index + 1}: ${ageRecipientProblem(recipients[index]!) ?? 'not an age recipient'}`;
}
