// A forward proxy's CONNECT and a server's Upgrade (a WebSocket handshake). Node hands their
// sockets over bare (the 'connect' and 'upgrade' events, no ServerResponse), so the 401/407 or 400
// the authenticator answers goes out here as raw HTTP/1.1, and the socket goes back to the HTTP
// server afterwards: NTLM's next leg is a new request on the same connection.

import { STATUS_CODES } from 'node:http';
import type { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';

/** The members of ServerResponse the authenticator uses, writing to a CONNECT or Upgrade request's socket. */
export class TunnelResponse {
  private readonly fields = new Map<string, { name: string; value: string | string[] }>();
  headersSent = false;
  statusCode = 200;
  /** The answer closed the connection (after a 400): nothing more will come on it. */
  closing = false;

  constructor(private readonly socket: Duplex) {}

  setHeader(name: string, value: string | number | readonly string[]): this {
    this.fields.set(name.toLowerCase(), { name, value: typeof value === 'object' ? [...value] : String(value) });
    return this;
  }

  getHeader(name: string): string | string[] | undefined {
    return this.fields.get(name.toLowerCase())?.value;
  }

  writeHead(status: number, headers: Record<string, string | string[]> = {}): this {
    this.statusCode = status;
    for (const [k, v] of Object.entries(headers)) this.setHeader(k, v);
    return this;
  }

  end(body = ''): this {
    if (this.headersSent || this.socket.destroyed) return this;
    this.headersSent = true;
    this.setHeader('Content-Length', Buffer.byteLength(body));
    const lines = [`HTTP/1.1 ${this.statusCode} ${STATUS_CODES[this.statusCode] ?? ''}`];
    for (const { name, value } of this.fields.values()) for (const v of typeof value === 'string' ? [value] : value) lines.push(`${name}: ${v}`);
    this.closing = /\bclose\b/i.test(String(this.getHeader('connection') ?? ''));
    this.socket.write(`${lines.join('\r\n')}\r\n\r\n${body}`);
    if (this.closing) this.socket.end();
    return this;
  }

  /** What was set for a success (the final token): the headers of the 200 that opens the tunnel. */
  successHeaders(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const { name, value } of this.fields.values()) out[name] = typeof value === 'string' ? value : value.join(', ');
    return out;
  }
}

/**
 * Hands a socket whose CONNECT or Upgrade was answered (407, 401) back to the HTTP server that
 * emitted it, so the client's next request on it is parsed (and emitted) again. `head` is what the
 * client sent after the request's headers.
 */
export function returnToServer(socket: Duplex, head: Buffer): boolean {
  const server = (socket as Duplex & { server?: EventEmitter }).server;
  if (!server || socket.destroyed) return false;
  if (head.length) socket.unshift(head);
  // An https server parses TLS sockets it announced as 'secureConnection'.
  server.emit((socket as Duplex & { encrypted?: boolean }).encrypted ? 'secureConnection' : 'connection', socket);
  return true;
}
