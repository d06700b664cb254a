// Debian's redis-server for the cluster tests: on 127.0.0.1 and a free port, no persistence
// (--save '' --appendonly no, run inside a temp dir), started and stopped by PID. kill() is the
// "Redis died" of the tests (SIGKILL); start() again brings it back on the same port.
// startRedis({ password, users, tls }) makes one that wants AUTH (requirepass, ACL users) and/or
// speaks only TLS (a throwaway CA from createTestCa, made with openssl).
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeTcpPort, LOOPBACK } from './ports.js';
import { isAlive, killPid, requireBinary, runChecked, sleep, spawnTracked } from './proc.js';

export interface RedisOptions {
  /** requirepass: the default user must AUTH with this password. */
  password?: string;
  /** ACL users with every right: AUTH user password (redis://user:password@...). */
  users?: ReadonlyArray<{ user: string; password: string }>;
  /** Listen with TLS only (no plain port), on these PEM files. */
  tls?: { cert: string; key: string; ca: string; authClients: 'yes' | 'no' | 'optional' };
  /** maxmemory-policy (Redis' default: noeviction). */
  maxmemoryPolicy?: string;
  /** Listen on a unix socket too (`socketPath`, mode 0700), beside the TCP port. */
  unixSocket?: boolean;
}

export interface RedisServer {
  readonly port: number;
  /** redis://127.0.0.1:PORT (rediss:// with TLS), with no credentials in it */
  readonly url: string;
  /** PID of the running redis-server; undefined while stopped. */
  readonly pid: number | undefined;
  /** The unix socket, with `unixSocket` (else ''). */
  readonly socketPath: string;
  /** Starts it again on the same port (after kill()). */
  start(): Promise<void>;
  /** SIGKILL: Redis dies without a goodbye, as in a crash. */
  kill(): Promise<void>;
  /** SIGTERM, then SIGKILL after a grace period; removes the temp dir (final). Safe to call twice. */
  stop(): Promise<void>;
  /** Output so far (for failure messages). */
  log(): string;
}

class RedisProcess implements RedisServer {
  private child: ChildProcess | undefined;
  private out = '';
  constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly options: RedisOptions = {},
  ) {}

  get url(): string {
    return `${this.options.tls ? 'rediss' : 'redis'}://${LOOPBACK}:${this.port}`;
  }

  get socketPath(): string {
    return this.options.unixSocket ? join(this.dir, 'redis.sock') : '';
  }

  /** The arguments that listen, and the secrets, in a config file (not on a command line `ps` shows). */
  private args(): string[] {
    const o = this.options;
    const listen = o.tls
      ? ['--port', '0', '--tls-port', String(this.port), '--tls-cert-file', o.tls.cert, '--tls-key-file', o.tls.key, '--tls-ca-cert-file', o.tls.ca, '--tls-auth-clients', o.tls.authClients]
      : ['--port', String(this.port)];
    const conf: string[] = [];
    if (o.password !== undefined) conf.push(`requirepass "${o.password}"`);
    for (const u of o.users ?? []) conf.push(`user ${u.user} on >${u.password} ~* &* +@all`);
    if (o.maxmemoryPolicy !== undefined) conf.push(`maxmemory-policy ${o.maxmemoryPolicy}`);
    const file = join(this.dir, 'redis.conf');
    writeFileSync(file, conf.join('\n') + '\n', { mode: 0o600 });
    const unix = o.unixSocket ? ['--unixsocket', this.socketPath, '--unixsocketperm', '700'] : [];
    return [file, '--save', '', '--appendonly', 'no', ...listen, ...unix, '--bind', LOOPBACK, '--dir', this.dir];
  }

  get pid(): number | undefined {
    return this.child?.pid !== undefined && isAlive(this.child.pid) ? this.child.pid : undefined;
  }

  log(): string {
    return this.out;
  }

  /** Resolves once Redis says it accepts connections; rejects if it exits first or takes over `timeoutMs`. */
  async start(timeoutMs = 10_000): Promise<void> {
    if (this.pid !== undefined) return;
    const child = spawnTracked('redis-server', this.args(), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server on ${this.port} not ready in ${timeoutMs} ms:\n${this.out}`)), timeoutMs);
      const onData = (d: string): void => {
        this.out += d;
        if (/Ready to accept connections/.test(this.out.slice(-4096))) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.setEncoding('utf8').on('data', onData);
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.out += d));
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`redis-server on ${this.port} exited (${code ?? signal}):\n${this.out}`));
      });
    });
    try {
      await ready;
    } catch (e) {
      if (child.pid !== undefined) await killPid(child.pid, 500);
      throw e;
    }
  }

  async kill(): Promise<void> {
    const pid = this.pid;
    if (pid === undefined) return;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
    for (let i = 0; i < 500 && isAlive(pid); i++) await sleep(10);
    await killPid(pid, 0);
  }

  async stop(): Promise<void> {
    const pid = this.pid;
    if (pid !== undefined) await killPid(pid, 3000);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A fresh redis-server on a free loopback port (a few tries when the port is taken in between). Throws MissingPeerError when it is not installed. */
export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  requireBinary('redis-server');
  let last: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), 'tslsa-redis-'));
    const r = new RedisProcess(await freeTcpPort(), dir, options);
    try {
      await r.start();
      return r;
    } catch (e) {
      last = e;
      await r.stop();
    }
  }
  throw last instanceof Error ? last : new Error(String(last));
}

export interface TestCa {
  /** The CA certificate (PEM file) that signed the two below. */
  ca: string;
  /** A server certificate for localhost and 127.0.0.1, and its key. */
  serverCert: string;
  serverKey: string;
  /** A client certificate (CN=tslsa-client), and its key. */
  clientCert: string;
  clientKey: string;
  /** A CA that signed none of them (for "wrong CA"). */
  otherCa: string;
}

/** A throwaway CA and certificates (P-256, 2 days) made with openssl in `dir`. */
export async function createTestCa(dir: string): Promise<TestCa> {
  const f = (name: string): string => join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const caExt = ['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'];
  for (const ca of ['ca', 'other-ca']) {
    await runChecked('openssl', ['req', '-x509', ...ec, '-keyout', f(`${ca}.key`), '-out', f(`${ca}.pem`), '-days', '2', '-subj', `/CN=tslsa test ${ca}`, ...caExt]);
  }
  const leaf = async (name: string, cn: string, ext: string): Promise<void> => {
    await runChecked('openssl', ['req', ...ec, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`]);
    writeFileSync(f(`${name}.ext`), ext);
    await runChecked('openssl', ['x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${name}.pem`), '-days', '2', '-sha256', '-extfile', f(`${name}.ext`)]);
  };
  await leaf('server', 'localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  await leaf('client', 'tslsa-client', 'extendedKeyUsage=clientAuth\n');
  return { ca: f('ca.pem'), serverCert: f('server.pem'), serverKey: f('server.key'), clientCert: f('client.pem'), clientKey: f('client.key'), otherCa: f('other-ca.pem') };
}

/**
 * One more server certificate (localhost, 127.0.0.1) and key, `name`.pem and `name`.key, signed
 * by the CA that createTestCa(dir) made: another certificate with the same names, for nodes that
 * do not share one.
 */
export async function createServerCert(dir: string, name: string): Promise<{ cert: string; key: string }> {
  const f = (file: string): string => join(dir, file);
  await runChecked('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', '/CN=localhost']);
  writeFileSync(f(`${name}.ext`), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  await runChecked('openssl', ['x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${name}.pem`), '-days', '2', '-sha256', '-extfile', f(`${name}.ext`)]);
  return { cert: f(`${name}.pem`), key: f(`${name}.key`) };
}
