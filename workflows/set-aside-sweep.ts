// setAsideSweepWorkflow: drops the databases restores by swap set aside once they have been kept long
// enough, and the scratch databases drills that ended left on their drill servers.
import { log, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import type { SetAsideSweep } from '../activities/restore/swap.ts';
import { swapOptions } from './options.ts';

const swapping = proxyActivities<Activities>(swapOptions);

/** Run by the schedule `lifeboat-set-aside-sweep`; a database it cannot drop now is tried again next time. */
export async function setAsideSweepWorkflow(): Promise<SetAsideSweep & { drillDatabases: string[] }> {
  const sweep = await swapping.sweepSetAside();
  for (const failure of sweep.failed) log.warn('A set-aside database could not be dropped', failure);
  const drills = await swapping.sweepDrillDatabases();
  for (const failure of drills.failed) log.warn('A drill server could not be swept', failure);
  return { ...sweep, drillDatabases: drills.dropped };
}
