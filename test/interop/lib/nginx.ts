// Debian's nginx as the reverse proxy in front of `tslsa serve`, the way sites run it: HTTP/1.1 to
// the upstream with a pool of kept-alive connections (`keepalive`), so requests of different
// clients travel over the same upstream connection, and a client's next request over another one.
// One worker process (so one pool), a private prefix with every temp path in it, no access log,
// `daemon off`, stopped by PID.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeTcpPort, LOOPBACK, waitForTcp } from './ports.js';
import { killPid, requireBinary, spawnTracked } from './proc.js';

export interface NginxProxy {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  stop(): Promise<void>;
  /** nginx's error log (for failure messages). */
  log(): string;
}

/** nginx on a free port proxying to `upstreams` (round-robin), keeping up to `keepalive` idle upstream connections. */
export async function startNginx(upstreams: readonly string[], keepalive = 4): Promise<NginxProxy> {
  requireBinary('nginx');
  const dir = mkdtempSync(join(tmpdir(), 'tslsa-nginx-'));
  for (let attempt = 0; ; attempt++) {
    const port = await freeTcpPort();
    const servers = upstreams.map((u) => `    server ${new URL(u).host};`).join('\n');
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
    const child: ChildProcess = spawnTracked('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    const log = (): string => {
      try {
        return err + readFileSync(join(dir, 'error.log'), 'utf8');
      } catch {
        return err;
      }
    };
    // nginx exits at once when the port was taken in between: then try another.
    const up = await Promise.race([waitForTcp(port, 5000), exited.then(() => false)]);
    if (up) {
      return {
        url: `http://${LOOPBACK}:${port}`,
        log,
        async stop() {
          if (child.exitCode === null && child.pid) await killPid(child.pid);
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    // Still running but not listening in time: not left behind when trying again.
    if (child.exitCode === null && child.pid) await killPid(child.pid);
    if (attempt >= 3) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`nginx did not start:\n${log()}`);
    }
  }
}

