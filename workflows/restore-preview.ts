// restorePreviewWorkflow: the preview, on any worker, which keeps the archive it extracted for the restore.
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import type { DescribedRestore, DescribeRestoreRequest } from '../activities/restore/preview.ts';
import { previewOptions } from './options.ts';

export type RestorePreviewInput = DescribeRestoreRequest;

const previewing = proxyActivities<Activities>(previewOptions);

/**
 * The preview runs on a worker (it reads the archive with pg_restore) and changes nothing. It answers with
 * the worker's task queue too: the restore its token confirms goes there first, to share the extraction.
 */
export async function restorePreviewWorkflow(input: RestorePreviewInput): Promise<DescribedRestore> {
  return previewing.describeRestore(input);
}
