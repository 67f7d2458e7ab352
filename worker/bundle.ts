// Builds the workflow bundle ahead of time (`node worker/bundle.ts out.js`), so that a worker started
// with LIFEBOAT_WORKFLOW_BUNDLE=out.js skips webpack at start and keeps its memory low.
import { bundleWorkflowCode } from '@temporalio/worker';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

const output = process.argv[2];
if (!output) {
  console.error('usage: node worker/bundle.ts <output.js>');
  process.exit(2);
}
const { code } = await bundleWorkflowCode({
  workflowsPath: path.resolve(import.meta.dirname, '../workflows/index.ts'),
});
writeFileSync(output, code);
console.log(`workflow bundle written to ${output} (${Math.round(code.length / 1024)} KiB)`);
