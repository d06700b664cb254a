// The HTTP load generator, the same for every server: our own initiator (SSPI through an LSA in
// this process) over node:http, a new TCP connection per handshake.
//   Negotiate/Kerberos  a fresh AP-REQ per request (replay caches never refuse), one request on a
//                       socket of its own (agent: false, Connection: close); the AP-REP in the 200's
//                       WWW-Authenticate is checked by our initiator (mutual authentication), as
//                       curl and browsers do.
//   NTLM                NEGOTIATE -> 401 CHALLENGE -> AUTHENTICATE -> 200 on one keep-alive socket
//                       (an agent of its own with one socket), then the socket is closed.
// Only 200s whose identity the caller's check accepts count; anything else is an error, by kind.
import http from 'node:http';
import type { Socket } from 'node:net';
import type { Credentials } from '../../src/credentials.js';
import { SecurityContext } from '../../src/context.js';

const FLAGS = ['MUTUAL_AUTH', 'REPLAY_DETECT', 'SEQUENCE_DETECT', 'CONFIDENTIALITY', 'INTEGRITY'];
// Kerberos tokens with a PAC and their base64 outgrow Node's default 16 KiB of headers on no side
// here, but keep the client as tolerant as tslsa serve is.
const MAX_HEADER = 64 * 1024;

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Every WWW-Authenticate field, separately. */
  authenticate: string[];
  body: string;
  socket: Socket;
}

/** Returns null when the response proves the right identity, else why not (counted as an error kind). */
export type IdentityCheck = (r: HttpResponse) => string | null;

export interface Scenario {
  scheme: 'Negotiate' | 'NTLM';
  /** Outbound credentials (Negotiate over Kerberos, or NTLM with a password). */
  credentials: Credentials;
  /** SPN / host-based name of the service. */
  target: string;
  /** Base URLs (http://127.0.0.1:PORT): requests go round-robin over them. */
  urls: string[];
  path: string;
  check: IdentityCheck;
}

export interface LoadOptions {
  /** Seconds counted, after `warm` seconds that are not. */
  dur: number;
  warm: number;
  /** Handshakes in flight at once. */
  conc: number;
  /** Sampled around the counted window (the server's CPU seconds, say). */
  serverCpu?: () => number;
}

export interface LoadResult {
  ok: number;
  errors: number;
  errorKinds: Record<string, number>;
  wall_s: number;
  /** This process's CPU (user+sys) over the counted window / wall. */
  gen_cpu_util: number;
  server_cpu_s?: number;
  /** Mean and 99th percentile of one handshake's wall time (ms), counted window only. */
  mean_ms: number;
  p99_ms: number;
  /** Per URL: successful handshakes (to prove round-robin reached every node). */
  perUrl: number[];
}

function request(url: string, path: string, headers: Record<string, string>, agent: http.Agent | false): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = http.request(
      { host: u.hostname, port: u.port, path, method: 'GET', agent, maxHeaderSize: MAX_HEADER, headers: { Host: `localhost:${u.port}`, ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('error', reject);
        res.once('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            authenticate: res.headersDistinct['www-authenticate'] ?? [],
            body: Buffer.concat(chunks).toString('utf8'),
            socket: res.socket,
          }),
        );
      },
    );
    req.once('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

/** The token of the first `SCHEME token` challenge, null when the scheme came without one. */
function challengeToken(r: HttpResponse, scheme: string): Uint8Array | null {
  for (const h of r.authenticate) {
    const m = /^(\S+)(?:\s+(\S+))?\s*$/.exec(h);
    if (m && m[1]!.toLowerCase() === scheme.toLowerCase() && m[2]) return Buffer.from(m[2], 'base64');
  }
  return null;
}

class Failure extends Error {
  constructor(readonly kind: string) {
    super(kind);
  }
}

async function negotiateOnce(s: Scenario, url: string): Promise<void> {
  const ctx = SecurityContext.client(s.credentials, { target: s.target, flags: FLAGS });
  try {
    const t = await ctx.step();
    if (!t) throw new Failure('no initial token');
    const r = await request(url, s.path, { Authorization: `Negotiate ${Buffer.from(t).toString('base64')}` }, false);
    if (r.status !== 200) throw new Failure(`HTTP ${r.status}`);
    const back = challengeToken(r, 'Negotiate');
    if (!back) throw new Failure('200 without the mutual-authentication token');
    try {
      if (!ctx.complete) await ctx.step(back);
    } catch {
      throw new Failure('mutual-authentication token refused');
    }
    if (!ctx.complete) throw new Failure('context not complete after the 200');
    const why = s.check(r);
    if (why) throw new Failure(why);
  } finally {
    await ctx.delete().catch(() => undefined);
  }
}

async function ntlmOnce(s: Scenario, url: string): Promise<void> {
  const ctx = SecurityContext.client(s.credentials, { target: s.target, flags: FLAGS });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const t1 = await ctx.step();
    if (!t1) throw new Failure('no NEGOTIATE');
    const r1 = await request(url, s.path, { Authorization: `NTLM ${Buffer.from(t1).toString('base64')}` }, agent);
    if (r1.status !== 401) throw new Failure(`leg 1: HTTP ${r1.status}`);
    const challenge = challengeToken(r1, 'NTLM');
    if (!challenge) throw new Failure('401 without an NTLM CHALLENGE');
    const t3 = await ctx.step(challenge);
    if (!t3) throw new Failure('no AUTHENTICATE');
    const r2 = await request(url, s.path, { Authorization: `NTLM ${Buffer.from(t3).toString('base64')}` }, agent);
    if (r2.socket !== r1.socket) throw new Failure('AUTHENTICATE went out on another connection');
    if (r2.status !== 200) throw new Failure(`leg 2: HTTP ${r2.status}`);
    const why = s.check(r2);
    if (why) throw new Failure(why);
  } finally {
    agent.destroy();
    await ctx.delete().catch(() => undefined);
  }
}

/** One handshake, outside any timing: throws with the reason when it does not succeed. */
export async function handshakeOnce(s: Scenario, url = s.urls[0]!): Promise<void> {
  await (s.scheme === 'NTLM' ? ntlmOnce(s, url) : negotiateOnce(s, url));
}

export async function runLoad(s: Scenario, opts: LoadOptions): Promise<LoadResult> {
  const once = s.scheme === 'NTLM' ? ntlmOnce : negotiateOnce;
  const t0 = performance.now();
  const countFrom = t0 + opts.warm * 1000;
  const countTo = countFrom + opts.dur * 1000;
  let ok = 0;
  let errors = 0;
  const errorKinds: Record<string, number> = {};
  const perUrl = s.urls.map(() => 0);
  const lat: number[] = [];
  let rr = 0;
  let cpu0: NodeJS.CpuUsage | null = null;
  let srv0 = 0;
  let started = false;
  const startWindow = () => {
    if (started) return;
    started = true;
    cpu0 = process.cpuUsage();
    srv0 = opts.serverCpu?.() ?? 0;
  };
  // The window starts on a timer, so the CPU samples sit at its edges even when a handshake hangs.
  const timer = setTimeout(startWindow, Math.max(0, countFrom - performance.now()));
  let cpu: NodeJS.CpuUsage | null = null;
  let srvEnd = 0;
  const endTimer = setTimeout(() => {
    startWindow();
    cpu = process.cpuUsage(cpu0!);
    srvEnd = opts.serverCpu?.() ?? 0;
  }, Math.max(0, countTo - performance.now()));
  const loop = async () => {
    while (performance.now() < countTo) {
      const i = rr++ % s.urls.length;
      const a = performance.now();
      let kind: string | null = null;
      try {
        await once(s, s.urls[i]!);
      } catch (e) {
        kind = e instanceof Failure ? e.kind : `${(e as Error)?.name ?? 'Error'}: ${(e as Error)?.message ?? String(e)}`.slice(0, 160);
      }
      const b = performance.now();
      if (b < countFrom || b > countTo) continue;
      if (kind === null) {
        ok++;
        perUrl[i]!++;
        lat.push(b - a);
      } else {
        errors++;
        errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: opts.conc }, loop));
  } finally {
    clearTimeout(timer);
    clearTimeout(endTimer);
  }
  if (!cpu) {
    // The end timer could not fire before the loops ended only if the window was empty.
    startWindow();
    cpu = process.cpuUsage(cpu0!);
    srvEnd = opts.serverCpu?.() ?? 0;
  }
  const c = cpu as NodeJS.CpuUsage;
  lat.sort((x, y) => x - y);
  const wall = opts.dur;
  return {
    ok,
    errors,
    errorKinds,
    wall_s: wall,
    gen_cpu_util: (c.user + c.system) / 1e6 / wall,
    ...(opts.serverCpu ? { server_cpu_s: srvEnd - srv0 } : {}),
    mean_ms: lat.length ? lat.reduce((x, y) => x + y, 0) / lat.length : 0,
    p99_ms: lat.length ? lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.99))]! : 0,
    perUrl,
  };
}

// ---- identity checks: only a 200 that names the right user counts ---------------------------

export function tslsaCheck(user: string, domain: string, pkg: string) {
  return (r: HttpResponse): string | null => {
    let j: Record<string, unknown>;
    try {
      j = JSON.parse(r.body) as Record<string, unknown>;
    } catch {
      return '200 without the /whoami JSON';
    }
    return j.user === user && j.domain === domain && j.package === pkg ? null : `wrong identity ${String(j.domain)}\\${String(j.user)} (${String(j.package)})`;
  };
}

export function apacheCheck(names: readonly string[]) {
  return (r: HttpResponse): string | null => {
    const who = r.headers['x-remote-user'];
    return typeof who === 'string' && names.includes(who) ? null : `wrong identity ${JSON.stringify(who ?? null)}`;
  };
}

/** A check that can cross to a worker thread (functions cannot). */
export type CheckSpec = { kind: 'tslsa'; user: string; domain: string; package: string } | { kind: 'apache'; names: string[] };

export function checkFor(spec: CheckSpec): IdentityCheck {
  return spec.kind === 'tslsa' ? tslsaCheck(spec.user, spec.domain, spec.package) : apacheCheck(spec.names);
}
