// Turns zod validation failures into VALIDATION_FAILED errors that name the offending field, looking inside
// the alternative shapes (anyOf) a request may take for the one it was meant to have.
import type { Hook } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import type { z } from 'zod';
import { LifeboatError } from '../domain/errors.ts';

type Issue = z.core.$ZodIssue;
type Path = readonly PropertyKey[];

interface Problem {
  path: PropertyKey[];
  message: string;
}

function valueAt(data: unknown, path: Path): unknown {
  let value = data;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** An issue about which shape the request has: a field it lacks, or one that shape does not allow. */
function isAboutShape(issue: Issue, data: unknown, at: Path): boolean {
  if (issue.code === 'unrecognized_keys') return true;
  return issue.code === 'invalid_type' && valueAt(data, [...at, ...issue.path]) === undefined;
}

/**
 * The problems an issue stands for. In a union (the document's anyOf), the one shape that fits the request
 * (no field missing, none it does not allow) speaks for it; when none or several do, the union's own
 * message does, on the field that decides between them, with what all shapes find wrong besides.
 */
function problemsOf(issue: Issue, data: unknown, at: Path = []): Problem[] {
  const path = [...at, ...issue.path];
  if (issue.code !== 'invalid_union' || !issue.errors.length) return [{ path, message: issue.message }];
  const fitting = issue.errors.filter((branch) => !branch.some((inner) => isAboutShape(inner, data, path)));
  if (fitting.length === 1) return fitting[0]!.flatMap((inner) => problemsOf(inner, data, path));
  const first = issue.errors[0]!;
  const deciding = first.find((inner) => isAboutShape(inner, data, path));
  const key = deciding?.code === 'unrecognized_keys' ? [deciding.keys[0]!] : (deciding?.path ?? []);
  const shared = first.filter(
    (inner) =>
      !isAboutShape(inner, data, path) &&
      issue.errors.every((branch) =>
        branch.some(
          (other) => other.message === inner.message && other.path.join('.') === inner.path.join('.'),
        ),
      ),
  );
  return [
    { path: [...path, ...key], message: issue.message },
    ...shared.flatMap((inner) => problemsOf(inner, data, path)),
  ];
}

const joined = (path: readonly PropertyKey[]) => path.map(String).join('.');

/** `destinations.0` → `destinations`: the message names the field; details keep the item's index. */
const fieldName = (path: readonly PropertyKey[]) =>
  path
    .filter((key) => typeof key !== 'number')
    .map(String)
    .join('.');

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the hook is shared by routes of every shape
export const validationHook: Hook<any, any, any, any> = (result) => {
  if (result.success) return;
  // The validator hands the hook the request's value too (its type leaves it out): missing fields are found in it.
  const data = (result as { data?: unknown }).data;
  const problems = result.error.issues.flatMap((issue: Issue) => problemsOf(issue, data));
  const problem = problems[0];
  const field = problem && problem.path.length ? joined(problem.path) : undefined;
  const name = problem ? fieldName(problem.path) : '';
  throw new LifeboatError(
    'VALIDATION_FAILED',
    name ? `${name}: ${problem?.message}` : (problem?.message ?? 'Invalid input.'),
    {
      field,
      issues: problems.map((p) => ({ path: joined(p.path), message: p.message })),
    },
  );
};

/**
 * For a route whose body schema accepts `{}` (every field optional): a request without a body is refused
 * rather than read as an empty change, as the document's `required: true` says.
 */
export const requireJsonBody: MiddlewareHandler = async (c, next) => {
  if (!c.req.header('content-type')) {
    throw new LifeboatError('VALIDATION_FAILED', 'Send a JSON body (content-type: application/json).');
  }
  await next();
};
