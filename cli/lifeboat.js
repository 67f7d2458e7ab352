#!/usr/bin/env node
// The `lifeboat` command: runs cli/main.ts on Node 24 (type stripping), using the project's own Node 24
// from .tools/ when the Node on PATH is older.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const major = Number(process.versions.node.split('.')[0]);
if (major >= 24) {
  await import('./main.ts');
} else {
  const tools = path.join(here, '..', '.tools');
  const bundled = existsSync(tools)
    ? readdirSync(tools)
        .filter((name) => name.startsWith('node-v24'))
        .map((name) => path.join(tools, name, 'bin', 'node'))
        .find((file) => existsSync(file))
    : undefined;
  if (!bundled) {
    console.error(
      `lifeboat needs Node.js 24 or newer (this is ${process.version}); run scripts/setup.sh first.`,
    );
    process.exit(1);
  }
  const result = spawnSync(bundled, [path.join(here, 'main.ts'), ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  process.exit(result.status ?? 1);
}
