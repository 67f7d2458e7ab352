// The lean worker's pieces that need no stack: its prebuilt bundle's name and build, its Workers' bounds,
// and the memory settings that the start script and the Dockerfile both give it.
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { memoryReport } from '../../worker/memory-report.ts';
import { parseEnvFile, readMemorySettings } from '../../worker/memory-settings.ts';
import { ownQueueTuning, sharedQueueTuning } from '../../worker/tuning.ts';
import {
  ensureWorkflowBundle,
  workflowBundleName,
  workflowCodeDigest,
} from '../../worker/workflow-bundle.ts';

const root = path.resolve(import.meta.dirname, '../..');
const scratch = mkdtempSync(path.join(tmpdir(), 'lifeboat-worker-memory-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A project tree of its own: a workflow file, a domain file and a test file, and the lock file. */
function fakeProject(): string {
  const project = mkdtempSync(path.join(scratch, 'project-'));
  for (const dir of ['workflows', 'domain', 'test']) mkdirSync(path.join(project, dir));
  writeFileSync(path.join(project, 'workflows', 'index.ts'), 'export const a = 1;\n');
  writeFileSync(path.join(project, 'domain', 'naming.ts'), 'export const b = 2;\n');
  writeFileSync(path.join(project, 'test', 'a.test.ts'), '// a test\n');
  writeFileSync(path.join(project, 'package-lock.json'), '{}\n');
  return project;
}

describe('the workflow bundle', () => {
  it('gets a new name when the workflows, what they import or the locked SDK change, and not for a test', () => {
    const project = fakeProject();
    const first = workflowCodeDigest(project);
    writeFileSync(path.join(project, 'test', 'a.test.ts'), '// another test\n');
    expect(workflowCodeDigest(project)).toBe(first);
    writeFileSync(path.join(project, 'workflows', 'index.ts'), 'export const a = 2;\n');
    const second = workflowCodeDigest(project);
    expect(second).not.toBe(first);
    writeFileSync(path.join(project, 'domain', 'naming.ts'), 'export const b = 3;\n');
    const third = workflowCodeDigest(project);
    expect(third).not.toBe(second);
    writeFileSync(path.join(project, 'package-lock.json'), '{"lockfileVersion":3}\n');
    expect(workflowCodeDigest(project)).not.toBe(third);
    expect(workflowBundleName(project)).toMatch(/^workflow-bundle-[0-9a-f]{16}\.js$/);
  });

  it('is used as it is when the work dir already holds it', async () => {
    const workDir = path.join(scratch, 'kept');
    mkdirSync(workDir);
    writeFileSync(path.join(workDir, 'workflow-bundle-0123456789abcdef.js'), '// built before\n');
    const file = await ensureWorkflowBundle(workDir, {}, 'workflow-bundle-0123456789abcdef.js');
    expect(readFileSync(file, 'utf8')).toBe('// built before\n');
  });

  it('is built into the work dir by a child process when it is missing, leaving no partial file', async () => {
    const workDir = path.join(scratch, 'fresh', 'work');
    const name = workflowBundleName();
    const file = await ensureWorkflowBundle(workDir, { PATH: path.dirname(process.execPath) });
    expect(file).toBe(path.join(workDir, name));
    expect(readFileSync(file, 'utf8')).toContain('backupWorkflow');
    expect(readdirSync(workDir)).toEqual([name]);
  }, 180_000);
});

describe('the Workers', () => {
  it('run one workflow thread and bound the scratch-file steps', () => {
    expect(sharedQueueTuning.workflowThreadPoolSize).toBe(1);
    expect(ownQueueTuning(4).maxConcurrentActivityTaskExecutions).toBe(4);
    expect(ownQueueTuning(1).maxConcurrentActivityTaskPolls).toBe(1);
  });
});

describe('the memory settings', () => {
  it('read name=value lines, quoted or not, and skip comments', () => {
    expect(parseEnvFile('# a comment\nA_B=2\n\nC="--x --y"\n')).toEqual({ A_B: '2', C: '--x --y' });
  });

  it('are the same in worker/memory.env and in the Dockerfile', () => {
    const settings = readMemorySettings();
    expect(settings.MALLOC_ARENA_MAX).toBe('2');
    expect(settings.NODE_OPTIONS).toMatch(/--max-old-space-size=\d+/);
    const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
    for (const [name, value] of Object.entries(settings)) {
      const quoted = value.includes(' ') ? `"${value}"` : value;
      expect(dockerfile).toContain(`${name}=${quoted}`);
    }
  });

  it('split the RSS into the V8 heap, external memory and the native rest', () => {
    const report = memoryReport();
    expect(report.rssBytes).toBeGreaterThan(report.heapTotalBytes);
    expect(report.nativeBytes).toBe(report.rssBytes - report.heapTotalBytes - report.externalBytes);
    expect(report.rssAnonBytes).toBeGreaterThan(0);
    expect(report.rssFileBytes).toBeGreaterThan(0);
  });
});
