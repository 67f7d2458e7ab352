// Where a documents directory really is (links resolved), and whether the documents policy allows it there.
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { documentsDirProblem, type DocumentsPolicy } from '../domain/access-policy.ts';
import { LifeboatError } from '../domain/errors.ts';

/**
 * The absolute path `file` names with every symbolic link resolved; the part that does not exist yet is
 * appended as written (a restore may create the directory).
 */
export function realPathOf(file: string): string {
  const missing: string[] = [];
  for (let dir = path.resolve(file); ; dir = path.dirname(dir)) {
    try {
      return path.join(realpathSync(dir), ...missing);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || dir === path.dirname(dir)) throw error;
      missing.unshift(path.basename(dir));
    }
  }
}

/** `documentsDir` resolved to its real path, or VALIDATION_FAILED when the policy does not allow it. */
export function allowedDocumentsDir(documentsDir: string, policy: DocumentsPolicy): string {
  let real: string;
  try {
    real = realPathOf(documentsDir);
  } catch (error) {
    throw new LifeboatError('VALIDATION_FAILED', `documentsDir: ${(error as Error).message}.`, {
      field: 'documentsDir',
    });
  }
  const problem = documentsDirProblem(real, policy);
  if (problem) {
    throw new LifeboatError('VALIDATION_FAILED', `documentsDir: ${problem}.`, { field: 'documentsDir' });
  }
  return real;
}
