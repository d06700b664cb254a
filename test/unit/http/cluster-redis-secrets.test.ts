// Keeping the Redis password off the command line of `tslsa serve` (which `ps` shows to every
// user): the URL from TSLSA_REDIS_URL, the password from --redis-password-file. Against a
// redis-server with requirepass and an ACL user, two spawned nodes:
//   TSLSA_REDIS_URL with the password: NTLM legs across the nodes; no password in /proc/PID/cmdline
//   --redis-password-file (requirepass, and an ACL user with USER@ in the URL, CRLF file): the same
//   a wrong password in the file: the node starts, says WRONGPASS, answers 503
//   an unreadable or empty file: exit 1 naming the file; option mistakes: exit 2
// and neither a node's stdout nor its stderr ever holds a password.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { serveCommand } from '../../../src/cli/serve.js';
import { Credentials } from '../../../src/credentials.js';
import { SecurityContext } from '../../../src/context.js';
import { createLsa, type LsaHost } from '../../../src/lsa/host.js';
import { ntlmPackage } from '../../../src/packages/ntlm/package.js';
import { cleanEnv } from '../../interop/lib/realm.js';
import { startRedis, type RedisServer } from '../../interop/lib/redis.js';
import { describeFailure, isAlive, sleep } from '../../interop/lib/proc.js';
import { startServe, tslsa, type ServeProcess } from './serveProcess.js';

const T = { timeout: 120_000 };
const PASSWORD = 'Passw0rd';
const COOKIE = 'tslsa-handshake';
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

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request on a new connection, with the handshake cookie when given. */
function request(base: string, authorization?: string, cookie?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (authorization !== undefined) headers.Authorization = authorization;
    if (cookie !== undefined) headers.Cookie = `${COOKIE}=${cookie}`;
    const req = http.request(`${base}/whoami`, { agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`no answer from ${base} in 30 s`)));
    req.on('error', reject);
    req.end();
  });
}

const header = (t: Uint8Array): string => `NTLM ${Buffer.from(t).toString('base64')}`;

function cookieOf(r: Reply): string | undefined {
  for (const c of r.headers['set-cookie'] ?? []) {
    const m = new RegExp(`^${COOKIE}=([A-Za-z0-9_-]{22});`).exec(c);
    if (m) return m[1];
  }
  return undefined;
}

async function ntlmContext(): Promise<SecurityContext> {
  const cred = await Credentials.acquire(client.sspi(), { package: 'NTLM', use: 'outbound', authData: { User: 'alice', Domain: 'EXAMPLE', Password: PASSWORD } });
  return SecurityContext.client(cred, { target: 'HTTP/localhost' });
}

/** NEGOTIATE to `first`, AUTHENTICATE to `second`, each on a new connection: the last reply. */
async function ntlmAcross(first: ServeProcess, second: ServeProcess): Promise<Reply> {
  const ctx = await ntlmContext();
  try {
    const r1 = await request(first.url, header((await ctx.step())!));
    assert.equal(r1.status, 401, `${r1.status} ${r1.body}\n${first.stderr()}`);
    const cookie = cookieOf(r1);
    assert.ok(cookie, 'the continuing 401 sets the handshake cookie');
    const m = /^NTLM (\S+)$/.exec(String(r1.headers['www-authenticate']));
    assert.ok(m, String(r1.headers['www-authenticate']));
    return await request(second.url, header((await ctx.step(new Uint8Array(Buffer.from(m[1]!, 'base64'))))!), cookie);
  } finally {
    await ctx.delete();
  }
}

async function firstLegStatus(node: ServeProcess): Promise<number> {
  const ctx = await ntlmContext();
  try {
    return (await request(node.url, header((await ctx.step())!))).status;
  } finally {
    await ctx.delete();
  }
}

async function eventually(f: () => boolean | Promise<boolean>, ms = 15_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await f()) return true;
    await sleep(50);
  }
  return false;
}

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
  const add = await tslsa(['user', 'add', 'EXAMPLE\\alice', '--password-stdin', '--store', store], { input: `${PASSWORD}\n`, env: nodeEnv() });
  assert.equal(add.code, 0, describeFailure(add));
  client = await createLsa({ domainName: 'EXAMPLE', packages: [ntlmPackage()] });
});

after(async () => {
  const codes: Array<number | null> = [];
  for (const s of started) codes.push(await s.stop());
  await client?.shutdown();
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(codes, codes.map(() => 0), 'every node exits 0 on SIGTERM');
});

describe('tslsa serve: the Redis password off the command line', () => {
  it('TSLSA_REDIS_URL (with the password) and no --redis: cluster mode, NTLM legs across two nodes, no password in ps', T, async () => {
    const env = nodeEnv({ TSLSA_REDIS_URL: `redis://:${encodeURIComponent(SECRET)}@${hostPort()}` });
    const [a, b] = await Promise.all([serve([], env), serve([], env)]);
    for (const n of [a, b]) {
      assert.match(n.stderr(), new RegExp(`cluster mode, Redis redis://${hostPort().replace(/\./g, '\\.')}\\)`));
      assert.ok(await eventually(() => /is up/.test(n.stderr())), n.stderr());
    }
    for (const [x, y] of [[a, b], [b, a]] as const) {
      const r = await ntlmAcross(x, y);
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
      const r = await ntlmAcross(x, y);
      assert.equal(r.status, 200, `${r.body}\n${x.stderr()}\n${y.stderr()}`);
    }
    for (const n of [a, b]) assertQuiet(n);
  });

  it('a wrong password in the file: the node starts, says WRONGPASS on stderr, answers 503, and leaks nothing', T, async () => {
    const n = await serve(['--redis', redis.url, '--redis-password-file', passwordFile('wrong.txt', `${WRONG}\n`)]);
    // Said at start, or a little later on a loaded box (the node waits 1.5 s for Redis, then serves).
    assert.ok(await eventually(() => /Redis redis:\/\/127\.0\.0\.1:\d+ is unreachable \(WRONGPASS/.test(n.stderr())), n.stderr());
    assert.equal(await firstLegStatus(n), 503);
    await sleep(300);
    assert.equal(await firstLegStatus(n), 503, 'still refused while it retries');
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
  function sink(): PassThrough & { text(): string } {
    const s = new PassThrough() as PassThrough & { text(): string };
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.text = () => Buffer.concat(chunks).toString('utf8');
    return s;
  }

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
    { name: 'a bad TSLSA_REDIS_URL', args: () => [], env: () => ({ TSLSA_REDIS_URL: `http://:${ACL_SECRET}@127.0.0.1:6379` }), code: 2, says: /^tslsa: TSLSA_REDIS_URL: the Redis URL must be redis:\/\/ or rediss:\/\// },
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
