// What the tests of `tslsa serve` behind real proxies and balancers (nginx, Apache httpd, HAProxy)
// share: an account store with alice and bob, nodes on it, curl signing on through the proxy as
// either user or as nobody, and the end of the file (every daemon stopped, every node exiting 0).
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServe, type ServeProcess } from '../../unit/http/serveProcess.js';
import { addUser, curlWhoami, tearDown, type CurlWhoami } from './cluster-http.js';
import { requireBinary } from './proc.js';
import { cleanEnv, type Realm } from './realm.js';
import type { RedisServer } from './redis.js';

export const USERS = { alice: 'Passw0rd-a', bob: 'Passw0rd-b' } as const;
export type User = keyof typeof USERS;

export interface ProxyFixture {
  /** The file's folder (curl's cookie jars and bodies go there too). */
  readonly dir: string;
  /** `tslsa serve` on the store with `args`, stopped at close(). */
  node(args: string[], env?: NodeJS.ProcessEnv): Promise<ServeProcess>;
  /** Something else to stop at close() (a proxy, a test server). */
  own<T extends { stop(): Promise<void> }>(daemon: T): T;
  /** curl BASE/whoami with --ntlm as `user` (none: no credentials), a fresh cookie jar. */
  curl(base: string, user?: User): Promise<CurlWhoami>;
  /** Rounds of alice and bob signing on at the same time, each followed by a client without credentials (401). */
  concurrentRounds(base: string, rounds: number): Promise<void>;
  /** Set when the file starts one: stopped at close(). */
  redis?: RedisServer;
  realm?: Realm;
  close(): Promise<void>;
}

/** The fixture of one test file; `binaries` are the peers it needs besides curl. */
export async function proxyFixture(name: string, binaries: readonly string[]): Promise<ProxyFixture> {
  requireBinary('curl');
  for (const b of binaries) requireBinary(b);
  const dir = mkdtempSync(join(tmpdir(), `tslsa-${name}-test-`));
  const store = join(dir, 'accounts.db');
  for (const [u, p] of Object.entries(USERS)) await addUser(store, `EXAMPLE\\${u}`, p, cleanEnv());
  const nodes: ServeProcess[] = [];
  const owned: Array<{ stop(): Promise<void> }> = [];
  const f: ProxyFixture = {
    dir,
    async node(args, env = cleanEnv()) {
      const n = await startServe(['--store', store, '--domain', 'EXAMPLE', ...args], env);
      nodes.push(n);
      return n;
    },
    own(daemon) {
      owned.push(daemon);
      return daemon;
    },
    curl: (base, user) => curlWhoami(base, dir, user ? { name: user, password: USERS[user] } : undefined),
    async concurrentRounds(base, rounds) {
      for (let round = 0; round < rounds; round++) {
        const [a, b] = await Promise.all([f.curl(base, 'alice'), f.curl(base, 'bob')]);
        assert.equal(a.user, 'alice', a.trace);
        assert.equal(b.user, 'bob', b.trace);
        const anonymous = await f.curl(base);
        assert.equal(anonymous.status, 401, `round ${round}: ${anonymous.trace}`);
      }
    },
    async close() {
      // Last started, first stopped: a proxy goes before what it connects to.
      for (const d of owned.reverse()) await d.stop();
      await tearDown({ nodes, redis: f.redis, realm: f.realm, dir });
    },
  };
  return f;
}
