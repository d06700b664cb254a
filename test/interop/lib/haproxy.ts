// Debian's HAProxy as the load balancer in front of `tslsa serve`, in either of its two modes:
//   http  HTTP/1.1 to the nodes with its default connection reuse (`http-reuse safe`), or the
//         `reuse` given; a request may go to another node than the one before it.
//   tcp   a client's connection is spliced to one node's connection (layer 4).
// `balance roundrobin` over the nodes, one process (`nbthread 1`), no logging, run in the
// foreground (`-db`), stopped by PID.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOOPBACK } from './ports.js';
import { outputOf, requireBinary, spawnOnFreePort, spawnTracked, type LoopbackDaemon } from './proc.js';

/** `log()` is what HAProxy printed. */
export type HaproxyBalancer = LoopbackDaemon;

export interface HaproxyOptions {
  mode: 'http' | 'tcp';
  /** `http-reuse` in http mode; HAProxy's default is safe. */
  reuse?: 'never' | 'safe' | 'aggressive' | 'always';
}

/** HAProxy on a free port balancing round-robin over `upstreams`. */
export async function startHaproxy(upstreams: readonly string[], o: HaproxyOptions): Promise<HaproxyBalancer> {
  requireBinary('haproxy');
  const dir = mkdtempSync(join(tmpdir(), 'tslsa-haproxy-'));
  const servers = upstreams.map((u, i) => `  server n${i} ${new URL(u).host}`).join('\n');
  return spawnOnFreePort('haproxy', dir, (port) => {
    const conf = `global
  nbthread 1
  maxconn 256
defaults
  mode ${o.mode}
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend fe
  bind ${LOOPBACK}:${port}
  default_backend be
backend be
  balance roundrobin
${o.mode === 'http' && o.reuse ? `  http-reuse ${o.reuse}\n` : ''}${servers}
`;
    writeFileSync(join(dir, 'haproxy.cfg'), conf);
    const child = spawnTracked('haproxy', ['-db', '-f', join(dir, 'haproxy.cfg')], { stdio: ['ignore', 'pipe', 'pipe'] });
    return { child, log: outputOf(child) };
  });
}
