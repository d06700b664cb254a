// What `npm pack` would publish: every entry point package.json names (exports, types, bin), the
// licence and the README, and nothing of the sources, tests or benchmarks. Needs the build in
// dist/, which `npm ci` makes through `prepare`.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('npm package', () => {
  it('holds every entry point, the licence and the README, and no sources or tests', async () => {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const { stdout } = await promisify(execFile)(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, maxBuffer: 16 << 20 });
    const files = new Set((JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path));
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      main: string;
      types: string;
      bin: Record<string, string>;
      exports: Record<string, string | { types?: string; default?: string }>;
    };
    const named = [pkg.main, pkg.types, ...Object.values(pkg.bin)];
    for (const e of Object.values(pkg.exports)) named.push(...(typeof e === 'string' ? [e] : [e.types, e.default].filter((x): x is string => !!x)));
    for (const p of named) assert.ok(files.has(p.replace(/^\.\//, '')), `${p} is named by package.json but not packed`);
    for (const p of ['LICENSE', 'README.md', 'dist/cli/main.js']) assert.ok(files.has(p), p);
    const stray = [...files].filter((p) => /^(src|test|bench|scripts|\.ci|\.bench-build)\//.test(p) || p.endsWith('.ts') && !p.endsWith('.d.ts'));
    assert.deepEqual(stray, []);
  });
});
