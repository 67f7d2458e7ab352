// What a failed restore attempt says about the database: the details its error carries to the workflow.

/**
 * The details of a failed `restoreDatabase` attempt. `rolledBack`: PostgreSQL rolled the attempt back, so
 * it changed nothing. `committed: 'unknown'`: psql died after COMMIT was sent. `attempt`: the activity
 * attempt that failed; an earlier attempt of the same call might have committed.
 */
export type RestoreAttemptDetails = {
  rolledBack?: true | undefined;
  committed?: 'unknown' | undefined;
  attempt?: number | undefined;
};

/** The restore details among a failure's details, whatever else they hold. */
export function restoreAttemptDetails(details: Record<string, unknown> | undefined): RestoreAttemptDetails {
  return {
    rolledBack: details?.rolledBack === true ? true : undefined,
    committed: details?.committed === 'unknown' ? 'unknown' : undefined,
    attempt: typeof details?.attempt === 'number' ? details.attempt : undefined,
  };
}

/** True when the failure proves that nothing was committed: the first and only attempt rolled back. */
export function provablyRolledBack(details: RestoreAttemptDetails, calls: number): boolean {
  return calls === 1 && details.rolledBack === true && details.attempt === 1;
}
