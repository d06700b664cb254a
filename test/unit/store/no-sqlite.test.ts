// The on-disk account store runs on node:sqlite (Node >= 22.13) or better-sqlite3, an optional
// dependency (the project's one native module). On a Node 20 where better-sqlite3 did not install,
// everything but the on-disk store must still work, and the store must say why it cannot open,
// without leaving a file behind. The child processes here run with a preload that hides both, as
// on such a machine (whatever Node runs the suite).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AccountStoreError } from '../../../src/store/accounts.js';
import { requireSqlite } from '../../../src/store/sqliteDriver.js';
import { run } from '../../interop/lib/proc.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PRELOAD = fileURLToPath(new URL('../../fixtures/preload/no-sqlite.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'tslsa-nosqlite-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** node (tsx) with better-sqlite3 hidden, running `script` (ESM, from the project root). */
async function node(script: string, args: string[] = [], stdin = ''): Promise<{ code: number | null; out: string; err: string }> {
  const r = await run(process.execPath, ['--import', 'tsx', '--import', PRELOAD, '--input-type=module', '-e', script, '--', ...args], {
    cwd: ROOT,
    env: { ...process.env, HOME: dir, XDG_DATA_HOME: join(dir, 'xdg'), TSLSA_STORE: '' },
    input: stdin,
    timeoutMs: 60_000,
  });
  return { code: r.code, out: r.stdout, err: r.stderr };
}
const cli = (args: string[], stdin = '') =>
  node("const m = await import('./src/cli/main.ts'); process.exitCode = await m.main(process.argv.slice(1));", args, stdin);

describe('without better-sqlite3', () => {
  it('names the missing module, or the first line of its load failure, as NO_SQLITE (STATUS_DLL_NOT_FOUND)', () => {
    const missing = () => {
      throw Object.assign(new Error("Cannot find module 'better-sqlite3'"), { code: 'MODULE_NOT_FOUND' });
    };
    assert.throws(
      () => requireSqlite(missing),
      (e: unknown) => e instanceof AccountStoreError && e.reason === 'NO_SQLITE' && e.status === 0xc0000135 && e.message.startsWith('STATUS_DLL_NOT_FOUND (0xC0000135): ') && /better-sqlite3 module, which is not installed/.test(e.detail),
    );
    // better-sqlite3 loads its native part at the first `new Database`: a binary built for another
    // Node fails there, and requireSqlite makes that happen at once.
    const wrongBuild = () =>
      class {
        constructor() {
          throw Object.assign(new Error('The module was compiled against a different Node.js version\nusing NODE_MODULE_VERSION 127.'), { code: 'ERR_DLOPEN_FAILED' });
        }
      };
    assert.throws(
      () => requireSqlite(wrongBuild),
      (e: unknown) => e instanceof AccountStoreError && /did not load \(The module was compiled against a different Node\.js version\):/.test(e.detail) && !e.detail.includes('NODE_MODULE_VERSION'),
    );
  });

  it('tslsa user add fails with that message and creates no store file', async () => {
    const store = join(dir, 'accounts.db');
    const r = await cli(['user', 'add', 'alice', '--password-stdin', '--store', store], 'Passw0rd\n');
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /^tslsa: the on-disk account store needs Node's node:sqlite \(Node 22\.13 or later\) or the better-sqlite3 module, which is not installed/);
    assert.ok(!r.err.includes('Passw0rd'));
    assert.equal(existsSync(store), false, 'no empty file is left where the store would be');
  });

  it('tslsa serve with NTLM stops at start with the message and the Kerberos-only way out', async () => {
    const r = await cli(['serve', '--port', '0', '--store', join(dir, 'serve.db')]);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /better-sqlite3 module, which is not installed/);
    assert.match(r.err, /--keytab KT --kerberos-only serves Kerberos without it/);
    assert.equal(existsSync(join(dir, 'serve.db')), false);
  });

  it('the library loads and an NTLM sign-on through the LSA works over a MemoryAccountStore; the default store, absent, is an empty one', async () => {
    const r = await node(`
      const lib = await import('./src/index.ts');
      const signOn = async (packages, password) => {
        const host = await lib.createLsa({ domainName: 'EXAMPLE', packages });
        const sspi = host.sspi();
        const cc = await lib.Credentials.acquire(sspi, { package: 'NTLM', use: 'outbound', authData: { User: 'alice', Domain: 'EXAMPLE', Password: password } });
        const sc = await lib.Credentials.acquire(sspi, { package: 'NTLM', use: 'inbound' });
        const c = lib.SecurityContext.client(cc, { target: 'HTTP/web.example.test' });
        const s = lib.SecurityContext.server(sc, {});
        try {
          await s.step(await c.step(await s.step(await c.step())));
          return (await s.query(lib.SECPKG_ATTR.NAMES)).sUserName;
        } catch (e) {
          return e.name + ' ' + e.status.toString(16);
        } finally {
          await host.shutdown();
        }
      };
      const accounts = new lib.MemoryAccountStore();
      await accounts.add({ user: 'alice', domain: 'EXAMPLE', ntHash: lib.NTOWFv1('Passw0rd') });
      const own = await signOn(await lib.builtinPackages({ accounts }), 'Passw0rd');
      // The default authority (no accounts given) with no store file: a logon is refused, not a crash.
      const dflt = await signOn(await lib.builtinPackages(), 'Passw0rd');
      console.log(JSON.stringify({ own, dflt }));
    `);
    assert.equal(r.code, 0, r.err);
    const got = JSON.parse(r.out.trim().split('\n').at(-1)!) as { own: string; dflt: string };
    assert.equal(got.own, 'EXAMPLE\\alice');
    assert.equal(got.dflt, 'SspiError 8009030c', 'SEC_E_LOGON_DENIED: no such account in the empty default store');
  });

  it('tslsa packages lists every package', async () => {
    const r = await cli(['packages', '--json']);
    assert.equal(r.code, 0, r.err);
    const names = (JSON.parse(r.out) as Array<{ name: string }>).map((p) => p.name);
    for (const n of ['Negotiate', 'Kerberos', 'NTLM']) assert.ok(names.includes(n), n);
  });
});
