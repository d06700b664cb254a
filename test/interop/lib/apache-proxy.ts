// Debian's Apache httpd as a reverse proxy (mod_proxy_http) in front of `tslsa serve`, as sites
// put it in front of IIS: `ProxyPass / http://node/`, whose pool of connections to the node the
// worker threads share between clients. One process (mpm_event, 4 threads), our own config and
// folder, run in the foreground, stopped by PID; as root its workers run as www-data.
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { LOOPBACK } from './ports.js';
import { outputOf, requireBinary, spawnOnFreePort, spawnTracked, type LoopbackDaemon } from './proc.js';

const MODULES = '/usr/lib/apache2/modules';

/** `log()` is what httpd printed and its error log. */
export type ApacheProxy = LoopbackDaemon;

/** httpd on a free port passing every request to `upstream` (http://host:port). */
export async function startApacheProxy(upstream: string): Promise<ApacheProxy> {
  requireBinary('apache2');
  const dir = mkdtempSync(join(tmpdir(), 'tslsa-apache-proxy-'));
  chmodSync(dir, 0o755);
  const mod = (name: string) => `LoadModule ${name}_module ${MODULES}/mod_${name}.so`;
  return spawnOnFreePort('apache2', dir, (port) => {
    const conf = `ServerRoot ${dir}
ServerName localhost
Listen ${LOOPBACK}:${port}
PidFile ${dir}/httpd.pid
ErrorLog ${dir}/error.log
LogLevel warn
${['mpm_event', 'authz_core', 'proxy', 'proxy_http'].map(mod).join('\n')}
${userInfo().uid === 0 ? 'User www-data\nGroup www-data\n' : ''}StartServers 1
ServerLimit 1
ThreadsPerChild 4
MaxRequestWorkers 4
ProxyPass / ${new URL(upstream).origin}/
`;
    writeFileSync(join(dir, 'httpd.conf'), conf);
    const child = spawnTracked('apache2', ['-f', join(dir, 'httpd.conf'), '-DFOREGROUND'], { stdio: ['ignore', 'pipe', 'pipe'] });
    return { child, log: outputOf(child, join(dir, 'error.log')) };
  });
}
