// Restore by swap: the path chosen, the incoming database made and dropped, the swap in and back, and the
// sweep that drops set-aside databases once their time is up.
import { getBackup } from '../../catalog/backups.ts';
import { dueSetAside, endSetAside, recordSetAside } from '../../catalog/set-aside.ts';
import { getTarget, targetPassword } from '../../catalog/targets.ts';
import { LifeboatError } from '../../domain/errors.ts';
import type { RestoreDestination, RestoreOptions } from '../../domain/restore/options.ts';
import { choosePath, swapNames, type PathDecision, type SwapNames } from '../../domain/restore/swap.ts';
import {
  createIncomingDatabase,
  dropDatabaseByOid,
  inspectSwap,
  swapBack,
  swapIn,
} from '../../postgres/swap.ts';
import { dropMarkedDatabase } from '../../postgres/databases.ts';
import type { ActivityDeps } from '../deps.ts';
import { checkId, destinationAccess } from './access.ts';

export interface SwapPlan {
  names: SwapNames;
  originalOid: string;
}

export interface ChosenPath extends PathDecision {
  /** Set for the swap path. */
  swap: SwapPlan | null;
}

export interface SwapStepRequest {
  operationId: string;
  destination: RestoreDestination;
  swap: SwapPlan;
  incomingOid: string;
}

export interface DropIncomingRequest extends Omit<SwapStepRequest, 'incomingOid'> {
  /** Null when its creation may have happened without the workflow learning the oid. */
  incomingOid: string | null;
}

export interface SetAsideSweep {
  dropped: string[];
  /** Set-aside databases gone already, or renamed by someone (kept then, and no longer tracked). */
  untracked: string[];
  failed: { database: string; message: string }[];
}

/** The marker comment of a swap's incoming database, until it takes the original's name and comment. */
const incomingMarker = (operationId: string) => `lifeboat restore ${operationId} (incoming)`;

export interface PathRequest {
  /** The restore's id, or the preview's: it names the databases of the swap. */
  operationId: string;
  backupId: string;
  destination: RestoreDestination;
  options: RestoreOptions;
}

/**
 * The path this restore takes, from the server as it is now: by swap when the mode, the method and
 * the server allow it (privileges, templates, subscriptions, replication slots, free space), in place
 * otherwise, with the reasons either way.
 */
export async function decideRestorePath(deps: ActivityDeps, request: PathRequest): Promise<ChosenPath> {
  const wanted = { ...request.options, destination: request.destination };
  const possible =
    request.options.method !== undefined &&
    request.options.method !== 'in-place' &&
    request.options.mode === 'full' &&
    request.destination.kind === 'target';
  let decision = choosePath(wanted, null);
  let originalOid = '';
  if (possible) {
    const backup = await getBackup(deps.db, checkId(request.backupId, 'backup id'));
    const { target, password } = await destinationAccess(deps, request.destination);
    const inspection = await inspectSwap(
      target.connection,
      password,
      request.destination.database,
      backup.manifest?.database.sizeBytes ?? 0,
    );
    decision = choosePath(wanted, inspection.facts);
    originalOid = inspection.originalOid;
  }
  if (request.options.method === 'swap' && decision.path !== 'swap') {
    throw new LifeboatError('CONFLICT', `The restore asked for method swap. ${decision.reasons.join(' ')}`);
  }
  return {
    ...decision,
    swap:
      decision.path === 'swap'
        ? {
            names: swapNames(request.destination.database, checkId(request.operationId, 'operation id')),
            originalOid,
          }
        : null,
  };
}

export function createSwapRestoreActivities(deps: ActivityDeps) {
  return {
    /** The path this restore takes (see decideRestorePath); CONFLICT when it asked for a swap that cannot be. */
    chooseRestorePath: (request: PathRequest) => decideRestorePath(deps, request),

    /** The empty database the backup is restored into, like the original; returns its oid. */
    async createIncomingDatabase(request: {
      operationId: string;
      destination: RestoreDestination;
      swap: SwapPlan;
    }): Promise<{ oid: string }> {
      const { target, password } = await destinationAccess(deps, request.destination);
      const oid = await createIncomingDatabase(target.connection, password, {
        database: request.destination.database,
        names: request.swap.names,
        marker: incomingMarker(request.operationId),
      });
      return { oid };
    },

    /** Drops the incoming database (by its oid, under its incoming name only); gone already is fine. */
    async dropIncomingDatabase(request: DropIncomingRequest): Promise<string> {
      const { target, password } = await destinationAccess(deps, request.destination);
      if (request.incomingOid === null) {
        const marker = incomingMarker(request.operationId);
        const name = request.swap.names.incoming;
        const dropped = await dropMarkedDatabase({ connection: target.connection, password, name, marker });
        return dropped ? 'dropped' : 'gone';
      }
      return dropDatabaseByOid(target.connection, password, {
        oid: request.incomingOid,
        name: request.swap.names.incoming,
      });
    },

    /**
     * The swap: the checked copy takes the database's name and what belonged to it, the database is set
     * aside for `keepHours`, recorded so that the sweep drops it then.
     */
    async swapInRestored(
      request: SwapStepRequest & { terminateConnections: boolean; keepHours: number },
    ): Promise<{ aside: string; keepUntil: string; swapped: 'now' | 'already' }> {
      const { target, password } = await destinationAccess(deps, request.destination);
      const { swapped } = await swapIn(target.connection, password, {
        database: request.destination.database,
        names: request.swap.names,
        originalOid: request.swap.originalOid,
        incomingOid: request.incomingOid,
        terminateConnections: request.terminateConnections,
      });
      const recorded = await recordSetAside(deps.db, {
        operationId: request.operationId,
        targetId: target.id,
        databaseName: request.destination.database,
        asideName: request.swap.names.aside,
        asideOid: request.swap.originalOid,
        keepHours: request.keepHours,
      });
      return { aside: recorded.asideName, keepUntil: recorded.keepUntil, swapped };
    },

    /** Puts the original database back under its name (the rollback of a swap); recorded as swapped back. */
    async swapBackRestored(request: SwapStepRequest): Promise<{ swappedBack: boolean }> {
      const { target, password } = await destinationAccess(deps, request.destination);
      const result = await swapBack(target.connection, password, {
        database: request.destination.database,
        names: request.swap.names,
        originalOid: request.swap.originalOid,
        incomingOid: request.incomingOid,
      });
      await endSetAside(deps.db, request.operationId, 'swapped_back');
      return result;
    },

    /** Drops every set-aside database whose time is up, each only while it still has its set-aside name. */
    async sweepSetAside(): Promise<SetAsideSweep> {
      const sweep: SetAsideSweep = { dropped: [], untracked: [], failed: [] };
      for (const entry of await dueSetAside(deps.db, new Date())) {
        try {
          const target = await getTarget(deps.db, entry.targetId);
          const password = await targetPassword(deps.db, deps.secrets, target.id, deps.readEnv);
          const outcome = await dropDatabaseByOid(target.connection, password, {
            oid: entry.asideOid,
            name: entry.asideName,
          });
          await endSetAside(deps.db, entry.operationId, outcome);
          (outcome === 'dropped' ? sweep.dropped : sweep.untracked).push(entry.asideName);
        } catch (error) {
          sweep.failed.push({ database: entry.asideName, message: (error as Error).message });
        }
      }
      return sweep;
    },
  };
}
