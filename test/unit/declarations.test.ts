// The published type declarations must compile in a user's project that has only our runtime
// dependencies: a declaration that names a dev dependency (a @types package) or the optional
// better-sqlite3 breaks every strict consumer's build (TS2307), even one that never opens a store.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const out = mkdtempSync(join(tmpdir(), 'tslsa-dts-'));
after(() => rmSync(out, { recursive: true, force: true }));

/** The package a bare specifier belongs to ('@scope/name/sub' -> '@scope/name'). */
const packageOf = (spec: string): string => spec.split('/').slice(0, spec.startsWith('@') ? 2 : 1).join('/');

describe('published declarations', () => {
  it('name only node: modules and runtime dependencies', async () => {
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    await promisify(execFile)(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json'), '--emitDeclarationOnly', '--outDir', out], { cwd: ROOT });
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const named = new Map<string, string>();
    const dts = readdirSync(out, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.d.ts')).map((f) => join(out, f));
    assert.ok(dts.length > 50, `${dts.length} declaration files`);
    for (const f of dts) {
      const text = readFileSync(f, 'utf8');
      for (const m of text.matchAll(/(?:from\s+|import\(\s*|require\(\s*|<reference\s+types=)["']([^"']+)["']/g)) {
        const spec = m[1]!;
        if (spec.startsWith('.') || spec.startsWith('node:')) continue;
        named.set(packageOf(spec), f.slice(out.length + 1));
      }
    }
    for (const [name, where] of named) assert.ok(name in pkg.dependencies, `${where} names '${name}', which is not a runtime dependency`);
  });
});
