// KDC transport (RFC 4120 7.2): the KDC locator and one request/reply exchange over UDP or TCP.
//
// As MIT's sendto_kdc: requests no bigger than udp_preference_limit try UDP first, bigger ones TCP
// first; a UDP KRB_ERR_RESPONSE_TOO_BIG moves that KDC to TCP at once (7.2.1); every KDC is tried
// with the preferred transport, then with the other. TCP frames carry a 4-byte big-endian length
// (7.2.2). Each try waits at most `perTryTimeoutMs`, and the whole exchange never outlives
// `timeoutMs`: an unreachable realm costs at most that, then SEC_E_NO_AUTHENTICATING_AUTHORITY.

import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { promises as dns, type SrvRecord } from 'node:dns';
import { connect, isIP, type Socket as TcpSocket } from 'node:net';
import { SspiError } from '../../../sspi/error.js';
import { SecurityStatus } from '../../../sspi/status.js';
import { KrbErrorCode } from '../asn1/constants.js';
import { decodeKrbError } from '../asn1/messages.js';
import type { Krb5Config } from '../krb5conf.js';

export interface KdcEndpoint {
  host: string;
  port: number;
  /** A fixed transport ("udp/"/"tcp/" prefix or an SRV record), or 'any'. */
  transport: 'any' | 'udp' | 'tcp';
}

export interface KdcLocateOptions {
  config?: Krb5Config;
  /** Use these KDCs instead of the configuration. */
  kdcs?: readonly KdcEndpoint[];
  /** SRV lookup; default node:dns resolveSrv. */
  resolveSrv?: (name: string) => Promise<SrvRecord[]>;
}

export interface SendToKdcOptions extends KdcLocateOptions {
  /** Deadline for the whole exchange in ms; default 10 000. */
  timeoutMs?: number;
  /** How long one try (one KDC, one transport) may wait, in ms; default 3 000. */
  perTryTimeoutMs?: number;
  /** Default: the configuration's udp_preference_limit (1465). */
  udpPreferenceLimit?: number;
}

/** Replies bigger than this are refused rather than buffered (MIT's limit is similar). */
export const MAX_TCP_REPLY = 1 << 20;

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_PER_TRY_MS = 3_000;

const noAuthority = (detail: string): SspiError => new SspiError(SecurityStatus.SEC_E_NO_AUTHENTICATING_AUTHORITY, detail);

/**
 * The KDCs of `realm`: [realms] REALM kdc entries; when there are none and dns_lookup_kdc is true,
 * the SRV records _kerberos._udp.REALM and _kerberos._tcp.REALM (RFC 4120 7.2.3.2).
 */
export async function locateKdcs(realm: string, opts: KdcLocateOptions = {}): Promise<KdcEndpoint[]> {
  if (opts.kdcs && opts.kdcs.length > 0) return [...opts.kdcs];
  const config = opts.config;
  const out: KdcEndpoint[] = [];
  if (config) {
    for (const a of config.realm(realm).kdcAddresses) {
      if (a.transport === 'https') continue; // MS-KKDCP proxies are not supported here
      out.push({ host: a.host, port: a.port, transport: a.transport });
    }
  }
  if (out.length === 0 && (config?.dnsLookupKdc ?? true)) {
    const resolve = opts.resolveSrv ?? ((n: string) => dns.resolveSrv(n));
    for (const proto of ['udp', 'tcp'] as const) {
      let recs: SrvRecord[] = [];
      try {
        recs = await resolve(`_kerberos._${proto}.${realm}`);
      } catch {
        continue; // NXDOMAIN and friends: no records of this kind
      }
      // RFC 2782: lower priority first, then heavier weight; "." means "no service here".
      recs.sort((a, b) => a.priority - b.priority || b.weight - a.weight);
      for (const r of recs) {
        if (r.name === '' || r.name === '.') continue;
        out.push({ host: r.name.replace(/\.$/, ''), port: r.port, transport: proto });
      }
    }
  }
  if (out.length === 0) throw noAuthority(`no KDC is known for realm ${realm}`);
  return out;
}

/** A plausible KDC reply: AS-REP [APPLICATION 11], TGS-REP [13] or KRB-ERROR [30], constructed. */
function isKdcReply(b: Uint8Array): boolean {
  return b.length >= 2 && (b[0] === 0x6b || b[0] === 0x6d || b[0] === 0x7e);
}

function isResponseTooBig(b: Uint8Array): boolean {
  if (b[0] !== 0x7e) return false;
  try {
    return decodeKrbError(b).errorCode === KrbErrorCode.KRB_ERR_RESPONSE_TOO_BIG;
  } catch {
    return false;
  }
}

interface Attempt {
  kdc: KdcEndpoint;
  proto: 'udp' | 'tcp';
}

/**
 * Sends `request` (a DER AS-REQ or TGS-REQ) to a KDC of `realm` and returns the first plausible
 * reply (AS-REP, TGS-REP or KRB-ERROR, still encoded). Throws SEC_E_NO_AUTHENTICATING_AUTHORITY
 * when no KDC answered before the deadline.
 */
export async function sendToKdc(realm: string, request: Uint8Array, opts: SendToKdcOptions = {}): Promise<Uint8Array> {
  const deadline = Date.now() + (opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const perTry = opts.perTryTimeoutMs ?? DEFAULT_PER_TRY_MS;
  const kdcs = await locateKdcs(realm, opts);
  const limit = opts.udpPreferenceLimit ?? opts.config?.udpPreferenceLimit ?? 1465;
  // MIT caps the limit at 32700 and treats 1 as "always TCP".
  const preferTcp = request.length > Math.min(limit, 32700);
  const first: 'udp' | 'tcp' = preferTcp ? 'tcp' : 'udp';
  const second: 'udp' | 'tcp' = preferTcp ? 'udp' : 'tcp';
  const attempts: Attempt[] = [];
  for (const proto of [first, second]) {
    for (const kdc of kdcs) if (kdc.transport === 'any' || kdc.transport === proto) attempts.push({ kdc, proto });
  }
  const failures: string[] = [];
  const tcpDone = new Set<KdcEndpoint>();
  for (let i = 0; i < attempts.length; i++) {
    const { kdc, proto } = attempts[i]!;
    if (proto === 'tcp' && tcpDone.has(kdc)) continue;
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    const wait = Math.min(perTry, remaining);
    const where = `${kdc.host.includes(':') ? `[${kdc.host}]` : kdc.host}:${kdc.port}/${proto}`;
    try {
      let reply = proto === 'udp' ? await udpExchange(kdc, request, wait) : await tcpExchange(kdc, request, wait);
      if (proto === 'tcp') tcpDone.add(kdc);
      if (proto === 'udp' && isResponseTooBig(reply)) {
        // RFC 4120 7.2.1: retry this KDC over TCP straight away.
        const left = deadline - Date.now();
        if (left <= 0) {
          failures.push(`${where}: reply too big for UDP`);
          break;
        }
        tcpDone.add(kdc);
        reply = await tcpExchange(kdc, request, Math.min(perTry, left));
      }
      if (!isKdcReply(reply)) throw new Error('reply is not a Kerberos message');
      return reply;
    } catch (e) {
      if (proto === 'tcp') tcpDone.add(kdc);
      failures.push(`${where}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  const total = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  throw noAuthority(
    `no KDC of realm ${realm} answered${Date.now() >= deadline ? ` within ${total} ms` : ''} (${failures.join('; ') || 'no attempt possible'})`,
  );
}

async function socketFamily(host: string): Promise<4 | 6> {
  const v = isIP(host);
  if (v === 4 || v === 6) return v;
  const r = await dns.lookup(host);
  return r.family === 6 ? 6 : 4;
}

class TimeoutError extends Error {
  code = 'ETIMEDOUT';
  constructor(ms: number) {
    super(`no reply within ${ms} ms`);
  }
}

/** One UDP datagram out, one back (RFC 4120 7.2.1). A connected socket, so ICMP errors fail fast. */
async function udpExchange(kdc: KdcEndpoint, request: Uint8Array, ms: number): Promise<Uint8Array> {
  const family = await withTimeout(socketFamily(kdc.host), ms);
  return new Promise<Uint8Array>((resolve, reject) => {
    const sock: UdpSocket = createSocket(family === 6 ? 'udp6' : 'udp4');
    let done = false;
    const finish = (err: Error | null, reply?: Uint8Array): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.removeAllListeners('message');
      sock.on('error', () => undefined); // late ICMP errors after close
      try {
        sock.close();
      } catch {
        /* already closed */
      }
      if (err) reject(err);
      else resolve(reply!);
    };
    const timer = setTimeout(() => finish(new TimeoutError(ms)), ms);
    sock.on('error', (e) => finish(e));
    sock.on('message', (msg) => finish(null, new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength)));
    sock.connect(kdc.port, kdc.host, () => {
      sock.send(request, (e) => {
        if (e) finish(e);
      });
    });
  });
}

/** One length-prefixed request and reply over a fresh TCP connection (RFC 4120 7.2.2). */
function tcpExchange(kdc: KdcEndpoint, request: Uint8Array, ms: number): Promise<Uint8Array> {
  return new Promise<Uint8Array>((resolve, reject) => {
    const sock: TcpSocket = connect({ host: kdc.host, port: kdc.port });
    let done = false;
    const chunks: Buffer[] = [];
    let have = 0;
    let need = -1;
    const finish = (err: Error | null, reply?: Uint8Array): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(reply!);
    };
    const timer = setTimeout(() => finish(new TimeoutError(ms)), ms);
    sock.setNoDelay(true);
    sock.on('error', (e) => finish(e));
    sock.on('connect', () => {
      const len = Buffer.alloc(4);
      len.writeUInt32BE(request.length);
      sock.write(Buffer.concat([len, request]));
    });
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      have += d.length;
      if (need < 0 && have >= 4) {
        const all = Buffer.concat(chunks);
        need = all.readUInt32BE(0);
        // The high bit is reserved for extensions (RFC 5021); we request none.
        if (need === 0 || need > MAX_TCP_REPLY) return finish(new Error(`TCP reply length ${need} refused`));
      }
      if (need >= 0 && have >= 4 + need) {
        const all = Buffer.concat(chunks);
        finish(null, new Uint8Array(all.subarray(4, 4 + need)));
      }
    });
    sock.on('end', () => finish(new Error('connection closed before a full reply')));
    sock.on('close', () => finish(new Error('connection closed before a full reply')));
  });
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new TimeoutError(ms)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
