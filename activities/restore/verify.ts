// Verify: the restored database checked table by table against the rows the restore loaded.
import { LifeboatError } from '../../domain/errors.ts';
import type { RestoreDestination, RestoreOptions, TableName } from '../../domain/restore/options.ts';
import {
  verifyRestoredTables,
  type ExpectedTable,
  type VerificationReport,
} from '../../domain/restore/verify.ts';
import { restorePercent } from '../../domain/restore/progress.ts';
import { countTables } from '../../postgres/inspect.ts';
import { restoreProgressSignal } from '../../workflows/restore-messages.ts';
import type { ActivityDeps } from '../deps.ts';
import { startPulse } from '../pulse.ts';
import { destinationAccess } from './access.ts';

export function createRestoreVerifyActivities(deps: ActivityDeps) {
  return {
    /**
     * Verify: every table the restore wrote exists and holds exactly the rows the dump carried, and in
     * modes full and schema-only every table of the manifest is among them. VERIFY_FAILED otherwise.
     */
    async verifyRestore(request: {
      destination: RestoreDestination;
      mode: RestoreOptions['mode'];
      expected: ExpectedTable[];
      manifestTables: (TableName & { rowEstimate: number })[];
    }): Promise<VerificationReport> {
      const { password, connection } = await destinationAccess(deps, request.destination);
      // Heartbeats while it counts (a lock may hold it too): a killed worker's attempt is then retried soon.
      const stopPulse = startPulse(deps, null, restoreProgressSignal, () => ({
        step: 'verify' as const,
        percent: restorePercent('verify', 0),
        bytes: 0,
      }));
      let observed: Awaited<ReturnType<typeof countTables>>;
      try {
        observed = await countTables(connection, password, request.expected);
      } finally {
        stopPulse();
      }
      const report = verifyRestoredTables(request.mode, request.expected, observed, request.manifestTables);
      if (!report.ok) {
        throw new LifeboatError(
          'VERIFY_FAILED',
          `The restored database does not check out: ${report.problems.join('; ')}.`,
          { report },
        );
      }
      return report;
    },
  };
}
