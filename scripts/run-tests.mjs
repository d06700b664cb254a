#!/usr/bin/env node
// Node 20's --test does not expand globs: collect *.test.ts files under the given roots
// (default: test/) and run them through node:test with the tsx loader.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const roots = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const passthrough = process.argv.slice(2).filter((a) => a.startsWith('--'));
const files = [];
function walk(p) {
  const st = statSync(p);
  if (st.isDirectory()) {
    for (const e of readdirSync(p).sort()) walk(join(p, e));
  } else if (p.endsWith('.test.ts')) {
    files.push(p);
  }
}
for (const r of roots.length ? roots : ['test']) walk(r);
if (files.length === 0) {
  console.error('run-tests: no test files found under', roots.length ? roots.join(' ') : 'test');
  process.exit(1);
}
const concurrency = process.env.TEST_CONCURRENCY ?? '2';
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...passthrough, ...files],
  { stdio: 'inherit' },
);
process.exit(r.status ?? 1);
