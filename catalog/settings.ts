// Global settings: the default retention policy (with its time zone and cleanup ages), storage, deletion
// rights and grace, restore approval; changed by merging, never by replacing the whole document.
import type pg from 'pg';
import { z } from 'zod';
import type { EnvNamePolicy } from '../domain/access-policy.ts';
import { retentionOverridesSchema, retentionPolicySchema } from '../domain/retention.ts';
import { storageUrlSchema } from '../domain/storage-url-pattern.ts';
import { storageUrlProblem } from '../domain/storage-url.ts';
import { assertionOperators } from '../domain/drill/checks.ts';
import { targetNamePattern, targetNameRule } from '../domain/naming.ts';
import { storableText } from '../domain/text.ts';

/**
 * The shortest time a deleted backup stays in the trash: no setting, and so no API client, can make a
 * backup purgeable sooner than a day after it was deleted.
 */
export const minDeleteGraceDays = 1;

const restoreApprovalSchema = z
  .object({
    required: z.boolean().default(false),
    timeoutMinutes: z
      .number()
      .positive()
      .max(7 * 24 * 60)
      .default(60),
    // Kept in jsonb, which cannot hold NUL either.
    targets: z
      .array(storableText({ min: 1 }))
      .nullable()
      .default(null),
  })
  .strict();

export type RestoreApproval = z.infer<typeof restoreApprovalSchema>;

const drillAssertionSchema = z
  .object({
    /** The target whose backups' drills check it. */
    target: z.string().regex(targetNamePattern, targetNameRule),
    name: storableText({ min: 1, max: 200 }),
    sql: storableText({ min: 1, max: 10_000 }),
    operator: z.enum(assertionOperators).optional(),
    value: z.number().optional(),
    withinHoursOfBackup: z
      .number()
      .positive()
      .max(24 * 3650)
      .optional(),
  })
  .strict();

const drillSettingsSchema = z
  .object({
    /** The drill server: a registered target (by name) on whose server drills restore; null: no drills. */
    server: z.string().regex(targetNamePattern, targetNameRule).nullable().default(null),
    /** A drill server of its own for a target, over `server`. */
    servers: z
      .array(
        z
          .object({
            target: z.string().regex(targetNamePattern, targetNameRule),
            server: z.string().regex(targetNamePattern, targetNameRule),
          })
          .strict(),
      )
      .max(1000)
      .default([]),
    /** Drill every backup once it completes, up to `afterBackupMaxBytes` of archive. */
    afterBackup: z.boolean().default(true),
    afterBackupMaxBytes: z
      .number()
      .int()
      .positive()
      .max(Number.MAX_SAFE_INTEGER)
      .default(2 * 1024 ** 3),
    /** Drills at a time on one drill server; the others wait their turn. */
    concurrency: z.number().int().min(1).max(16).default(1),
    /** SQL assertions, each of one target, checked in every drill of its backups. */
    assertions: z.array(drillAssertionSchema).max(1000).default([]),
  })
  .strict();

export type DrillSettings = z.infer<typeof drillSettingsSchema>;

/** The drill server of a target's backups: its own, else the global one; null when drills are off. */
export function drillServerOf(drills: DrillSettings, targetName: string): string | null {
  return drills.servers.find((entry) => entry.target === targetName)?.server ?? drills.server;
}

export const settingsSchema = z
  .object({
    retention: retentionPolicySchema.default(retentionPolicySchema.parse({})),
    /** Shown to people and used when a target names none; credentials never go here. */
    defaultStorageUrl: z
      .string()
      .superRefine((url, context) => {
        const problem = storageUrlProblem(url);
        if (problem) context.addIssue({ code: 'custom', message: problem });
      })
      .nullable()
      .default(null),
    /** The storage budget that statistics measure use against; null for none. */
    maxStorageBytes: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).nullable().default(null),
    /**
     * Restores wait for an `approve` from an admin with another token owner, for all targets or the ones
     * named, and are cancelled when none comes within `timeoutMinutes`.
     */
    restoreApproval: restoreApprovalSchema.default({ required: false, timeoutMinutes: 60, targets: null }),
    /** Whether operators may move backups to the trash; admins always may. */
    allowOperatorDelete: z.boolean().default(false),
    /** Days a deleted backup stays in the trash, restorable, before the retention sweep removes it. */
    deleteGraceDays: z.number().int().min(minDeleteGraceDays).max(3650).default(7),
    /** Hours a restore by swap keeps the database it replaced, as the safety copy, before it is dropped. */
    safetyRetentionHours: z
      .number()
      .int()
      .min(1)
      .max(24 * 90)
      .default(24),
    /** Restore drills: where they run, when, and what they assert. */
    drills: drillSettingsSchema.default(drillSettingsSchema.parse({})),
  })
  .strict();

export type Settings = z.infer<typeof settingsSchema>;

/** A change of `restoreApproval` that loosens it, waiting until `effectiveAt` before it applies. */
const pendingApprovalSchema = z
  .object({
    value: restoreApprovalSchema,
    effectiveAt: z.string().datetime({ offset: true }),
    requestedBy: z.string(),
  })
  .strict();

/** The settings in effect, and a loosening of restoreApproval that waits for its time (or null). */
export const storedSettingsSchema = settingsSchema.extend({
  pendingRestoreApproval: pendingApprovalSchema.nullable().default(null),
});

export type StoredSettings = z.infer<typeof storedSettingsSchema>;

function withoutDefaults(shape: Record<string, z.ZodType>): Record<string, z.ZodType> {
  return Object.fromEntries(
    Object.entries(shape).map(([key, schema]) => [
      key,
      schema instanceof z.ZodDefault ? (schema.unwrap() as z.ZodType) : schema,
    ]),
  );
}

/**
 * A change: any subset of the fields, and of the fields of `retention` and `restoreApproval`. What is
 * left out keeps its current value; null sets a nullable field to none. A new defaultStorageUrl names only
 * credential variables `storageEnv` allows (any, without a policy).
 */
export function settingsPatchSchemaFor(storageEnv?: EnvNamePolicy): z.ZodType<SettingsPatch> {
  return z
    .object(
      withoutDefaults({
        ...settingsSchema.shape,
        defaultStorageUrl: storageUrlSchema(storageEnv).nullable(),
        retention: retentionOverridesSchema,
        restoreApproval: z.object(withoutDefaults(restoreApprovalSchema.shape)).partial().strict(),
        drills: z.object(withoutDefaults(drillSettingsSchema.shape)).partial().strict(),
      }),
    )
    .partial()
    .strict();
}

export type SettingsPatch = {
  [K in keyof Settings]?: K extends 'retention' | 'restoreApproval' | 'drills'
    ? Partial<Settings[K]>
    : Settings[K];
};

/**
 * Whether `next` asks for less approval than `current`: approval switched off, or targets taken out of
 * it. Such a change waits; one that asks for more (or only changes the timeout) applies at once.
 */
export function loosensApproval(current: RestoreApproval, next: RestoreApproval): boolean {
  if (!current.required) return false;
  if (!next.required) return true;
  if (next.targets === null) return false;
  return current.targets === null || current.targets.some((target) => !next.targets!.includes(target));
}

/** The stored document with a pending approval change applied once its time has come. */
function inEffect(stored: StoredSettings, now: Date): StoredSettings {
  const pending = stored.pendingRestoreApproval;
  if (!pending || Date.parse(pending.effectiveAt) > now.getTime()) return stored;
  return { ...stored, restoreApproval: pending.value, pendingRestoreApproval: null };
}

export async function getSettings(db: pg.Pool, now: Date = new Date()): Promise<StoredSettings> {
  const { rows } = await db.query<{ value: unknown }>('select value from settings where id');
  return inEffect(storedSettingsSchema.parse(rows[0]?.value ?? {}), now);
}

/**
 * Merges `patch` into the settings under a row lock, so that two changes never undo each other. A change
 * that loosens restoreApproval is stored as pending until `approvalChangeDelayMs` has passed (the one who
 * loosens it cannot restore at once without approval); any later change of restoreApproval replaces it.
 */
export async function updateSettings(
  db: pg.Pool,
  patch: SettingsPatch,
  change: { updatedBy: string; approvalChangeDelayMs: number; now?: Date },
): Promise<StoredSettings> {
  const now = change.now ?? new Date();
  const client = await db.connect();
  try {
    await client.query('begin');
    await client.query(
      `insert into settings (id, value, updated_by) values (true, '{}', $1) on conflict (id) do nothing`,
      [change.updatedBy],
    );
    const { rows } = await client.query<{ value: unknown }>('select value from settings where id for update');
    const current = inEffect(storedSettingsSchema.parse(rows[0]?.value ?? {}), now);
    const { retention, restoreApproval, drills, ...plain } = patch;
    let next: StoredSettings = {
      ...current,
      ...plain,
      retention: retentionPolicySchema.parse({ ...current.retention, ...retention }),
      drills: drillSettingsSchema.parse({ ...current.drills, ...drills }),
    };
    if (restoreApproval) {
      const requested = { ...current.restoreApproval, ...restoreApproval };
      next =
        change.approvalChangeDelayMs > 0 && loosensApproval(current.restoreApproval, requested)
          ? {
              ...next,
              pendingRestoreApproval: {
                value: requested,
                effectiveAt: new Date(now.getTime() + change.approvalChangeDelayMs).toISOString(),
                requestedBy: change.updatedBy,
              },
            }
          : { ...next, restoreApproval: requested, pendingRestoreApproval: null };
    }
    const saved = storedSettingsSchema.parse(next);
    await client.query(`update settings set value = $1, updated_by = $2, updated_at = now() where id`, [
      JSON.stringify(saved),
      change.updatedBy,
    ]);
    await client.query('commit');
    return saved;
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
