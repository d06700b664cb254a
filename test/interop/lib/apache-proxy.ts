// Debian's Apache httpd as a reverse proxy (mod_proxy_http) in front of `tslsa serve`, as sites
// put it in front of IIS: `ProxyPass / http://node/`, whose pool of connections to the node the
// worker threads share between clients. One process (mpm_event, 4 threads), our own config and
// folder, run in the foreground, stopped by PID; as root its workers run as www-data.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { LOOPBACK } from './ports.js';
import { outputOf, requireBinary, spawnOnFreePort, spawnTracked, type LoopbackDaemon } from './proc.js';

const MODULES = '/usr/lib/apache2/modules';

/** `log()` is what httpd printed and its error log. */
export type ApacheProxy = LoopbackDaemon;

/** httpd with `modules` and `body` in folder `dir`, on a free port (one process of 4 threads, workers as www-data when root). */
function startHttpd(dir: string, modules: readonly string[], body: string, env?: NodeJS.ProcessEnv): Promise<ApacheProxy> {
  const mod = (name: string) => `LoadModule ${name}_module ${MODULES}/mod_${name}.so`;
  return spawnOnFreePort('apache2', dir, (port) => {
    const conf = `ServerRoot ${dir}
ServerName localhost
Listen ${LOOPBACK}:${port}
PidFile ${dir}/httpd.pid
ErrorLog ${dir}/error.log
LogLevel warn
${['mpm_event', ...modules].map(mod).join('\n')}
${userInfo().uid === 0 ? 'User www-data\nGroup www-data\n' : ''}StartServers 1
ServerLimit 1
ThreadsPerChild 4
MaxRequestWorkers 4
${body}`;
    writeFileSync(join(dir, 'httpd.conf'), conf);
    const child = spawnTracked('apache2', ['-f', join(dir, 'httpd.conf'), '-DFOREGROUND'], { stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env } : {}) });
    return { child, log: outputOf(child, join(dir, 'error.log')) };
  });
}

/** httpd on a free port passing every request to `upstream` (http://host:port). */
export async function startApacheProxy(upstream: string): Promise<ApacheProxy> {
  requireBinary('apache2');
  const dir = mkdtempSync(join(tmpdir(), 'tslsa-apache-proxy-'));
  chmodSync(dir, 0o755);
  return startHttpd(dir, ['authz_core', 'proxy', 'proxy_http'], `ProxyPass / ${new URL(upstream).origin}/\n`);
}

/**
 * httpd as a forward proxy (ProxyRequests On, mod_proxy_connect for CONNECT to any port) that
 * signs its clients on with mod_auth_gssapi, answered as 407 / Proxy-Authenticate: Kerberos
 * (SPNEGO) for HTTP/localhost from `keytab`, or with `ntlmUsers` (DOMAIN:USER:PASSWORD lines) NTLM
 * through gss-ntlmssp, bound to the connection. Keytab, krb5.conf, the user file and a
 * replay-cache folder are copied into its own folder, readable by its workers.
 */
export async function startApacheForwardProxy(keytab: string, krb5Conf: string, env: NodeJS.ProcessEnv, opts: { ntlmUsers?: string } = {}): Promise<ApacheProxy> {
  requireBinary('apache2');
  const dir = mkdtempSync(join(tmpdir(), 'tslsa-apache-fwd-'));
  chmodSync(dir, 0o755);
  const root = userInfo().uid === 0;
  mkdirSync(join(dir, 'rcache'), { mode: 0o700 });
  copyFileSync(keytab, join(dir, 'http.keytab'));
  copyFileSync(krb5Conf, join(dir, 'krb5.conf'));
  chmodSync(join(dir, 'http.keytab'), 0o600);
  chmodSync(join(dir, 'krb5.conf'), 0o644);
  writeFileSync(join(dir, 'ntlm-users'), opts.ntlmUsers ?? '', { mode: 0o600 });
  if (root) {
    const ids = { uid: Number(execFileSync('id', ['-u', 'www-data'], { encoding: 'utf8' })), gid: Number(execFileSync('id', ['-g', 'www-data'], { encoding: 'utf8' })) };
    for (const f of ['http.keytab', 'rcache', 'ntlm-users']) chownSync(join(dir, f), ids.uid, ids.gid);
  }
  return startHttpd(
    dir,
    ['authn_core', 'authz_core', 'authz_user', 'auth_gssapi', 'proxy', 'proxy_http', 'proxy_connect'],
    `ProxyRequests On
AllowCONNECT 1-65535
<Proxy "*">
    AuthType GSSAPI
    AuthName "tslsa proxy"
${opts.ntlmUsers ? '    GssapiAllowedMech ntlmssp\n    GssapiConnectionBound On' : `    GssapiCredStore keytab:${dir}/http.keytab\n    GssapiAllowedMech krb5`}
    Require valid-user
</Proxy>
`,
    { ...env, KRB5_CONFIG: join(dir, 'krb5.conf'), KRB5RCACHEDIR: join(dir, 'rcache'), KRB5_KTNAME: join(dir, 'http.keytab'), NTLM_USER_FILE: join(dir, 'ntlm-users') },
  );
}
