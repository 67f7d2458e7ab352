// Parts of the patterns the API takes (white space, URL hosts, ports, users, path segments), as regular-
// expression sources: URL parts ASCII only, as the WHATWG URL parser and decodeURIComponent read them without
// surprises. Free of zod, since the workflow bundle reads restore options that use them.

/** The characters JavaScript's `\s` and String.prototype.trim take for white space, as a class. */
export const jsWhitespace =
  '\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff';

/** A %XX escape of an ASCII character other than NUL and `.` (`%2e` is a dot segment to the URL parser). */
export const asciiEscape = '%(?:0[1-9A-Fa-f]|1[0-9A-Fa-f]|2[0-9A-Da-dFf]|[3-7][0-9A-Fa-f])';

/** What a user name may hold as written: unreserved characters and sub-delimiters, no `:` or `@`. */
export const userCharacter = "[A-Za-z0-9._~!$&'()*+,;=-]";

const hex = '[0-9A-Fa-f]{1,4}';

/** An IPv6 address in any of its compressed forms (no zone, no embedded IPv4). */
const ipv6 = [
  `(?:${hex}:){7}${hex}`,
  `(?:${hex}:){1,7}:`,
  `(?:${hex}:){1,6}:${hex}`,
  `(?:${hex}:){1,5}(?::${hex}){1,2}`,
  `(?:${hex}:){1,4}(?::${hex}){1,3}`,
  `(?:${hex}:){1,3}(?::${hex}){1,4}`,
  `(?:${hex}:){1,2}(?::${hex}){1,5}`,
  `${hex}:(?::${hex}){1,6}`,
  `:(?:(?::${hex}){1,7}|:)`,
].join('|');

/** A host name or an IPv4 address (letters, digits, `.`, `_`, `-`), or an IPv6 address in brackets. */
export const hostPattern = `(?:[A-Za-z0-9._-]{1,255}|\\[(?:${ipv6})\\])`;

/** A port from 1 to 65535, without leading zeros. */
export const portPattern =
  '(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])';

/** A path segment other than `.` and `..` (which the URL parser would resolve away). */
export const pathSegment = "(?!\\.\\.?(?:[/?#]|$))[A-Za-z0-9._~!$&'()*+,;=:@-]+";

/** Escapes `text` for use as a literal inside a regular expression. */
export function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}
