// The archive's manifest.json: what a backup contains, enough to verify and restore it by itself.
import { z } from 'zod';

/**
 * 2: the dump is a sequence of bounded tar entries (`dumpParts`), written while pg_dump runs; 1: the dump is
 * one entry, `database/<db>.dump`. Readers accept both.
 */
export const manifestFormatVersion = 2;
const formatVersionSchema = z.union([z.literal(1), z.literal(2)]);

export const manifestFileSchema = z.object({
  path: z.string(),
  sizeBytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});

export const manifestTableSchema = z.object({
  schema: z.string(),
  name: z.string(),
  rowEstimate: z.number().int(),
  sizeBytes: z.number().int().nonnegative(),
});

/**
 * The dump written as parts: their paths in order (each also in `files`, with its size and sha256), and the
 * path of the one file they make when joined, `database/<db>.dump`, with its size.
 */
export const manifestDumpPartsSchema = z.object({
  path: z.string(),
  sizeBytes: z.number().int().nonnegative(),
  parts: z.array(z.string()).min(1),
});

export const manifestSchema = z.object({
  formatVersion: formatVersionSchema,
  lifeboatVersion: z.string(),
  backupId: z.string().uuid(),
  target: z.string(),
  database: z.object({
    name: z.string(),
    serverVersion: z.string(),
    serverVersionNum: z.number().int(),
    sizeBytes: z.number().int().nonnegative(),
  }),
  /** The dump is taken uncompressed (pg_dump -Z0) and the whole archive compressed once, like this. */
  pgDump: z.object({ version: z.string(), format: z.enum(['custom']), compression: z.literal('none') }),
  archive: z.object({
    compression: z.enum(['zstd', 'gzip', 'none']),
    /** Set when the compressed tar is encrypted, as a whole, to these age recipients. */
    encryption: z.object({ format: z.literal('age'), recipients: z.array(z.string()) }).optional(),
  }),
  trigger: z.string(),
  startedAt: z.string().datetime(),
  dumpFinishedAt: z.string().datetime(),
  files: z.array(manifestFileSchema),
  dumpParts: manifestDumpPartsSchema.optional(),
  tables: z.array(manifestTableSchema),
  documents: z
    .object({ fileCount: z.number().int().nonnegative(), totalBytes: z.number().int().nonnegative() })
    .nullable(),
  options: z.object({ tags: z.array(z.string()) }),
});

export type Manifest = z.infer<typeof manifestSchema>;
export type ManifestFile = z.infer<typeof manifestFileSchema>;
export type ManifestDumpParts = z.infer<typeof manifestDumpPartsSchema>;
export type ManifestTable = z.infer<typeof manifestTableSchema>;

/**
 * The sidecar of an encrypted archive: enough to list and verify the backup, and nothing of its content
 * (no database, table or file names, sizes or row counts).
 */
export const sealedSidecarSchema = z.object({
  formatVersion: formatVersionSchema,
  lifeboatVersion: z.string(),
  backupId: z.string().uuid(),
  target: z.string(),
  trigger: z.string(),
  startedAt: z.string().datetime(),
  archive: z.object({
    compression: z.enum(['zstd', 'gzip', 'none']),
    encryption: z.object({ format: z.literal('age'), recipients: z.array(z.string()) }),
    sizeBytes: z.number().int().nonnegative(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
  }),
});

export type SealedSidecar = z.infer<typeof sealedSidecarSchema>;

/** What goes beside the archive in storage: the manifest itself, or for an encrypted archive its sealed form. */
export function sidecarFor(
  manifest: Manifest,
  archive: { sizeBytes: number; sha256: string },
): Manifest | SealedSidecar {
  const encryption = manifest.archive.encryption;
  if (!encryption) return manifest;
  return {
    formatVersion: manifest.formatVersion,
    lifeboatVersion: manifest.lifeboatVersion,
    backupId: manifest.backupId,
    target: manifest.target,
    trigger: manifest.trigger,
    startedAt: manifest.startedAt,
    archive: { compression: manifest.archive.compression, encryption, ...archive },
  };
}
