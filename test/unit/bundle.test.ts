// tslsa bundled: users ship servers as one esbuild file (Lambda, containers without node_modules).
// Every module the library loads must be visible to a bundler: a dependency reached through
// createRequire() or a file read at run time works in the repository and breaks only there.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { run } from '../interop/lib/proc.js';

const INDEX = fileURLToPath(new URL('../../src/index.ts', import.meta.url));

// An NTLM server on createAuthenticator and our fetch client signing on to it, in one process.
const APP = `
import http from 'node:http';
import { builtinPackages, createAuthenticator, createFetch, createLsa, MemoryAccountStore, NTOWFv1 } from ${JSON.stringify(INDEX)};
const accounts = new MemoryAccountStore();
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
`;

describe('tslsa in one bundled file', () => {
  // Outside the repository, so nothing can be found in a node_modules above the bundle.
  const dir = mkdtempSync(join(tmpdir(), 'tslsa-bundle-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('an esbuild bundle of a server and client signs on with no node_modules beside it', async () => {
    const entry = join(dir, 'app.mjs');
    writeFileSync(entry, APP);
    const outfile = join(dir, 'out', 'app.mjs');
    await build({
      entryPoints: [entry],
      bundle: true,
      platform: 'node',
      format: 'esm',
      outfile,
      // The native SQLite engine cannot be bundled (nor is it used here); undici's CommonJS needs
      // a require in an ES module bundle, the usual banner.
      external: ['better-sqlite3'],
      banner: { js: "import { createRequire as __tslsaRequire } from 'node:module'; const require = __tslsaRequire(import.meta.url);" },
      logLevel: 'silent',
    });
    const r = await run(process.execPath, [outfile], { cwd: join(dir, 'out') });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '200 {"user":"alice","domain":"EXAMPLE","package":"NTLM"}');
  });
});
