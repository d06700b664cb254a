// MIT's gss-sample protocol (gss-server / gss-client from krb5-gss-samples), both halves.
//
// Frame: 1 flags byte, 4-byte big-endian length, token. A session: the client sends
// NOOP|CONTEXT_NEXT (0x11) with an empty token; client and server exchange CONTEXT (0x02) tokens
// until the handshake completes (the server only sends when accept_sec_context produced output,
// the client only reads while its side is continue-needed); the client sends
// DATA|WRAPPED|ENCRYPTED|SEND_MIC (0xE4) with gss_wrap(message); the
// server answers MIC (0x08) with gss_get_mic(plaintext); the client ends with NOOP (0x01).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, Socket, type Server } from 'node:net';
import { readFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import type { Realm } from './realm.js';
import { LOOPBACK } from './ports.js';
import { describeFailure, killPid, requireBinary, run, spawnTracked, type RunResult } from './proc.js';

export const TOKEN_NOOP = 0x01;
export const TOKEN_CONTEXT = 0x02;
export const TOKEN_DATA = 0x04;
export const TOKEN_MIC = 0x08;
export const TOKEN_CONTEXT_NEXT = 0x10;
export const TOKEN_WRAPPED = 0x20;
export const TOKEN_ENCRYPTED = 0x40;
export const TOKEN_SEND_MIC = 0x80;

/** The NTLM mechanism in the only form gss-client accepts (the dotted form falls back to krb5). */
export const GSS_CLIENT_NTLM_MECH = '{ 1 3 6 1 4 1 311 2 2 10 }';

export interface GssFrame {
  flags: number;
  token: Uint8Array;
}

export function encodeFrame(flags: number, token: Uint8Array): Buffer {
  if (flags === 0) throw new Error('gss-sample flags 0 is read as the old v1 framing; never send it');
  const out = Buffer.alloc(5 + token.length);
  out[0] = flags & 0xff;
  out.writeUInt32BE(token.length, 1);
  out.set(token, 5);
  return out;
}

/** Readable names for a flags byte, e.g. "NOOP|CONTEXT_NEXT". */
export function describeFlags(flags: number): string {
  const names: Array<[number, string]> = [
    [TOKEN_NOOP, 'NOOP'],
    [TOKEN_CONTEXT, 'CONTEXT'],
    [TOKEN_DATA, 'DATA'],
    [TOKEN_MIC, 'MIC'],
    [TOKEN_CONTEXT_NEXT, 'CONTEXT_NEXT'],
    [TOKEN_WRAPPED, 'WRAPPED'],
    [TOKEN_ENCRYPTED, 'ENCRYPTED'],
    [TOKEN_SEND_MIC, 'SEND_MIC'],
  ];
  return names.filter(([b]) => flags & b).map(([, n]) => n).join('|') || '0';
}

const MAX_TOKEN = 1 << 20;

/** One end of a gss-sample TCP connection: frame-level send and receive with timeouts. */
export class GssSampleConnection {
  private buf: Buffer = Buffer.alloc(0);
  private ended = false;
  private error: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      this.notify();
    });
    socket.on('end', () => {
      this.ended = true;
      this.notify();
    });
    socket.on('close', () => {
      this.ended = true;
      this.notify();
    });
    socket.on('error', (e) => {
      this.error = e;
      this.notify();
    });
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  sendToken(flags: number, token: Uint8Array = new Uint8Array(0)): void {
    this.socket.write(encodeFrame(flags, token));
  }

  /** The next frame, or null when the peer closed cleanly between frames. */
  async readTokenOrEnd(timeoutMs = 10_000): Promise<GssFrame | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.buf.length >= 5) {
        const len = this.buf.readUInt32BE(1);
        if (len > MAX_TOKEN) throw new Error(`gss-sample frame of ${len} bytes: not a gss-sample peer?`);
        if (this.buf.length >= 5 + len) {
          const flags = this.buf[0]!;
          const token = new Uint8Array(this.buf.subarray(5, 5 + len));
          this.buf = this.buf.subarray(5 + len);
          return { flags, token };
        }
      }
      if (this.error) throw this.error;
      if (this.ended) {
        if (this.buf.length === 0) return null;
        throw new Error(`gss-sample connection closed inside a frame (${this.buf.length} bytes pending)`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no gss-sample frame within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  async readToken(timeoutMs = 10_000): Promise<GssFrame> {
    const f = await this.readTokenOrEnd(timeoutMs);
    if (f === null) throw new Error('gss-sample peer closed the connection');
    return f;
  }

  /** Resolves once the peer has closed its side (or after timeoutMs, returning false). */
  async waitForEnd(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    return this.ended;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Client half: connect to a gss-sample server and drive it with your own initiator. */
export class GssSampleClient extends GssSampleConnection {
  static async connect(port: number, host = LOOPBACK, timeoutMs = 5000): Promise<GssSampleClient> {
    const s = new Socket();
    s.setNoDelay(true);
    const timer = setTimeout(() => s.destroy(new Error(`connect to ${host}:${port} timed out`)), timeoutMs);
    try {
      s.connect(port, host);
      await once(s, 'connect');
    } finally {
      clearTimeout(timer);
    }
    return new GssSampleClient(s);
  }
}

/**
 * Server half: a loopback listener that accepts connections (e.g. from MIT gss-client) and lets a
 * test drive the acceptor side of the framing. accept() returns the next connection.
 */
export class GssSampleServerSide {
  private pending: Socket[] = [];
  private waiter: ((s: Socket) => void) | undefined;
  private readonly conns: GssSampleConnection[] = [];

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {
    server.on('connection', (s: Socket) => {
      s.setNoDelay(true);
      const w = this.waiter;
      this.waiter = undefined;
      if (w) w(s);
      else this.pending.push(s);
    });
  }

  static async listen(): Promise<GssSampleServerSide> {
    const server = createServer();
    server.listen({ host: LOOPBACK, port: 0 });
    await once(server, 'listening');
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new Error('no address');
    return new GssSampleServerSide(server, addr.port);
  }

  async accept(timeoutMs = 10_000): Promise<GssSampleConnection> {
    const ready = this.pending.shift();
    const sock =
      ready ??
      (await new Promise<Socket>((resolve, reject) => {
        const t = setTimeout(() => {
          this.waiter = undefined;
          reject(new Error(`no gss-sample client connected within ${timeoutMs} ms`));
        }, timeoutMs);
        this.waiter = (s) => {
          clearTimeout(t);
          resolve(s);
        };
      }));
    const c = new GssSampleConnection(sock);
    this.conns.push(c);
    return c;
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.close();
    for (const s of this.pending) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * Forwards frames both ways between two connections until both sides close, recording each frame
 * (direction 'c2s' = from `client` to `server`). Lets a test sit between MIT gss-client and
 * gss-server and see every token; later, one side is replaced by our own package.
 */
export async function relayFrames(
  client: GssSampleConnection,
  server: GssSampleConnection,
  timeoutMs = 15_000,
): Promise<Array<GssFrame & { dir: 'c2s' | 's2c' }>> {
  const log: Array<GssFrame & { dir: 'c2s' | 's2c' }> = [];
  const pump = async (from: GssSampleConnection, to: GssSampleConnection, dir: 'c2s' | 's2c'): Promise<void> => {
    for (;;) {
      const f = await from.readTokenOrEnd(timeoutMs);
      if (f === null) {
        to.socket.end();
        return;
      }
      log.push({ ...f, dir });
      to.sendToken(f.flags, f.token);
    }
  };
  await Promise.all([pump(client, server, 'c2s'), pump(server, client, 's2c')]);
  return log;
}

// ---- MIT gss-server behind a loopback listener -------------------------------------------------

export interface GssServerOptions {
  /** Acceptor name in host-based form; default HTTP@localhost. */
  service?: string;
  /** Keytab for the acceptor (KRB5_KTNAME); default the realm's http.keytab. */
  keytab?: string;
  /** NTLM_USER_FILE for gss-ntlmssp (lets gss-server accept NTLM). */
  ntlmUserFile?: string;
  /** -verbose: the log gets every token and the negotiated mechanism OID. Default true. */
  verbose?: boolean;
  /** -export: export/import the context three times after the handshake. */
  export?: boolean;
  /** Extra environment for gss-server (e.g. KRB5_TRACE, GSS_MECH_CONFIG). */
  env?: Record<string, string | undefined>;
}

export interface GssServerSession {
  /** gss-server's exit status. Not a verdict: in -inetd mode it exits 0 even after a failure. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Everything gss-server wrote to its -logfile (flags, mechanism, received message, errors). */
  log: string;
  /** The session ran to the client's closing NOOP (handshake, unwrap and MIC all succeeded). */
  completed: boolean;
  /** The unwrapped message, when one was received as text. */
  message?: string;
  /** Negotiated mechanism in gss-server's brace form, e.g. "{ 1 2 840 113554 1 2 2 }" (needs verbose). */
  mech?: string;
  /** The GSS-API error lines gss-server logged, if any. */
  errors: string[];
}

/** Reads the verdict out of a gss-server -logfile. */
export function parseGssServerLog(log: string): Omit<GssServerSession, 'code' | 'signal' | 'log'> {
  const out: Omit<GssServerSession, 'code' | 'signal' | 'log'> = {
    completed: /NOOP token\s*$/.test(log) && log.includes('Received message'),
    errors: log.split('\n').filter((l) => /GSS-API error|failure|Unauthenticated/.test(l)),
  };
  const msg = /Received message: "([^"]*)"/.exec(log);
  if (msg) out.message = msg[1];
  const mech = /Accepted connection using mechanism OID (\{[^}]*\})/.exec(log);
  if (mech) out.mech = mech[1];
  return out;
}

export interface GssServerHandle {
  port: number;
  /** Waits for the next finished session (in order of connection). */
  nextSession(timeoutMs?: number): Promise<GssServerSession>;
  /** Stops the listener and kills (by PID) any gss-server still running. */
  stop(): Promise<void>;
}

/**
 * Runs MIT gss-server in inetd mode, one process per connection, behind a Node listener bound to
 * 127.0.0.1 (gss-server's own listener binds 0.0.0.0). In -inetd mode gss-server reads and writes
 * the socket on fd 0 and closes fds 1 and 2, so everything it says goes to a per-session -logfile.
 */
export async function runGssServer(realm: Realm, opts: GssServerOptions = {}): Promise<GssServerHandle> {
  requireBinary('gss-server');
  // One log dir per server: gss-server appends to its -logfile, so names must never repeat.
  const logDir = mkdtempSync(join(realm.dir, 'gss-server-'));
  const env = realm.childEnv({
    KRB5_KTNAME: `FILE:${opts.keytab ?? realm.httpKeytab}`,
    ...(opts.ntlmUserFile ? { NTLM_USER_FILE: opts.ntlmUserFile } : {}),
    ...(opts.env ?? {}),
  });
  const running = new Set<number>();
  const sessions: Array<Promise<GssServerSession>> = [];
  let seq = 0;
  let taken = 0;
  // pauseOnConnect: Node must not read a byte of the socket before gss-server owns it.
  const server = createServer({ pauseOnConnect: true }, (sock) => {
    const n = ++seq;
    const logfile = join(logDir, `session-${n}.log`);
    const args = ['-inetd', '-logfile', logfile];
    if (opts.verbose !== false) args.push('-verbose');
    if (opts.export) args.push('-export');
    args.push(opts.service ?? 'HTTP@localhost');
    const child = spawnTracked('gss-server', args, { env, stdio: [sock, 'ignore', 'ignore'] });
    // The child has its own copy of the descriptor; ours only has to go.
    sock.destroy();
    if (child.pid !== undefined) running.add(child.pid);
    sessions.push(
      new Promise((resolve) => {
        const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
          if (child.pid !== undefined) running.delete(child.pid);
          let log = '';
          try {
            log = readFileSync(logfile, 'utf8');
          } catch {
            log = '(no log written)';
          }
          resolve({ code, signal, log, ...parseGssServerLog(log) });
        };
        child.once('error', () => finish(-1, null));
        child.once('exit', finish);
      }),
    );
  });
  server.listen({ host: LOOPBACK, port: 0 });
  await once(server, 'listening');
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no address');
  return {
    port: addr.port,
    async nextSession(timeoutMs = 15_000): Promise<GssServerSession> {
      const deadline = Date.now() + timeoutMs;
      while (sessions.length <= taken) {
        if (Date.now() > deadline) throw new Error(`no gss-server session started within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const p = sessions[taken++]!;
      let t: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        t = setTimeout(() => reject(new Error(`gss-server session did not finish within ${timeoutMs} ms`)), Math.max(1, deadline - Date.now()));
      });
      try {
        return await Promise.race([p, timeout]);
      } finally {
        clearTimeout(t);
      }
    },
    async stop(): Promise<void> {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...running].map((pid) => killPid(pid, 500)));
    },
  };
}

// ---- MIT gss-client --------------------------------------------------------------------------

export interface GssClientOptions {
  port: number;
  /** Host to connect to; default 127.0.0.1. */
  host?: string;
  /** Target in host-based form; default HTTP@localhost. */
  service?: string;
  /** Message to wrap; default "hello from gss-client". */
  message?: string;
  spnego?: boolean;
  /** -seq: request sequence checking. */
  seq?: boolean;
  /** -d: request delegation. */
  deleg?: boolean;
  /** -nomutual: no mutual authentication (no AP-REP). */
  noMutual?: boolean;
  /**
   * -q: skip gss-client's context report. Needed for NTLM: the report calls
   * gss_inquire_names_for_mech, which gss-ntlmssp lacks, and gss-client gives up there.
   */
  quiet?: boolean;
  /** -noreplay */
  noReplay?: boolean;
  /** -mech in gss-client's brace form, e.g. GSS_CLIENT_NTLM_MECH. */
  mech?: string;
  /** -user/-pass: acquire initiator credentials with a password instead of the ccache. */
  user?: string;
  pass?: string;
  /** KRB5CCNAME for this run (FILE: prefix optional). */
  ccache?: string;
  /** -ccount / -mcount */
  ccount?: number;
  mcount?: number;
  extraArgs?: readonly string[];
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
}

export function gssClientArgs(opts: GssClientOptions): string[] {
  const args = ['-port', String(opts.port)];
  if (opts.mech) args.push('-mech', opts.mech);
  if (opts.spnego) args.push('-spnego');
  if (opts.deleg) args.push('-d');
  if (opts.seq) args.push('-seq');
  if (opts.noReplay) args.push('-noreplay');
  if (opts.quiet) args.push('-q');
  if (opts.noMutual) args.push('-nomutual');
  if (opts.user !== undefined) args.push('-user', opts.user);
  if (opts.pass !== undefined) args.push('-pass', opts.pass);
  if (opts.ccount !== undefined) args.push('-ccount', String(opts.ccount));
  if (opts.mcount !== undefined) args.push('-mcount', String(opts.mcount));
  args.push(...(opts.extraArgs ?? []));
  args.push(opts.host ?? LOOPBACK, opts.service ?? 'HTTP@localhost', opts.message ?? 'hello from gss-client');
  return args;
}

/**
 * Runs MIT gss-client once against a port. Exit code 0 and "Signature verified." in stdout mean
 * the handshake, the wrapped message and the server's MIC all went through.
 */
export function runGssClient(realm: Realm, opts: GssClientOptions): Promise<RunResult> {
  requireBinary('gss-client');
  const extra: Record<string, string | undefined> = { ...(opts.env ?? {}) };
  if (opts.ccache) extra.KRB5CCNAME = /^[A-Z]+:/.test(opts.ccache) ? opts.ccache : `FILE:${opts.ccache}`;
  return run('gss-client', gssClientArgs(opts), { env: realm.childEnv(extra), timeoutMs: opts.timeoutMs ?? 15_000 });
}

/**
 * Our initiator's end of a gss-server session, once the server's MIC is checked: the closing NOOP,
 * then gss-server's log must show `message` unwrapped and no errors.
 */
export async function endServerSession(c: GssSampleClient, server: GssServerHandle, message: string): Promise<GssServerSession> {
  c.sendToken(TOKEN_NOOP);
  await c.waitForEnd();
  c.close();
  const s = await server.nextSession();
  assert.ok(s.completed, s.log);
  assert.equal(s.message, message);
  assert.deepEqual(s.errors, []);
  return s;
}

/** gss-client's opening on an accepted connection: NOOP|CONTEXT_NEXT, then its first CONTEXT token (the AP-REQ). */
export async function readOpeningToken(conn: GssSampleConnection): Promise<Uint8Array> {
  const first = await conn.readToken();
  assert.equal(first.flags, TOKEN_NOOP | TOKEN_CONTEXT_NEXT);
  const ctx = await conn.readToken();
  assert.equal(ctx.flags, TOKEN_CONTEXT);
  return ctx.token;
}

/** Our acceptor's end of a gss-client run, after our MIC: gss-client's closing NOOP and a clean exit that verified our MIC. */
export async function endClientRun(conn: GssSampleConnection, run: Promise<RunResult>): Promise<RunResult> {
  const noop = await conn.readToken();
  assert.equal(noop.flags, TOKEN_NOOP);
  const res = await run;
  assert.equal(res.code, 0, describeFailure(res));
  assert.match(res.stdout, /Signature verified/);
  return res;
}
