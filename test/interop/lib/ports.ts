// Free loopback ports for peers. Nothing here is reserved: a port can be taken between our probe
// and the peer's bind, so callers that start daemons retry with a fresh port when the bind fails.
import { createServer, Socket } from 'node:net';
import { createSocket } from 'node:dgram';

export const LOOPBACK = '127.0.0.1';

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ host: LOOPBACK, port: 0, exclusive: true }, () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new Error('no TCP address'));
        return;
      }
      srv.close(() => resolve(addr.port));
    });
  });
}

function udpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => {
      s.close();
      resolve(false);
    });
    s.bind({ address: LOOPBACK, port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/** A port number free for both TCP and UDP on 127.0.0.1 (a KDC listens on both). */
export async function freeUdpTcpPort(attempts = 50): Promise<number> {
  for (let i = 0; i < attempts; i++) {
    const port = await freeTcpPort();
    if (await udpFree(port)) return port;
  }
  throw new Error(`no port free for both TCP and UDP after ${attempts} attempts`);
}

/** Resolves true once a TCP connect to host:port succeeds, false after timeoutMs. */
export async function waitForTcp(port: number, timeoutMs = 5000, host = LOOPBACK): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = new Socket();
      const done = (v: boolean): void => {
        s.destroy();
        resolve(v);
      };
      s.setTimeout(500, () => done(false));
      s.once('error', () => done(false));
      s.connect(port, host, () => done(true));
    });
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return false;
}
