// The README's TypeScript examples must compile against the public entry points ('tslsa',
// 'tslsa/redis'): a name the package does not export, or an option that does not exist, is a
// reader's first failure. Each ```ts block becomes a module; the free names an example leaves to
// the reader (your package, your transport) are declared for it. Errors point at README lines.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// Inside the project (its package.json says ESM, its node_modules resolve); .tmp/ is ignored by git.
mkdirSync(join(ROOT, '.tmp'), { recursive: true });
const dir = mkdtempSync(join(ROOT, '.tmp', 'readme-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** What an example may use without defining it: the reader's own objects, and imports it elides. */
const AMBIENT: Record<string, string> = {
  http: "import http from 'node:http';",
  net: "import net from 'node:net';",
  createAuthenticator: "import { createAuthenticator } from 'tslsa';",
  SECPKG_INTERFACE_VERSION: "import { SECPKG_INTERFACE_VERSION } from 'tslsa';",
  lsa: "declare const lsa: import('tslsa').LsaHost;",
  myPackage: "declare const myPackage: import('tslsa').SecurityPackageModule;",
  caPem: 'declare const caPem: string;',
  send: 'declare function send(token: Uint8Array): void;',
  exchange: 'declare function exchange(token: Uint8Array | null): Promise<Uint8Array>;',
  tokenBuf: "declare const tokenBuf: import('tslsa').SecBuffer;",
  dataBuf: "declare const dataBuf: import('tslsa').SecBuffer;",
  paddingBuf: "declare const paddingBuf: import('tslsa').SecBuffer;",
  message: 'declare const message: Uint8Array;',
  signature: 'declare const signature: Uint8Array;',
};

interface Snippet {
  /** README line of the block's first code line (1-based). */
  line: number;
  code: string;
}

function snippets(): Snippet[] {
  const lines = readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n');
  const out: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== '```ts') continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end] !== '```') end++;
    out.push({ line: start + 1, code: lines.slice(start, end).join('\n') });
    i = end;
  }
  return out;
}

function defines(code: string, name: string): boolean {
  return new RegExp(`import[^;]*\\b${name}\\b[^;]*from|\\b(?:const|let|var|function|class)\\s+${name}\\b|\\[[^\\]]*\\b${name}\\b[^\\]]*\\]\\s*=`).test(code);
}

describe('README examples', () => {
  it('compile against the public entry points', async () => {
    const all = snippets();
    assert.ok(all.length >= 7, `${all.length} TypeScript examples found`);
    const offsets = new Map<string, Snippet & { preamble: number }>();
    for (const s of all) {
      const pre = Object.entries(AMBIENT)
        .filter(([name]) => new RegExp(`\\b${name}\\b`).test(s.code) && !defines(s.code, name))
        .map(([, decl]) => decl);
      const text = [...pre, 'export {};', s.code, ''].join('\n');
      const file = `readme-${s.line}.ts`;
      writeFileSync(join(dir, file), text);
      offsets.set(file, { ...s, preamble: pre.length + 1 });
    }
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          strict: true,
          // Examples show the shape of a package table, not every parameter's type.
          noImplicitAny: false,
          noImplicitThis: false,
          noUnusedLocals: false,
          noEmit: true,
          skipLibCheck: true,
          types: ['node'],
          typeRoots: [join(ROOT, 'node_modules', '@types')],
          paths: { tslsa: [join(ROOT, 'src', 'index.ts')], 'tslsa/redis': [join(ROOT, 'src', 'store', 'redis.ts')] },
        },
        include: ['readme-*.ts'],
      }),
    );
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    const r = await promisify(execFile)(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json'), '--pretty', 'false'], { cwd: dir }).then(
      () => '',
      (e: { stdout?: string }) => e.stdout ?? String(e),
    );
    // file(line,col): error ... -> README.md:line
    const errors = r
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const m = /^(readme-\d+\.ts)\((\d+),(\d+)\): (.*)$/.exec(l);
        const s = m ? offsets.get(m[1]!) : undefined;
        return s && m ? `README.md:${s.line + Number(m[2]) - 1 - s.preamble}: ${m[4]}` : l;
      });
    assert.deepEqual(errors, []);
  });
});
