// Turns zod validation failures into VALIDATION_FAILED errors that name the offending field.
import type { Hook } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { LifeboatError } from '../domain/errors.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the hook is shared by routes of every shape
export const validationHook: Hook<any, any, any, any> = (result) => {
  if (result.success) return;
  const issue = result.error.issues[0];
  const field = issue?.path.join('.') || undefined;
  throw new LifeboatError(
    'VALIDATION_FAILED',
    field ? `${field}: ${issue?.message}` : (issue?.message ?? 'Invalid input.'),
    {
      field,
      issues: result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
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
