// A graceful stop for an HTTP(S) server that signs clients on with NTLM or Negotiate.
//
// node:http's server.close() closes every idle keep-alive connection at once, and a connection
// between the legs of an NTLM handshake is idle: the client's AUTHENTICATE would then meet a
// closed socket, and NTLM cannot move to a new connection (a single node has nothing to resume
// it with). So a drain here stops accepting, closes the connections that wait for nothing, lets
// requests in flight finish and a handshake that answered a continuing 401 send its next leg,
// closes each of those once its last response is out, and cuts what is left at a deadline.
import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import { Server as HttpsServer } from 'node:https';
import { Server as NetServer, type Socket } from 'node:net';
import { SspiError } from '../sspi/error.js';
import { SecurityStatus } from '../sspi/status.js';

export interface ServerDrain {
  /** True once drain() has begun. */
  readonly draining: boolean;
  /** Open connections with a request in flight or a handshake leg to come. */
  busy(): number;
  /**
   * Stop accepting connections and finish the open ones as above; after `timeoutMs`, or when
   * `force` settles, close the rest. Resolves, once every connection is closed, with the number
   * that had to be cut.
   */
  drain(timeoutMs: number, force?: Promise<unknown>): Promise<number>;
}

interface ConnectionState {
  inFlight: number;
  /** The last response was a 401 with a token: the client's next leg is due on this connection. */
  nextLeg: boolean;
}

/**
 * A continuing leg: 401 with `WWW-Authenticate: Negotiate|NTLM <token>` (not the bare offer).
 * It reads headers given to setHeader(), as createAuthenticator sets a continuing leg's.
 */
export function awaitsNextLeg(res: ServerResponse): boolean {
  if (res.statusCode !== 401) return false;
  const h = res.getHeader('www-authenticate');
  const values = Array.isArray(h) ? h : h === undefined ? [] : [String(h)];
  return values.some((v) => /^(?:Negotiate|NTLM) +\S/i.test(v));
}

/** Tracks `server`'s connections from now on (call it before listen) so that it can be drained. */
export function trackConnections(server: HttpServer | HttpsServer): ServerDrain {
  // Raw TCP sockets (a TLS one still in its handshake too), and the HTTP-level ones by the socket
  // requests arrive on (the TLSSocket over HTTPS).
  const sockets = new Set<Socket>();
  const states = new Map<Socket, ConnectionState>();
  let draining = false;

  const stateOf = (s: Socket): ConnectionState => {
    let st = states.get(s);
    if (!st) {
      st = { inFlight: 0, nextLeg: false };
      states.set(s, st);
      s.once('close', () => states.delete(s));
    }
    return st;
  };
  const waitsForNothing = (st: ConnectionState): boolean => st.inFlight === 0 && !st.nextLeg;

  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.on(server instanceof HttpsServer ? 'secureConnection' : 'connection', (s: Socket) => {
    stateOf(s);
    // Opened before the listener closed and set up after: nothing asked on it yet is worth waiting for.
    if (draining) s.end();
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const s = req.socket;
    const st = stateOf(s);
    st.inFlight++;
    st.nextLeg = false;
    res.once('close', () => {
      st.inFlight--;
      st.nextLeg = res.writableFinished && awaitsNextLeg(res);
      if (draining && waitsForNothing(st)) s.end();
    });
  });

  return {
    get draining() {
      return draining;
    },
    busy() {
      let n = 0;
      for (const st of states.values()) if (!waitsForNothing(st)) n++;
      return n;
    },
    drain(timeoutMs, force) {
      if (draining) return Promise.reject(new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'the server is already draining'));
      draining = true;
      return new Promise<number>((resolve) => {
        let cut = 0;
        let timer: NodeJS.Timeout | null = null;
        const cutAll = () => {
          if (timer) clearTimeout(timer);
          timer = null;
          cut = sockets.size;
          for (const s of sockets) s.destroy();
        };
        // net's close, not http's: http's would also destroy the connections between handshake
        // legs. (http's would also stop its unref'd timeout sweep; calling it afterwards would
        // emit 'close' a second time, so the sweep stays, idle, for a server that is closed.)
        NetServer.prototype.close.call(server, () => {
          if (timer) clearTimeout(timer);
          resolve(cut);
        });
        for (const [s, st] of states) if (waitsForNothing(st)) s.end();
        timer = setTimeout(cutAll, Math.max(0, timeoutMs));
        timer.unref?.();
        force?.then(cutAll, cutAll);
      });
    },
  };
}
