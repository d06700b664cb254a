// Our handler on node:http2's createSecureServer with allowHTTP1, the way sites serve browsers:
// every request is signed on and answered with JSON { name, package, httpVersion }.
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { Authenticator } from '../../../src/http/server.js';

export interface Http2Site {
  /** https://localhost:PORT (the certificate must name localhost). */
  base: string;
  /** Per request, in order: its HTTP version and Authorization scheme ('2.0 -', '1.1 Negotiate'). */
  requests: string[];
  close(): Promise<void>;
}

/** Listens on 127.0.0.1; /favicon.ico gets 404 without a sign-on (browsers ask for it). */
export async function startHttp2Site(auth: Authenticator, tls: { key: string | Buffer; cert: string | Buffer }): Promise<Http2Site> {
  const requests: string[] = [];
  const server = http2.createSecureServer({ key: tls.key, cert: tls.cert, allowHTTP1: true }, (req, res) => {
    if (req.url === '/favicon.ico') return void res.writeHead(404).end();
    requests.push(`${req.httpVersion} ${req.headers.authorization?.split(' ')[0] ?? '-'}`);
    void auth.authenticate(req, res).then((id) => {
      if (!id) return;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ name: id.name, package: id.package, httpVersion: req.httpVersion }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    base: `https://localhost:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
