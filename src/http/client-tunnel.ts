// An https origin through an HTTP forward proxy: a CONNECT tunnel, signed on to the proxy first
// (each leg of a 407 handshake is a CONNECT of its own on the same connection, as NTLM needs),
// then TLS to the origin inside it. The origin's own sign-on runs over that TLS connection, bound
// to the origin's certificate, like any other pinned connection (./client.ts).

import type { Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import type { SecurityContext } from '../context.js';
import { SspiError } from '../sspi/error.js';
import { SecurityStatus } from '../sspi/status.js';
import { parseChallenges } from './client-challenge.js';

/** What the tunnel needs from the client: its offers for a 407 and a context for the proxy. */
export interface TunnelAuth<O extends { scheme: string }> {
  /** The offers we can answer for these Proxy-Authenticate values, in our order of preference. */
  offers(proxyAuthenticate: string | string[] | undefined): O[];
  /** A fresh client context for the proxy (its SPN) with the package of `offer`, and its first token. */
  start(offer: O): Promise<{ ctx: SecurityContext; token: Uint8Array | null }>;
  /** Told when the proxy opened the tunnel to a sign-on, with its context (before it is deleted). */
  signedOn?(ctx: SecurityContext, offer: O, legs: number): Promise<void>;
  /** Offers that worked last time: the next tunnel sends its first token at once. */
  known: O[] | null;
  maxLegs: number;
  /** A 200 without the final token that completes the context is an error (the client's proxyMutualAuth). */
  mutualRequired?: boolean;
}

interface RawResponse {
  status: number;
  statusText: string;
  headers: Record<string, string | string[]>;
  /** The connection will not carry another request. */
  closing: boolean;
}

/** A response to a CONNECT is this large at most (a 407 carries a token of a few KB). */
const MAX_RESPONSE = 64 * 1024;

/**
 * One response on `socket`: its head and a Content-Length body (skipped). For a 200, whatever came
 * after the head is the tunnel's first bytes and goes back onto the socket.
 */
function readResponse(socket: Socket, deadlineMs: number): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    let head: (RawResponse & { bodyLeft: number }) | null = null;
    const timer = setTimeout(() => done(new Error(`the proxy did not answer CONNECT within ${deadlineMs} ms`)), deadlineMs);
    const done = (err: Error | null, r?: RawResponse, rest?: Buffer): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onError);
      if (err) reject(err);
      else {
        if (rest?.length) socket.unshift(rest);
        resolve(r!);
      }
    };
    const onEnd = (): void => done(new Error('the proxy closed the connection during CONNECT'));
    const onError = (e: Error): void => done(e);
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      if (!head) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) {
          if (buf.length > MAX_RESPONSE) done(new Error('the proxy\'s answer to CONNECT is too large'));
          return;
        }
        const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
        const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0]!);
        if (!m) return done(new Error('the proxy\'s answer to CONNECT is not HTTP/1.x'));
        const headers: Record<string, string | string[]> = {};
        for (const line of lines.slice(1)) {
          const i = line.indexOf(':');
          if (i <= 0) continue;
          const k = line.slice(0, i).trim().toLowerCase();
          const v = line.slice(i + 1).trim();
          const prev = headers[k];
          headers[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
        }
        const status = Number(m[1]);
        const length = status === 200 ? 0 : Number(headers['content-length'] ?? 0);
        const connection = String(headers['connection'] ?? headers['proxy-connection'] ?? '');
        if (!Number.isSafeInteger(length) || length < 0 || length > MAX_RESPONSE) return done(new Error('the proxy\'s answer to CONNECT has a bad Content-Length'));
        head = { status, statusText: m[2] ?? '', headers, closing: /\bclose\b/i.test(connection), bodyLeft: length };
        buf = buf.subarray(end + 4);
      }
      if (buf.length < head.bodyLeft) return;
      const { bodyLeft, ...r } = head;
      done(null, r, buf.subarray(bodyLeft));
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', onError);
  });
}

function tokenFor(values: string | string[] | undefined, scheme: string): Uint8Array | null {
  return parseChallenges(values).find((c) => c.scheme.toLowerCase() === scheme.toLowerCase() && c.token)?.token ?? null;
}

/**
 * Opens a tunnel to `origin` through the proxy that `dial` connects to, signing on when it answers
 * 407, and returns the TLS connection to the origin inside it. `known` is updated with the offers
 * that worked.
 */
export async function openTunnel<O extends { scheme: string }>(dial: () => Promise<Socket>, origin: URL, tls: ConnectionOptions, auth: TunnelAuth<O>, deadlineMs = 30_000): Promise<TLSSocket> {
  const host = origin.hostname;
  const authority = `${host}:${origin.port || '443'}`;
  let socket = await dial();
  let ctx: SecurityContext | null = null;
  let offer: O | null = null;
  let token: Uint8Array | null = null;
  try {
    if (auth.known?.length) {
      offer = auth.known[0]!;
      ({ ctx, token } = await auth.start(offer));
    }
    for (let legs = 1; ; legs++) {
      const credentials = token && offer ? `Proxy-Authorization: ${offer.scheme} ${Buffer.from(token).toString('base64')}\r\n` : '';
      socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${credentials}\r\n`);
      const r = await readResponse(socket, deadlineMs);
      const challenge = r.headers['proxy-authenticate'];
      if (r.status === 200) {
        if (ctx && offer) {
          const final = tokenFor(challenge, offer.scheme);
          if (final && !ctx.complete) {
            try {
              await ctx.step(final);
            } catch (e) {
              throw new SspiError(SecurityStatus.SEC_E_MUTUAL_AUTH_FAILED, `mutual authentication with the proxy failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
            }
          }
          // A 200 without it is taken unless asked otherwise: proxies open the tunnel without their
          // final token (Apache's mod_proxy_connect writes its 200 itself, Squid sends none), and
          // the origin is proven by TLS and its own sign-on inside the tunnel.
          if (!ctx.complete && auth.mutualRequired) throw new SspiError(SecurityStatus.SEC_E_MUTUAL_AUTH_FAILED, `the proxy opened the tunnel to ${authority} without the token that completes ${offer.scheme} authentication`);
          const chosen = offer;
          auth.known = [chosen, ...(auth.known ?? []).filter((o) => o.scheme !== chosen.scheme)];
          await auth.signedOn?.(ctx, chosen, legs);
        }
        break;
      }
      if (r.status !== 407) throw new Error(`the proxy answered CONNECT ${authority} with ${r.status} ${r.statusText}`.trimEnd());
      if (ctx && offer) {
        // Our token was answered: go on while the proxy sends one back, else it refused.
        const back = tokenFor(challenge, offer.scheme);
        if (!back || ctx.complete || legs >= auth.maxLegs) throw new SspiError(SecurityStatus.SEC_E_LOGON_DENIED, `the proxy refused the sign-on for CONNECT ${authority} (407)`);
        if (r.closing) throw new SspiError(SecurityStatus.SEC_E_LOGON_DENIED, 'the proxy closed the connection in the middle of its sign-on');
        token = await ctx.step(back);
        continue;
      }
      // The first, bare challenge: start a handshake with what it offers.
      const offers = auth.offers(challenge);
      if (!offers.length) throw new SspiError(SecurityStatus.SEC_E_NO_CREDENTIALS, 'the proxy asks for a sign-on none of our packages offers');
      offer = offers[0]!;
      ({ ctx, token } = await auth.start(offer));
      legs = 0;
      if (r.closing) {
        socket.destroy();
        socket = await dial();
      }
    }
    return await new Promise<TLSSocket>((resolve, reject) => {
      const isIp = /^[\d.]+$/.test(host) || host.startsWith('[');
      const t = tlsConnect({ ...tls, socket, ...(isIp ? {} : { servername: host }), ALPNProtocols: ['http/1.1'] });
      // undici's connect timeout does not reach a connector of our own: an origin that never
      // finishes the handshake must not hold the request forever.
      const timer = setTimeout(() => {
        t.destroy();
        reject(new Error(`TLS to ${authority} through the tunnel did not complete within ${deadlineMs} ms`));
      }, deadlineMs);
      t.once('secureConnect', () => {
        clearTimeout(timer);
        t.off('error', reject);
        resolve(t);
      });
      t.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  } catch (e) {
    socket.destroy();
    throw e;
  } finally {
    await ctx?.delete().catch(() => undefined);
  }
}
