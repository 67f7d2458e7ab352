// startAbandonedChild: a child workflow that outlives its parent and never fails or delays it.
import {
  WorkflowExecutionAlreadyStartedError,
  type Workflow,
  type WithWorkflowArgs,
} from '@temporalio/common';
import { log, ParentClosePolicy, startChild, type ChildWorkflowOptions } from '@temporalio/workflow';

/**
 * Starts `workflow` as a child that is left to run on its own (ABANDON): the parent waits only for the
 * start, never for the child's end, and the child's failure is recorded in its own history. A child
 * already started under the same id has the work in hand, so that is no error; any other failure to start
 * is logged (`whenNotStarted` says what is lost and who catches up) and swallowed.
 */
export async function startAbandonedChild<T extends Workflow>(
  workflow: T,
  options: WithWorkflowArgs<T, Omit<ChildWorkflowOptions, 'typeInfo'> & { typeInfo?: never }> & {
    workflowId: string;
  },
  whenNotStarted: string,
): Promise<void> {
  try {
    await startChild(workflow, { ...options, parentClosePolicy: ParentClosePolicy.ABANDON });
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) {
      log.warn(whenNotStarted, { workflowId: options.workflowId, error: String(error) });
    }
  }
}
