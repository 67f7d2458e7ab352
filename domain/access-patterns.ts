// The access policy as patterns: the environment-variable names and documents directories a request may
// give, as regular-expression sources that zod enforces and the OpenAPI document shows.
import { isWithin, type DocumentsPolicy, type EnvNamePolicy } from './access-policy.ts';
import { literal } from './pattern-parts.ts';

/** Any environment-variable name, when no policy narrows it. */
export const anyEnvName = '[A-Za-z_][A-Za-z0-9_]*';

/**
 * The names `policy` lets a request name, as envNameProblem decides: the prefix and at least one more
 * letter, digit or `_`, and none of Lifeboat's own settings. `end` is what may follow a name where it stands
 * (`$` for a whole field, `(?:&|$)` in a URL's query), so that a reserved name is refused only whole.
 */
export function envNameSource(policy: EnvNamePolicy | undefined, end = '$'): string {
  if (!policy) return anyEnvName;
  const start = /^[A-Za-z_][A-Za-z0-9_]*$/.test(policy.prefix)
    ? `${literal(policy.prefix)}[A-Za-z0-9_]+`
    : // A prefix that no variable name can start with lets none through.
      '(?!)';
  const reserved = policy.reserved.filter(
    (name) => name.startsWith(policy.prefix) && name !== policy.prefix && /^[A-Za-z0-9_]+$/.test(name),
  );
  return reserved.length ? `(?!(?:${reserved.map(literal).join('|')})${end})${start}` : start;
}

/** What a documents directory's path is made of below a root: 1 to 255 of these, never `.` or `..`. */
const segment = '(?!\\.\\.?(?:/|$))[A-Za-z0-9._~+=,@-]{1,255}';

/**
 * The documents directories `policy` allows, as written paths (absolute, normalised, ASCII names): at or
 * under a root, and neither in one of Lifeboat's own directories nor holding one. Undefined when no
 * directory is allowed (no roots). Links are resolved only when the directory is checked on disk.
 */
export function documentsDirSource(policy: DocumentsPolicy): string | undefined {
  // A root inside one of Lifeboat's own directories allows nothing.
  const roots = policy.roots.filter((root) => !policy.own.some((own) => isWithin(root, own)));
  if (!roots.length) return undefined;
  const refused: string[] = [];
  for (const own of policy.own) {
    refused.push(`${literal(own)}(?:/|$)`);
    // The directories between a root and one of Lifeboat's own hold it.
    for (const root of roots) {
      if (!isWithin(own, root) || own === root) continue;
      for (let dir = own.slice(0, own.lastIndexOf('/')) || '/'; isWithin(dir, root);) {
        refused.push(`${literal(dir)}/?$`);
        if (dir === root) break;
        dir = dir.slice(0, dir.lastIndexOf('/')) || '/';
      }
    }
  }
  const below = `(?:/${segment})*/?`;
  const alternatives = roots.map((root) =>
    root === '/' ? `/(?:${segment}(?:/${segment})*/?)?` : `${literal(root)}${below}`,
  );
  return `${refused.length ? `(?!${refused.join('|')})` : ''}(?:${alternatives.join('|')})`;
}
