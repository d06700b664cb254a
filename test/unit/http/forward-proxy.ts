// A small forward proxy built on createAuthenticator({ proxy: true }), as a user would write one:
// absolute-form requests are signed on and forwarded without Proxy-Authorization; CONNECT goes
// through authenticateConnect and then becomes a tunnel. Also a plain origin that echoes what
// reached it. For the proxy tests (unit and interop).
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import type { Authenticator, Identity } from '../../../src/http/server.js';

export interface ForwardProxy {
  url: string;
  port: number;
  /** Who signed on, per request or tunnel, in order. */
  identities: Identity[];
  /** CONNECT targets tunnelled to. */
  tunnels: string[];
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(['proxy-authorization', 'proxy-connection', 'connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** `tls`: the proxy itself speaks https (clients reach it over TLS). */
export async function startForwardProxy(auth: Authenticator, tls?: { key: string; cert: string }): Promise<ForwardProxy> {
  const identities: Identity[] = [];
  const tunnels: string[] = [];
  const sockets = new Set<net.Socket>();
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    void (async () => {
      const id = await auth.authenticate(req, res);
      if (!id) return;
      identities.push(id);
      const headers: http.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) headers[k] = v;
      const up = http.request(req.url!, { method: req.method, headers }, (u) => {
        // The final token set by the authenticator stays: writeHead merges its headers in.
        const out: http.OutgoingHttpHeaders = {};
        for (const [k, v] of Object.entries(u.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) out[k] = v;
        res.writeHead(u.statusCode ?? 502, out);
        u.pipe(res);
      });
      up.on('error', () => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      req.pipe(up);
    })();
  };
  const server = tls ? https.createServer({ key: tls.key, cert: tls.cert }, onRequest) : http.createServer(onRequest);
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.on('connect', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.on('error', () => undefined);
    void auth.authenticateConnect(req, socket, head).then((r) => {
      if (!r) return;
      identities.push(r.identity);
      const [host, port] = [req.url!.slice(0, req.url!.lastIndexOf(':')), Number(req.url!.slice(req.url!.lastIndexOf(':') + 1))];
      tunnels.push(req.url!);
      const up = net.connect(port, host.replace(/^\[|\]$/g, ''), () => {
        const lines = ['HTTP/1.1 200 Connection Established', ...Object.entries(r.headers).map(([k, v]) => `${k}: ${v}`)];
        socket.write(`${lines.join('\r\n')}\r\n\r\n`);
        if (head.length) up.write(head);
        up.pipe(socket);
        socket.pipe(up);
      });
      up.on('error', () => socket.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n'));
      socket.once('close', () => up.destroy());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    identities,
    tunnels,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export interface EchoOrigin {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** An origin (https with `tls`) that answers JSON: the method, URL, body and the credentials headers that reached it. */
export async function startEchoOrigin(tls?: { key: string; cert: string }): Promise<EchoOrigin> {
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ method: req.method, url: req.url, body: Buffer.concat(chunks).toString('utf8'), proxyAuthorization: req.headers['proxy-authorization'] ?? null, authorization: req.headers.authorization ?? null }));
    });
  };
  const server = tls ? https.createServer(tls, onRequest) : http.createServer(onRequest);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/**
 * An origin (http, or https with `tls`) on 127.0.0.1, named by `localhost` in its URL, that
 * answers every request with a short text and records `METHOD URL with|without Proxy-Authorization`.
 */
export async function startRecordingOrigin(tls?: { cert: Buffer | string; key: Buffer | string }): Promise<{ url: string; seen: string[]; close(): Promise<void> }> {
  const seen: string[] = [];
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    seen.push(`${req.method} ${req.url} ${req.headers['proxy-authorization'] ? 'with' : 'without'} Proxy-Authorization`);
    res.setHeader('content-type', 'text/plain');
    res.end('origin\n');
  };
  const server = tls ? https.createServer(tls, onRequest) : http.createServer(onRequest);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `${tls ? 'https' : 'http'}://localhost:${(server.address() as AddressInfo).port}`,
    seen,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
