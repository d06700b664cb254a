// What the tests of `tslsa serve` behind real proxies and balancers (nginx, Apache httpd, HAProxy)
// share: an account store with alice and bob, nodes on it, curl signing on through the proxy as
// either user or as nobody, and the end of the file (every daemon stopped, every node exiting 0).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServe, type ServeProcess } from '../../unit/http/serveProcess.js';
import { addUser, tearDown } from './cluster-http.js';
import { describeFailure, requireBinary, run } from './proc.js';
import { cleanEnv, type Realm } from './realm.js';
import type { RedisServer } from './redis.js';

export const USERS = { alice: 'Passw0rd-a', bob: 'Passw0rd-b' } as const;
export type User = keyof typeof USERS;

/** What curl saw: the status, the user /whoami named (on 200), and curl's -v trace. */
export interface CurlWhoami {
  status: number;
  user: string | null;
  trace: string;
}

export interface ProxyFixture {
  /** The file's folder (curl's cookie jars and bodies go there too). */
  readonly dir: string;
  /** `tslsa serve` on the store with `args`, stopped at close(). */
  node(args: string[], env?: NodeJS.ProcessEnv): Promise<ServeProcess>;
  /** Something else to stop at close() (a proxy, a test server). */
  own<T extends { stop(): Promise<void> }>(daemon: T): T;
  /**
   * curl BASE/whoami with its own NTLM (`--ntlm`) as EXAMPLE\`user` (none: no credentials) and its
   * cookie engine on (a fresh jar), as a client behind a proxy or balancer runs it.
   */
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
  let curlRuns = 0;
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
    async curl(base, user) {
      const body = join(dir, `curl-body-${++curlRuns}`);
      const jar = join(dir, `curl-jar-${curlRuns}`);
      const auth = user ? ['--ntlm', '-u', `EXAMPLE\\${user}:${USERS[user]}`] : [];
      const r = await run('curl', ['-s', '-S', '-v', '-o', body, '-w', '%{http_code}', '-b', jar, '-c', jar, ...auth, `${base}/whoami`], { env: cleanEnv(), timeoutMs: 30_000 });
      assert.equal(r.code, 0, describeFailure(r));
      const status = Number(r.stdout.slice(-3));
      const text = existsSync(body) ? readFileSync(body, 'utf8') : '';
      return { status, user: status === 200 ? (JSON.parse(text) as { user: string }).user : null, trace: r.stderr };
    },
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
