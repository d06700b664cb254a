// tslsa bundled: users ship servers as one esbuild file (Lambda, containers without node_modules).
// Every module the library loads, but for the native SQLite engine, must be visible to a bundler:
// a dependency reached through createRequire() or a file read at run time works in the repository
// and breaks only there.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { run } from '../interop/lib/proc.js';

const INDEX = fileURLToPath(new URL('../../src/index.ts', import.meta.url));

// An NTLM server on createAuthenticator and our fetch client signing on to it, in one process,
// over accounts in memory or (with a path) in the on-disk store. An async function, as a
// CommonJS bundle has no top-level await.
const app = (storePath?: string): string => `
import http from 'node:http';
import { builtinPackages, createAuthenticator, createFetch, createLsa, MemoryAccountStore, NTOWFv1, SqliteAccountStore } from ${JSON.stringify(INDEX)};
(async () => {
  const accounts = ${storePath ? `await SqliteAccountStore.open(${JSON.stringify(storePath)}, { create: true })` : 'new MemoryAccountStore()'};
  await accounts.add({ user: 'alice', domain: 'EXAMPLE', ntHash: NTOWFv1('Passw0rd') });
  const lsa = await createLsa({ domainName: 'EXAMPLE', packages: await builtinPackages({ accounts }) });
  const auth = createAuthenticator({ host: lsa, packages: ['Negotiate', 'NTLM'] });
  const server = http.createServer(async (req, res) => {
    const who = await auth.authenticate(req, res);
    if (who) res.end(JSON.stringify({ user: who.user, domain: who.domain, package: who.package }));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const fetch = createFetch({ credentials: { user: 'alice', domain: 'EXAMPLE', password: 'Passw0rd' }, packages: ['NTLM'] });
  const r = await fetch('http://127.0.0.1:' + server.address().port + '/');
  process.stdout.write(r.status + ' ' + (await r.text()));
  await fetch.close();
  server.closeAllConnections();
  server.close();
  await lsa.shutdown();
})().catch((e) => { console.error(e); process.exitCode = 1; });
`;

/** Bundles `source` as esbuild would for a deployment; returns the output file. */
async function bundle(dir: string, source: string, format: 'esm' | 'cjs'): Promise<string> {
  const entry = join(dir, `app-${format}.mjs`);
  writeFileSync(entry, source);
  const outfile = join(dir, 'out', format === 'esm' ? 'app.mjs' : 'app.cjs');
  await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format,
    outfile,
    // The native SQLite engine cannot be bundled; undici's CommonJS needs a require in an ES
    // module bundle, the usual banner.
    external: ['better-sqlite3'],
    ...(format === 'esm' ? { banner: { js: "import { createRequire as __tslsaRequire } from 'node:module'; const require = __tslsaRequire(import.meta.url);" } } : {}),
    logLevel: 'silent',
  });
  return outfile;
}

const SIGNED_ON = '200 {"user":"alice","domain":"EXAMPLE","package":"NTLM"}';

/** The environment of a bundle's run: only `nodePath` (if any) to find modules outside it. */
function bundleEnv(nodePath?: string): NodeJS.ProcessEnv {
  const { NODE_PATH: _, ...env } = process.env;
  return nodePath ? { ...env, NODE_PATH: nodePath } : env;
}

describe('tslsa in one bundled file', () => {
  // Outside the repository, so nothing can be found in a node_modules above the bundle.
  const dir = mkdtempSync(join(tmpdir(), 'tslsa-bundle-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('an ES module bundle of a server and client signs on with no node_modules beside it', async () => {
    const out = await bundle(dir, app(), 'esm');
    const r = await run(process.execPath, [out], { cwd: dirname(out), env: bundleEnv() });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, SIGNED_ON);
  });

  it('a CommonJS bundle (no import.meta) signs on over the on-disk account store', async () => {
    const out = await bundle(dir, app(join(dir, 'accounts.db')), 'cjs');
    // better-sqlite3 stays outside the bundle: on Node 20 it comes from a node_modules holding it
    // alone (its own dependencies resolve from where it really is), as a deployment ships it; from
    // Node 22.13 node:sqlite serves.
    const modules = join(dir, 'native_modules');
    mkdirSync(modules);
    symlinkSync(fileURLToPath(new URL('../../node_modules/better-sqlite3', import.meta.url)), join(modules, 'better-sqlite3'));
    const r = await run(process.execPath, [out], { cwd: dirname(out), env: bundleEnv(modules) });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, SIGNED_ON);
  });
});
