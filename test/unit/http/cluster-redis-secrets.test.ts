// Keeping the Redis password off the command line of `tslsa serve` (which `ps` shows to every
// user): the URL from TSLSA_REDIS_URL, the password from --redis-password-file. Against a
// redis-server with requirepass and an ACL user, two spawned nodes:
//   TSLSA_REDIS_URL with the password: NTLM legs across the nodes; no password in /proc/PID/cmdline
//   --redis-password-file (requirepass, and an ACL user with USER@ in the URL, CRLF file): the same
//   a wrong password in the file: the node starts, says WRONGPASS, answers 503
//   an unreadable or empty file: exit 1 naming the file; option mistakes: exit 2
// and neither a node's stdout nor its stderr ever holds a password.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { serveCommand } from '../../../src/cli/serve.js';
import { createLsa, type LsaHost } from '../../../src/lsa/host.js';
import { ntlmPackage } from '../../../src/packages/ntlm/package.js';
import { cleanEnv } from '../../interop/lib/realm.js';
import { startRedis, type RedisServer } from '../../interop/lib/redis.js';
import { isAlive, sleep } from '../../interop/lib/proc.js';
import { eventually } from '../../interop/lib/poll.js';
import { addUser, firstLeg, ntlmAcross, PASSWORD, tearDown } from '../../interop/lib/cluster-http.js';
import { sink } from './helpers.js';
import { startServe, type ServeProcess } from './serveProcess.js';

const T = { timeout: 120_000 };
// Distinct enough that finding one anywhere is a leak, not a coincidence; '@', ':', '%' and '/'
// must survive the trip from the file into the URL.
const SECRET = 'Rq-pw@file:7%2F/5521';
const ACL_SECRET = 'Acl-pw-8812-s3cret';
const WRONG = 'Wrong-pw-4470-s3cret';
const SECRETS = [SECRET, ACL_SECRET, WRONG, encodeURIComponent(SECRET)];

let dir = '';
let store = '';
let redis: RedisServer; // requirepass SECRET, ACL user tslsa/ACL_SECRET
let client: LsaHost;
const started: ServeProcess[] = [];

/** The environment of a node: the test runner's, without a TSLSA_REDIS_URL of the developer's shell. */
function nodeEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = cleanEnv();
  delete env.TSLSA_REDIS_URL;
  return { ...env, ...extra };
}

async function serve(args: string[], env: NodeJS.ProcessEnv = nodeEnv()): Promise<ServeProcess> {
  const s = await startServe(['--store', store, '--domain', 'EXAMPLE', ...args], env);
  started.push(s);
  return s;
}

/** What `ps` shows of a process: its command line. */
const cmdline = (pid: number): string => readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');

function assertNoSecret(what: string, text: string): void {
  for (const s of SECRETS) assert.ok(!text.includes(s), `${what} holds a password:\n${text}`);
}

function assertQuiet(n: ServeProcess): void {
  assertNoSecret('stdout', n.stdout());
  assertNoSecret('stderr', n.stderr());
  assertNoSecret('the command line', cmdline(n.pid));
}

function passwordFile(name: string, content: string): string {
  const f = join(dir, name);
  writeFileSync(f, content, { mode: 0o600 });
  return f;
}

const hostPort = (): string => new URL(redis.url).host;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tslsa-cluster-secrets-'));
  store = join(dir, 'accounts.db');
  redis = await startRedis({ password: SECRET, users: [{ user: 'tslsa', password: ACL_SECRET }] });
  await addUser(store, 'EXAMPLE\\alice', PASSWORD, nodeEnv());
  client = await createLsa({ domainName: 'EXAMPLE', packages: [ntlmPackage()] });
});

after(() => tearDown({ nodes: started, client, redis, dir }));

describe('tslsa serve: the Redis password off the command line', () => {
  it('TSLSA_REDIS_URL (with the password) and no --redis: cluster mode, NTLM legs across two nodes, no password in ps', T, async () => {
    const env = nodeEnv({ TSLSA_REDIS_URL: `redis://:${encodeURIComponent(SECRET)}@${hostPort()}` });
    const [a, b] = await Promise.all([serve([], env), serve([], env)]);
    for (const n of [a, b]) {
      assert.match(n.stderr(), new RegExp(`cluster mode, Redis redis://${hostPort().replace(/\./g, '\\.')}\\)`));
      assert.ok(await eventually(() => /is up/.test(n.stderr())), n.stderr());
    }
    for (const [x, y] of [[a, b], [b, a]] as const) {
      const { reply: r } = await ntlmAcross(client, x, y);
      assert.equal(r.status, 200, `${r.body}\n${x.stderr()}\n${y.stderr()}`);
      assert.equal((JSON.parse(r.body) as { user: string }).user, 'alice');
    }
    for (const n of [a, b]) assertQuiet(n);
  });

  it('--redis-password-file: requirepass (URL without credentials) on node A, an ACL user (redis://tslsa@..., CRLF file) on node B', T, async () => {
    const plain = passwordFile('requirepass.txt', `${SECRET}\n`);
    // Only the first line counts; a CRLF ending is stripped too.
    const acl = passwordFile('acl.txt', `${ACL_SECRET}\r\nsecond line, ignored\n`);
    const [a, b] = await Promise.all([
      serve(['--redis', redis.url, '--redis-password-file', plain]),
      // The URL from the environment, the password from the file.
      serve(['--redis-password-file', acl], nodeEnv({ TSLSA_REDIS_URL: `redis://tslsa@${hostPort()}` })),
    ]);
    for (const n of [a, b]) assert.ok(await eventually(() => /is up/.test(n.stderr())), n.stderr());
    for (const [x, y] of [[a, b], [b, a]] as const) {
      const { reply: r } = await ntlmAcross(client, x, y);
      assert.equal(r.status, 200, `${r.body}\n${x.stderr()}\n${y.stderr()}`);
    }
    for (const n of [a, b]) assertQuiet(n);
  });

  it('a wrong password in the file: the node starts, says WRONGPASS on stderr, answers 503, and leaks nothing', T, async () => {
    const n = await serve(['--redis', redis.url, '--redis-password-file', passwordFile('wrong.txt', `${WRONG}\n`)]);
    // Said at start, or a little later on a loaded box (the node waits 1.5 s for Redis, then serves).
    assert.ok(await eventually(() => /Redis redis:\/\/127\.0\.0\.1:\d+ is unreachable \(WRONGPASS/.test(n.stderr())), n.stderr());
    assert.equal((await firstLeg(client, n)).status, 503);
    await sleep(300);
    assert.equal((await firstLeg(client, n)).status, 503, 'still refused while it retries');
    assert.ok(isAlive(n.pid));
    assert.ok(await eventually(() => /GET "\/whoami" 503 /.test(n.stdout())), n.stdout());
    assertQuiet(n);
  });

  it('--redis on the command line wins over TSLSA_REDIS_URL', T, async () => {
    const pw = passwordFile('requirepass2.txt', SECRET);
    const n = await serve(['--redis', redis.url, '--redis-password-file', pw], nodeEnv({ TSLSA_REDIS_URL: 'redis://127.0.0.1:1' }));
    assert.match(n.stderr(), new RegExp(`cluster mode, Redis redis://${hostPort().replace(/\./g, '\\.')}\\)`));
    assert.ok(await eventually(() => /is up/.test(n.stderr())), n.stderr());
  });
});

describe('tslsa serve: TSLSA_REDIS_URL and --redis-password-file mistakes', () => {
  /** serveCommand in this process (it returns before listening on every one of these). */
  async function serveExit(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
    const out = sink();
    const err = sink();
    const code = await serveCommand(['--port', '0', '--store', store, ...args], { stdout: out, stderr: err, env, stopSignal: new Promise(() => {}) });
    return { code, out: out.text(), err: err.text() };
  }

  const cases: Array<{ name: string; args: () => string[]; env?: () => NodeJS.ProcessEnv; code: number; says: RegExp }> = [
    { name: 'a missing file', args: () => ['--redis', redis.url, '--redis-password-file', join(dir, 'missing.txt')], code: 1, says: /--redis-password-file: cannot read .*missing\.txt \(ENOENT\)/ },
    { name: 'a directory', args: () => ['--redis', redis.url, '--redis-password-file', join(dir, 'a-dir')], code: 1, says: /--redis-password-file: cannot read .*a-dir \(EISDIR\)/ },
    { name: 'an empty first line', args: () => ['--redis', redis.url, '--redis-password-file', passwordFile('empty.txt', `\n${SECRET}\n`)], code: 1, says: /the first line of .*empty\.txt is empty/ },
    { name: 'a password in the URL and a file', args: () => ['--redis', `redis://:${encodeURIComponent(SECRET)}@${hostPort()}`, '--redis-password-file', passwordFile('both.txt', `${ACL_SECRET}\n`)], code: 2, says: /--redis already holds a password/ },
    { name: 'the same, the URL from the environment', args: () => ['--redis-password-file', passwordFile('both2.txt', `${ACL_SECRET}\n`)], env: () => ({ TSLSA_REDIS_URL: `redis://:${encodeURIComponent(SECRET)}@${hostPort()}` }), code: 2, says: /TSLSA_REDIS_URL already holds a password/ },
    { name: 'a file and no URL', args: () => ['--redis-password-file', passwordFile('alone.txt', `${SECRET}\n`)], code: 2, says: /--redis-password-file needs --redis \(or TSLSA_REDIS_URL\)/ },
    { name: 'a bad TSLSA_REDIS_URL', args: () => [], env: () => ({ TSLSA_REDIS_URL: `http://:${ACL_SECRET}@127.0.0.1:6379` }), code: 2, says: /^tslsa: TSLSA_REDIS_URL: the Redis URL must be redis:\/\/, rediss:\/\/ or unix:\/\// },
    { name: 'a bad TSLSA_REDIS_URL password encoding', args: () => [], env: () => ({ TSLSA_REDIS_URL: `redis://:${ACL_SECRET}%zz@127.0.0.1:6379` }), code: 2, says: /TSLSA_REDIS_URL: .*percent-encoded/ },
    { name: '--redis-ca with neither', args: () => ['--redis-ca', join(dir, 'ca.pem')], code: 2, says: /need --redis \(or TSLSA_REDIS_URL\)/ },
  ];
  for (const c of cases) {
    it(`${c.name}: exit ${c.code}, says so, never the password`, async () => {
      mkdirSync(join(dir, 'a-dir'), { recursive: true });
      const r = await serveExit(c.args(), c.env?.() ?? {});
      assert.equal(r.code, c.code, r.err);
      assert.match(r.err, c.says);
      assertNoSecret('stderr', r.err);
      assertNoSecret('stdout', r.out);
    });
  }

  it('an empty TSLSA_REDIS_URL is unset: a single node', async () => {
    let stop!: () => void;
    const stopSignal = new Promise<void>((r) => (stop = r));
    const err = sink();
    const done = serveCommand(['--port', '0', '--store', store], { stdout: sink(), stderr: err, env: { TSLSA_REDIS_URL: '' }, stopSignal, onListening: () => stop() });
    assert.equal(await done, 0, err.text());
    assert.match(err.text(), /serving http:/);
    assert.doesNotMatch(err.text(), /cluster mode/);
  });

  it('--help names TSLSA_REDIS_URL and --redis-password-file', async () => {
    const out = sink();
    assert.equal(await serveCommand(['--help'], { stdout: out, stderr: sink(), env: {} }), 0);
    assert.match(out.text(), /\$TSLSA_REDIS_URL/);
    assert.match(out.text(), /--redis-password-file FILE/);
  });
});
