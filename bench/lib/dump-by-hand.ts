// The dump inside a Lifeboat archive, taken out by hand as the README says: tar, then cat for the parts.
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import path from 'node:path';
import type { Manifest } from '../../domain/manifest.ts';

/**
 * Extracts the database dump of `archive` (a zstd tar) into `dir` and returns its path and size: the one
 * `database/<db>.dump` entry of the old layout, or the parts of the streamed layout joined in order with
 * `cat` into `database/<db>.dump`. Throws when the result is not the size the manifest gives.
 */
export function extractDumpByHand(archive: string, manifest: Manifest, dir: string) {
  const parts = manifest.dumpParts;
  const whole = manifest.files.find((file) => file.path.startsWith('database/'));
  if (!parts && !whole) throw new Error(`${archive}: the manifest lists no dump`);
  const entries = parts ? parts.parts : [whole!.path];
  execFileSync('tar', ['--zstd', '-xf', archive, '-C', dir, ...entries]);
  const dumpFile = path.join(dir, parts ? parts.path : whole!.path);
  if (parts) {
    execFileSync(
      'sh',
      ['-c', 'out="$1"; shift; cat "$@" > "$out" && rm -- "$@"', 'sh', dumpFile, ...entries],
      {
        cwd: dir,
      },
    );
  }
  const dumpBytes = parts ? parts.sizeBytes : whole!.sizeBytes;
  if (statSync(dumpFile).size !== dumpBytes) throw new Error(`${dumpFile}: not the manifest's size`);
  return { dumpFile, dumpBytes };
}
