// The memory benchmark's baseline: a minimal TypeScript worker (SDK defaults, a prebuilt bundle, no
// activities) on its own task queue, logging memory reports as the Lifeboat worker does; the SDK stops it on
// SIGTERM. Not run alone.
import { NativeConnection, Worker } from '@temporalio/worker';
import { startMemoryReports } from '../worker/memory-report.ts';

const [address, taskQueue, codePath, reportMs, second] = process.argv.slice(2);
if (!address || !taskQueue || !codePath) {
  console.error('usage: node bench/worker-memory-baseline.ts ADDRESS TASK_QUEUE BUNDLE [REPORT_MS [second]]');
  process.exit(2);
}
const connection = await NativeConnection.connect({ address });
const worker = await Worker.create({ connection, taskQueue, workflowBundle: { codePath } });
// `second`: and an activity-only Worker on a queue of its own, as Lifeboat's own queue is, to weigh it.
const own = second
  ? await Worker.create({ connection, taskQueue: `${taskQueue}@own`, activities: { noop: async () => {} } })
  : undefined;
startMemoryReports(Number(reportMs ?? 500));
console.log(`baseline worker polling ${taskQueue}`);
await Promise.all([worker.run(), own?.run()]);
await connection.close();
