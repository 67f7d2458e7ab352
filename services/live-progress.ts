// Asks a running workflow a query, without letting a busy or gone worker hold up the caller's answer.
import type { QueryDefinition } from '@temporalio/client';
import type { ServiceDeps } from './deps.ts';

/** The query's answer, or null when the workflow cannot answer within `deps.queryTimeoutMs` (3 s). */
export async function queryWithin<T>(
  deps: Pick<ServiceDeps, 'temporal' | 'queryTimeoutMs'>,
  workflowId: string,
  query: QueryDefinition<T, []>,
): Promise<T | null> {
  const timeoutMs = deps.queryTimeoutMs ?? 3_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      deps.temporal.workflow.getHandle(workflowId).query(query),
      new Promise<null>((resolve) => {
        timer = setTimeout(() => resolve(null), timeoutMs);
      }),
    ]);
  } catch {
    return null;
  } finally {
    clearTimeout(timer);
  }
}
