// What every request carries through the middleware: the caller, and the error code if it failed.
import type { TokenIdentity } from '../catalog/tokens.ts';
import type { ServiceDeps } from '../services/deps.ts';

/** The API's dependencies are the services'; routes hand them on. */
export type ApiDeps = ServiceDeps;

export interface AppEnv {
  Variables: {
    identity: TokenIdentity | undefined;
    errorCode: string | undefined;
    resourceId: string | undefined;
  };
}
