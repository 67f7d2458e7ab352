// What every request carries through the middleware: the caller, and the error code if it failed.
import type { TokenIdentity } from '../catalog/tokens.ts';
import type { ServiceDeps } from '../services/deps.ts';
import type { LiveEventHub } from '../services/live-events.ts';
import type { AuthLimits } from './auth.ts';

/** The API's dependencies are the services', and the limits it puts on clients; routes hand them on. */
export interface ApiDeps extends ServiceDeps {
  /** Default: `defaultAuthLimits`. */
  auth?: Partial<AuthLimits> | undefined;
  /** The largest request body outside uploads; default `defaultMaxBodyBytes`. */
  maxBodyBytes?: number | undefined;
  /**
   * How long a change that loosens `restoreApproval` waits before it applies; default
   * `defaultApprovalChangeDelayMs`.
   */
  approvalChangeDelayMs?: number | undefined;
  /**
   * The process's live-event hub behind GET /api/admin/events; its owner closes it at shutdown. Default: a
   * hub of the app's own over `db`, which holds a catalog connection only while a stream is open.
   */
  events?: LiveEventHub | undefined;
  /** LIFEBOAT_METRICS_TOKEN: when set, GET /metrics needs exactly it as its bearer token. */
  metricsToken?: string | undefined;
}

export interface AppEnv {
  Variables: {
    identity: TokenIdentity | undefined;
    errorCode: string | undefined;
    resourceId: string | undefined;
    /** Stored with the call's audit line: e.g. which guards a forced delete overrode. */
    auditDetails: Record<string, unknown> | undefined;
  };
}
