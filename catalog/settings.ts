// Global settings: the default retention policy (with its time zone and cleanup ages) and storage.
import type pg from 'pg';
import { z } from 'zod';
import { retentionPolicySchema } from '../domain/retention.ts';

export const settingsSchema = z
  .object({
    retention: retentionPolicySchema.default(retentionPolicySchema.parse({})),
    /** Shown to people and used when a target names none; credentials never go here. */
    defaultStorageUrl: z.string().nullable().default(null),
    /** The storage budget that statistics measure use against; null for none. */
    maxStorageBytes: z.number().int().positive().nullable().default(null),
    /**
     * Restores wait for an `approve` from a different admin, for all targets or the ones named, and are
     * cancelled when none comes within `timeoutMinutes`.
     */
    restoreApproval: z
      .object({
        required: z.boolean().default(false),
        timeoutMinutes: z
          .number()
          .positive()
          .max(7 * 24 * 60)
          .default(60),
        targets: z.array(z.string().min(1)).nullable().default(null),
      })
      .strict()
      .default({ required: false, timeoutMinutes: 60, targets: null }),
  })
  .strict();

export type Settings = z.infer<typeof settingsSchema>;

export async function getSettings(db: pg.Pool): Promise<Settings> {
  const { rows } = await db.query<{ value: unknown }>('select value from settings where id');
  return settingsSchema.parse(rows[0]?.value ?? {});
}

export async function putSettings(db: pg.Pool, settings: Settings, updatedBy: string): Promise<Settings> {
  await db.query(
    `insert into settings (id, value, updated_by) values (true, $1, $2)
     on conflict (id) do update set value = excluded.value, updated_by = excluded.updated_by, updated_at = now()`,
    [JSON.stringify(settings), updatedBy],
  );
  return settings;
}
