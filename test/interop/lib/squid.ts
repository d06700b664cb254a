// Debian's Squid as the corporate forward proxy it usually is: it signs its clients on with
// Negotiate through its negotiate_kerberos_auth helper (MIT Kerberos, HTTP/localhost from the
// realm's keytab), answering 407 / Proxy-Authenticate, and logs who each request came from. Our
// own config and folder, no cache, run in the foreground (-N), stopped by PID; as root it runs as
// the `proxy` user, so the keytab and krb5.conf are copied where that user can read them.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { LOOPBACK } from './ports.js';
import { outputOf, requireBinary, spawnOnFreePort, spawnTracked, type LoopbackDaemon } from './proc.js';

const SQUID = 'squid';
const HELPER = '/usr/lib/squid/negotiate_kerberos_auth';

export interface SquidProxy extends LoopbackDaemon {
  /** Its access log: one line per request, with the user it signed on ('-' for none). */
  accessLog(): string;
}

/** Squid on a free loopback port, requiring Negotiate (Kerberos for `principal`, e.g. HTTP/localhost@REALM) from `keytab`. */
export async function startSquid(keytab: string, krb5Conf: string, principal: string, env: NodeJS.ProcessEnv): Promise<SquidProxy> {
  requireBinary(SQUID);
  requireBinary(HELPER);
  const dir = mkdtempSync(join(tmpdir(), 'tslsa-squid-'));
  chmodSync(dir, 0o755);
  copyFileSync(keytab, join(dir, 'http.keytab'));
  copyFileSync(krb5Conf, join(dir, 'krb5.conf'));
  chmodSync(join(dir, 'http.keytab'), 0o600);
  chmodSync(join(dir, 'krb5.conf'), 0o644);
  const root = userInfo().uid === 0;
  if (root) {
    const uid = Number(execFileSync('id', ['-u', 'proxy'], { encoding: 'utf8' }));
    const gid = Number(execFileSync('id', ['-g', 'proxy'], { encoding: 'utf8' }));
    // Squid opens its logs and its helpers read the keytab after dropping to `proxy`.
    chownSync(dir, uid, gid);
    chownSync(join(dir, 'http.keytab'), uid, gid);
  }
  const daemon = await spawnOnFreePort('squid', dir, (port) => {
    const conf = `http_port ${LOOPBACK}:${port}
visible_hostname localhost
pid_filename ${dir}/squid.pid
cache_log ${dir}/cache.log
access_log stdio:${dir}/access.log squid
cache deny all
coredump_dir ${dir}
shutdown_lifetime 0 seconds
${root ? 'cache_effective_user proxy\n' : ''}auth_param negotiate program ${HELPER} -k ${dir}/http.keytab -s ${principal}
auth_param negotiate children 2
auth_param negotiate keep_alive on
acl signed_on proxy_auth REQUIRED
http_access allow signed_on
http_access deny all
`;
    writeFileSync(join(dir, 'squid.conf'), conf);
    // The helper gets its keytab from -k; KRB5RCACHETYPE=none spares it a replay-cache folder
    // that the `proxy` user could write.
    const child = spawnTracked(SQUID, ['-N', '-f', join(dir, 'squid.conf')], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...env, KRB5_CONFIG: join(dir, 'krb5.conf'), KRB5RCACHETYPE: 'none' },
    });
    return { child, log: outputOf(child, join(dir, 'cache.log')) };
  });
  return {
    ...daemon,
    accessLog() {
      try {
        return readFileSync(join(dir, 'access.log'), 'utf8');
      } catch {
        return '';
      }
    },
  };
}
