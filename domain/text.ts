// Strings the API takes in: free text the catalog can store, and instants; each one a zod schema whose checks
// the OpenAPI document shows as they are enforced (a pattern, lengths in characters), so the two cannot differ.
import { z } from 'zod';

/** PostgreSQL's text and jsonb cannot hold U+0000; every other character is fine. */
// eslint-disable-next-line no-control-regex -- NUL is the one character this pattern is about
export const storableTextPattern = /^[^\x00]*$/;

/** Length in characters (code points), as JSON Schema's minLength/maxLength count, not UTF-16 units. */
export function characterCount(text: string): number {
  return [...text].length;
}

/**
 * A string that matches `pattern` (which must not admit NUL) and has `min` to `max` characters. Zod's own
 * length checks count UTF-16 units, where the document's count characters (an emoji is one character but
 * two units), so the limits are checked here and shown as minLength/maxLength. `rule` explains a mismatch.
 */
export function textMatching(
  pattern: RegExp,
  rule: string | ((input: string) => string),
  limits: { min?: number; max?: number } = {},
) {
  const { min = 0, max } = limits;
  const bounds =
    max === undefined
      ? `at least ${min} characters`
      : min === max
        ? `${min} characters`
        : `${min} to ${max} characters`;
  let schema = z.string().regex(pattern, {
    error: (issue) => (typeof rule === 'string' ? rule : rule(String(issue.input))),
  });
  if (min > 0 || max !== undefined) {
    schema = schema.refine((text) => {
      const count = characterCount(text);
      return count >= min && (max === undefined || count <= max);
    }, bounds);
  }
  return schema.meta({
    ...(min > 0 ? { minLength: min } : {}),
    ...(max !== undefined ? { maxLength: max } : {}),
  });
}

/** Free text of `min` to `max` characters: anything the catalog can store. */
export function storableText(limits: { min?: number; max?: number } = {}) {
  return textMatching(storableTextPattern, 'may not contain the NUL character', limits);
}

/** The years 1970 to 9999, and the leap years among them (every fourth, but of the centuries only 2000, 2400...). */
const year = '(?:19[7-9][0-9]|[2-9][0-9]{3})';
const leapYear =
  '(?:19(?:7[26]|8[048]|9[26])|[2-9][0-9](?:0[48]|[2468][048]|[13579][26])|(?:[2468][048]|[3579][26])00)';

/**
 * An instant as RFC 3339 writes it, `2026-11-22T03:00:00Z` or with an offset (`+01:00`), in the years 1970 to
 * 9999, on a day the calendar has. The document's `format: date-time` is an annotation its readers need not
 * check, so the pattern says it all: exactly what zod's datetime reads (an upper-case `T` and `Z`, no leap
 * second), within those years.
 */
export const instantPattern = new RegExp(
  `^(?:${leapYear}-02-29|${year}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8])))` +
    'T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]+)?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$',
);

export const instant = () =>
  z.iso
    .datetime({ offset: true })
    .regex(instantPattern, 'a time such as 2026-11-22T03:00:00Z, from 1970 to 9999');
