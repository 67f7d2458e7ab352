// The worker's prebuilt workflow bundle: built once per version of the code into the work dir, by a child
// process, so that the worker itself never loads webpack (LIFEBOAT_WORKFLOW_BUNDLE overrides it).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..');
/** Everything the workflows' import graph can reach, and the lock file that pins the SDK that bundles them. */
const sourceDirs = [
  'workflows',
  'domain',
  'activities',
  'services',
  'catalog',
  'archive',
  'storage',
  'postgres',
];
const sourceFiles = ['package-lock.json'];
export const bundlePrefix = 'workflow-bundle-';

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => /\.(ts|js|json)$/.test(name))
    .map((name) => path.join(dir, name))
    .sort();
}

/** A digest of the code the bundle is made of: a changed workflow (or SDK) gets a bundle of its own. */
export function workflowCodeDigest(projectRoot = root): string {
  const hash = createHash('sha256').update(process.version);
  const files = [
    ...sourceDirs.flatMap((dir) => filesUnder(path.join(projectRoot, dir))),
    ...sourceFiles.map((file) => path.join(projectRoot, file)),
  ];
  for (const file of files) {
    hash.update(path.relative(projectRoot, file)).update('\0');
    if (existsSync(file)) hash.update(readFileSync(file));
    hash.update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

/** The bundle's file name in the work dir for the code as it is now. */
export function workflowBundleName(projectRoot = root): string {
  return `${bundlePrefix}${workflowCodeDigest(projectRoot)}.js`;
}

/**
 * The path of the bundle for the current code in `workDir`, built first if it is not there yet. The build
 * runs `node worker/bundle.ts` with the heap webpack needs (`env`: this process's environment with the
 * worker's heap limit taken off), writes beside the target and renames, so a crash leaves no half bundle.
 */
export async function ensureWorkflowBundle(
  workDir: string,
  env: NodeJS.ProcessEnv,
  name = workflowBundleName(),
): Promise<string> {
  const file = path.join(workDir, name);
  if (existsSync(file)) return file;
  await mkdir(workDir, { recursive: true, mode: 0o700 });
  const partial = `${file}.${process.pid}.partial`;
  try {
    await run(process.execPath, [path.join(root, 'worker', 'bundle.ts'), partial], { env, cwd: root });
    await rename(partial, file);
  } finally {
    await rm(partial, { force: true });
  }
  return file;
}
