// Debian's nginx as the reverse proxy in front of `tslsa serve`, the way sites run it: HTTP/1.1 to
// the upstream with a pool of kept-alive connections (`keepalive`), so requests of different
// clients travel over the same upstream connection, and a client's next request over another one.
// One worker process (so one pool), a private prefix with every temp path in it, no access log,
// `daemon off`, stopped by PID.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOOPBACK } from './ports.js';
import { outputOf, requireBinary, spawnOnFreePort, spawnTracked, type LoopbackDaemon } from './proc.js';

/** `log()` is what nginx printed and its error log. */
export type NginxProxy = LoopbackDaemon;

/** nginx on a free port proxying to `upstreams` (round-robin), keeping up to `keepalive` idle upstream connections. */
export async function startNginx(upstreams: readonly string[], keepalive = 4): Promise<NginxProxy> {
  requireBinary('nginx');
  const dir = mkdtempSync(join(tmpdir(), 'tslsa-nginx-'));
  const servers = upstreams.map((u) => `    server ${new URL(u).host};`).join('\n');
  return spawnOnFreePort('nginx', dir, (port) => {
    const conf = `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream tslsa {
${servers}
    keepalive ${keepalive};
  }
  server {
    listen ${LOOPBACK}:${port};
    location / {
      proxy_pass http://tslsa;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
    writeFileSync(join(dir, 'nginx.conf'), conf);
    const child = spawnTracked('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
    return { child, log: outputOf(child, join(dir, 'error.log')) };
  });
}
