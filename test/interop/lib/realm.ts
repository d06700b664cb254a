// A private MIT Kerberos realm on loopback for one test file: its own temp dir, ports, database,
// keytabs and krb5kdc process. Nothing system-wide is read or written (KRB5_CONFIG and
// KRB5_KDC_PROFILE point into the dir), so several test files can each run one concurrently.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, openSync, closeSync, readFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeUdpTcpPort, waitForTcp } from './ports.js';
import {
  describeFailure,
  isAlive,
  killPid,
  requireBinaries,
  run,
  spawnTracked,
  type RunResult,
} from './proc.js';

/** The five enctypes the realm supports, strongest first (also the client's default order). */
export const ENCTYPES = [
  'aes256-cts-hmac-sha1-96',
  'aes128-cts-hmac-sha1-96',
  'aes256-cts-hmac-sha384-192',
  'aes128-cts-hmac-sha256-128',
  'arcfour-hmac',
] as const;
export type Enctype = (typeof ENCTYPES)[number];

/** Single-enctype users created in every realm: principal name → its only enctype. */
export const SINGLE_ENCTYPE_USERS: Readonly<Record<string, Enctype>> = {
  'u-aes256-sha1': 'aes256-cts-hmac-sha1-96',
  'u-aes128-sha1': 'aes128-cts-hmac-sha1-96',
  'u-aes256-sha384': 'aes256-cts-hmac-sha384-192',
  'u-aes128-sha256': 'aes128-cts-hmac-sha256-128',
  'u-rc4': 'arcfour-hmac',
};

export const REALM_BINARIES = ['krb5kdc', 'kdb5_util', 'kadmin.local', 'kinit', 'klist', 'kvno', 'kdestroy'] as const;

export interface RealmOptions {
  /** Realm name; default EXAMPLE.TEST. */
  realm?: string;
  /** Password of `user`, `nopreauth` and the single-enctype users; default a fixed test password. */
  password?: string;
  /** Parent of the temp dir; default os.tmpdir(). */
  parentDir?: string;
  /** Extra [libdefaults] lines for krb5.conf (each "key = value"). */
  extraLibdefaults?: string[];
  /** Do not start krb5kdc (database and keytabs only). */
  noStart?: boolean;
  /**
   * Profile text appended to krb5.conf (read by this realm's KDC and MIT tools), e.g. [capaths] or
   * more [domain_realm] lines: MIT merges a repeated section into the first.
   */
  extraConf?: string;
}

export interface AddPrincipalOptions {
  /** Password; when absent the key is random (-randkey). */
  password?: string;
  /** Restrict keys to these enctypes (each as ENCTYPE:normal). */
  enctypes?: readonly string[];
  /** false: the principal needs no pre-authentication (-requires_preauth clears the default +preauth). */
  requiresPreauth?: boolean;
  /** Append to this keytab after creation. */
  keytab?: string;
}

export interface KinitOptions {
  /** Ask only for these enctypes (written to a per-call override krb5.conf ahead of ours). */
  enctypes?: readonly string[];
  /** Kill kinit after this many ms; default 15 000. */
  timeoutMs?: number;
  /** Extra kinit arguments (e.g. ['-f'] or ['-k', '-t', keytab]). */
  args?: readonly string[];
  /** Resolve with the RunResult instead of throwing on a non-zero exit. */
  allowFailure?: boolean;
}

export interface Realm {
  readonly dir: string;
  readonly realm: string;
  /** UDP and TCP port of the KDC on 127.0.0.1. */
  readonly kdcPort: number;
  /** KRB5_CONFIG, KRB5_KDC_PROFILE, KRB5CCNAME (FILE: in dir), KRB5RCACHEDIR (in dir). */
  readonly env: Readonly<Record<string, string>>;
  readonly krb5ConfPath: string;
  readonly kdcConfPath: string;
  readonly kdcLogPath: string;
  /** Default ccache path (without the FILE: prefix). */
  readonly ccachePath: string;
  /** HTTP/localhost and host/localhost, random keys, all five enctypes. */
  readonly httpKeytab: string;
  /** user@REALM with its password-derived keys (ktadd -norandkey). */
  readonly userKeytab: string;
  /** Principal (short name) → password, for every password principal created. */
  readonly passwords: Readonly<Record<string, string>>;
  /** PID of the running krb5kdc, undefined while stopped. */
  readonly kdcPid: number | undefined;
  /** "name" → "name@REALM" (names already qualified are returned unchanged). */
  principal(name: string): string;
  /** process.env minus inherited Kerberos/GSS settings, plus this realm's env and `extra`. */
  childEnv(extra?: Record<string, string | undefined>): NodeJS.ProcessEnv;
  /** Stops the KDC (by PID) and removes the dir. Safe to call twice. */
  stop(): Promise<void>;
  stopKdc(): Promise<void>;
  startKdc(): Promise<void>;
  restartKdc(): Promise<void>;
  kinit(principal: string, password?: string, ccache?: string, opts?: KinitOptions): Promise<RunResult>;
  /** `klist -e` (plus args) on the ccache; returns stdout, throws on failure. */
  klist(ccache?: string, args?: readonly string[]): Promise<string>;
  /** `kvno [-e enctype] service...`; returns its output (stdout + stderr), throws on failure unless allowFailure. */
  kvno(service: string | readonly string[], opts?: { ccache?: string; enctype?: string; allowFailure?: boolean }): Promise<string>;
  /** Runs one kadmin.local query; returns stdout, throws on any error output. */
  kadmin(query: string): Promise<string>;
  addPrincipal(name: string, opts?: AddPrincipalOptions): Promise<void>;
  /** ktadd principals to keytab; norandkey keeps the existing (password-derived) keys. */
  ktadd(keytab: string, principals: readonly string[], opts?: { norandkey?: boolean }): Promise<void>;
  /** The KDC log so far (every AS/TGS request with its enctypes). */
  kdcLog(): string;
}

const DEFAULT_PASSWORD = 'Interop-Passw0rd!';
const MASTER_PASSWORD = 'interop-master-key';

// kadmin.local prints these on stderr for every successful addprinc/ktadd.
const BENIGN_KADMIN = [/^No policy specified for /, /^Authenticating as principal /, /^WARNING: no policy specified/];

function krb5Conf(realm: string, port: number, dir: string, extra: readonly string[], extraConf = ''): string {
  const list = ENCTYPES.join(' ');
  // Comments must stand on their own line in MIT profiles: "key = v  # c" fails to parse.
  return `[libdefaults]
    default_realm = ${realm}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    allow_weak_crypto = true
    # Debian's krb5 refuses RC4 session keys unless allow_rc4 is set
    allow_rc4 = true
    permitted_enctypes = ${list}
    default_tkt_enctypes = ${list}
    default_tgs_enctypes = ${list}
    default_ccache_name = FILE:${dir}/ccache
${extra.map((l) => `    ${l}`).join('\n')}

[realms]
    ${realm} = {
        kdc = 127.0.0.1:${port}
    }

[domain_realm]
    localhost = ${realm}
    .localhost = ${realm}

[logging]
    default = FILE:${dir}/krb5lib.log
${extraConf}`;
}

function kdcConf(realm: string, port: number, dir: string): string {
  return `[kdcdefaults]
    kdc_listen = 127.0.0.1:${port}
    kdc_tcp_listen = 127.0.0.1:${port}

[realms]
    ${realm} = {
        database_name = ${dir}/principal
        key_stash_file = ${dir}/stash
        acl_file = ${dir}/kadm5.acl
        max_life = 10h 0m 0s
        max_renewable_life = 7d 0h 0m 0s
        master_key_type = aes256-cts-hmac-sha1-96
        supported_enctypes = ${ENCTYPES.map((e) => `${e}:normal`).join(' ')}
        default_principal_flags = +preauth
    }

[logging]
    kdc = FILE:${dir}/kdc.log
    default = FILE:${dir}/krb5lib.log
`;
}

// Variables a developer's shell may carry that would change how MIT tools behave in our realm.
const STRIPPED_ENV = ['KRB5_KTNAME', 'KRB5_CLIENT_KTNAME', 'KRB5CCNAME', 'KRB5_CONFIG', 'KRB5_KDC_PROFILE', 'KRB5RCACHEDIR', 'NTLM_USER_FILE', 'GSS_MECH_CONFIG', 'TSLSA_REDIS_URL', 'TSLSA_STORE'];

export function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of STRIPPED_ENV) delete env[k];
  return env;
}

class MitRealm implements Realm {
  readonly dir: string;
  readonly realm: string;
  kdcPort = 0;
  readonly krb5ConfPath: string;
  readonly kdcConfPath: string;
  readonly kdcLogPath: string;
  readonly ccachePath: string;
  readonly httpKeytab: string;
  readonly userKeytab: string;
  readonly passwords: Record<string, string> = {};
  env: Record<string, string> = {};
  private kdc: ChildProcess | undefined;
  private overrideSeq = 0;
  private stopped = false;

  constructor(private readonly opts: RealmOptions) {
    this.realm = opts.realm ?? 'EXAMPLE.TEST';
    this.dir = mkdtempSync(join(opts.parentDir ?? tmpdir(), 'tslsa-realm-'));
    this.krb5ConfPath = join(this.dir, 'krb5.conf');
    this.kdcConfPath = join(this.dir, 'kdc.conf');
    this.kdcLogPath = join(this.dir, 'kdc.log');
    this.ccachePath = join(this.dir, 'ccache');
    this.httpKeytab = join(this.dir, 'http.keytab');
    this.userKeytab = join(this.dir, 'user.keytab');
    mkdirSync(join(this.dir, 'rcache'));
  }

  get kdcPid(): number | undefined {
    return this.kdc?.pid;
  }

  principal(name: string): string {
    return name.includes('@') ? name : `${name}@${this.realm}`;
  }

  childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...cleanEnv(), ...this.env };
    for (const [k, v] of Object.entries(extra)) {
      if (v === undefined) delete env[k];
      else env[k] = v;
    }
    return env;
  }

  /** (Re)writes both profiles for a port. */
  writeConfig(port: number): void {
    this.kdcPort = port;
    writeFileSync(this.krb5ConfPath, krb5Conf(this.realm, port, this.dir, this.opts.extraLibdefaults ?? [], this.opts.extraConf));
    writeFileSync(this.kdcConfPath, kdcConf(this.realm, port, this.dir));
    this.env = {
      KRB5_CONFIG: this.krb5ConfPath,
      KRB5_KDC_PROFILE: this.kdcConfPath,
      KRB5CCNAME: `FILE:${this.ccachePath}`,
      KRB5RCACHEDIR: join(this.dir, 'rcache'),
    };
  }

  async createDatabase(): Promise<void> {
    writeFileSync(join(this.dir, 'kadm5.acl'), `*/admin@${this.realm} *\n`);
    const r = await run('kdb5_util', ['create', '-s', '-r', this.realm, '-P', MASTER_PASSWORD], {
      env: this.childEnv(),
      timeoutMs: 20_000,
    });
    if (r.code !== 0) throw new Error(`creating the realm database failed:\n${describeFailure(r)}`);
    const pw = this.opts.password ?? DEFAULT_PASSWORD;
    // One kadmin.local process for the whole batch (each start costs ~100 ms); every
    // query's error output is checked, since kadmin.local exits 0 even when a query fails.
    const q: string[] = [];
    const addpw = (name: string, flags: string): void => {
      q.push(`addprinc ${flags} -pw ${pw} ${name}`.replace(/\s+/g, ' '));
      this.passwords[name] = pw;
    };
    addpw('user', '');
    addpw('nopreauth', '-requires_preauth');
    for (const [name, enctype] of Object.entries(SINGLE_ENCTYPE_USERS)) addpw(name, `-e ${enctype}:normal`);
    q.push('addprinc -randkey HTTP/localhost');
    q.push('addprinc -randkey host/localhost');
    q.push(`ktadd -k ${this.httpKeytab} HTTP/localhost host/localhost`);
    q.push(`ktadd -norandkey -k ${this.userKeytab} user`);
    await this.kadminBatch(q);
    chmodSync(this.httpKeytab, 0o644);
    chmodSync(this.userKeytab, 0o644);
  }

  private async kadminBatch(queries: readonly string[]): Promise<string> {
    const r = await run('kadmin.local', ['-r', this.realm], {
      env: this.childEnv(),
      input: queries.join('\n') + '\n',
      timeoutMs: 20_000,
    });
    const errors = r.stderr
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !BENIGN_KADMIN.some((re) => re.test(l)));
    if (r.code !== 0 || errors.length > 0) {
      throw new Error(`kadmin.local failed for:\n  ${queries.join('\n  ')}\n${describeFailure(r)}`);
    }
    return r.stdout;
  }

  kadmin(query: string): Promise<string> {
    return this.kadminBatch([query]);
  }

  async addPrincipal(name: string, opts: AddPrincipalOptions = {}): Promise<void> {
    const parts = ['addprinc'];
    if (opts.requiresPreauth === false) parts.push('-requires_preauth');
    if (opts.enctypes && opts.enctypes.length > 0) parts.push('-e', opts.enctypes.map((e) => `${e}:normal`).join(','));
    if (opts.password !== undefined) parts.push('-pw', opts.password);
    else parts.push('-randkey');
    parts.push(name);
    const q = [parts.join(' ')];
    if (opts.keytab) q.push(`ktadd ${opts.password !== undefined ? '-norandkey ' : ''}-k ${opts.keytab} ${name}`);
    await this.kadminBatch(q);
    if (opts.password !== undefined) this.passwords[name] = opts.password;
  }

  async ktadd(keytab: string, principals: readonly string[], opts: { norandkey?: boolean } = {}): Promise<void> {
    await this.kadminBatch([`ktadd ${opts.norandkey ? '-norandkey ' : ''}-k ${keytab} ${principals.join(' ')}`]);
  }

  async startKdc(): Promise<void> {
    if (this.kdc && this.kdc.pid !== undefined && isAlive(this.kdc.pid)) return;
    if (this.stopped) throw new Error('realm already stopped');
    const out = openSync(join(this.dir, 'kdc.stdout'), 'a');
    try {
      // -n: stay in the foreground, so the PID we get is the KDC's own.
      this.kdc = spawnTracked('krb5kdc', ['-n', '-r', this.realm, '-P', join(this.dir, 'krb5kdc.pid')], {
        env: this.childEnv(),
        stdio: ['ignore', out, out],
      });
    } finally {
      closeSync(out);
    }
    const child = this.kdc;
    let exited = false;
    child.once('exit', () => (exited = true));
    const deadline = Date.now() + 10_000;
    let why = 'krb5kdc did not accept TCP within 10 s';
    while (Date.now() < deadline && !exited) {
      if (!(await waitForTcp(this.kdcPort, 200))) continue;
      // Something accepts on the port, but it may be another process that took it before krb5kdc
      // could bind it (kinit then fails with "Cannot contact any KDC"). The KDC's own log says
      // whether it is listening, on both UDP and TCP.
      const own = this.kdcLog().split('\n').filter((l) => l.includes(`krb5kdc[${child.pid}]`));
      if (own.some((l) => l.includes('commencing operation'))) {
        if (own.some((l) => l.includes('set up 2 sockets'))) return;
        why = 'krb5kdc could not bind both its UDP and TCP ports';
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    if (exited) why = 'krb5kdc exited';
    if (child.pid !== undefined) await killPid(child.pid, 500);
    this.kdc = undefined;
    throw new Error(`${why} (port ${this.kdcPort}):\n${this.readIfExists('kdc.stdout')}\n${this.kdcLog()}`);
  }

  async stopKdc(): Promise<void> {
    const child = this.kdc;
    this.kdc = undefined;
    if (child?.pid !== undefined) await killPid(child.pid);
  }

  async restartKdc(): Promise<void> {
    await this.stopKdc();
    await this.startKdc();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    await this.stopKdc();
    this.stopped = true;
    rmSync(this.dir, { recursive: true, force: true });
  }

  async kinit(principal: string, password?: string, ccache?: string, opts: KinitOptions = {}): Promise<RunResult> {
    const short = principal.replace(/@.*$/, '');
    const pw = password ?? this.passwords[short];
    const args = [...(ccache ? ['-c', asCcache(ccache)] : []), ...(opts.args ?? []), this.principal(principal)];
    const extra: Record<string, string> = {};
    if (opts.enctypes && opts.enctypes.length > 0) {
      // kinit has no enctype option: a profile listed first in KRB5_CONFIG overrides ours.
      const override = join(this.dir, `enctypes-${++this.overrideSeq}.conf`);
      const list = opts.enctypes.join(' ');
      writeFileSync(override, `[libdefaults]\n    default_tkt_enctypes = ${list}\n    permitted_enctypes = ${list}\n`);
      extra.KRB5_CONFIG = `${override}:${this.krb5ConfPath}`;
    }
    const r = await run('kinit', args, {
      env: this.childEnv(extra),
      input: pw !== undefined ? pw + '\n' : '',
      timeoutMs: opts.timeoutMs ?? 15_000,
    });
    if (r.code !== 0 && !opts.allowFailure) throw new Error(describeFailure(r));
    return r;
  }

  async klist(ccache?: string, args: readonly string[] = ['-e']): Promise<string> {
    const r = await run('klist', [...args, ...(ccache ? ['-c', asCcache(ccache)] : [])], { env: this.childEnv() });
    if (r.code !== 0) throw new Error(describeFailure(r));
    return r.stdout;
  }

  async kvno(
    service: string | readonly string[],
    opts: { ccache?: string; enctype?: string; allowFailure?: boolean } = {},
  ): Promise<string> {
    const services = typeof service === 'string' ? [service] : [...service];
    const args = [
      ...(opts.ccache ? ['-c', asCcache(opts.ccache)] : []),
      ...(opts.enctype ? ['-e', opts.enctype] : []),
      ...services,
    ];
    const r = await run('kvno', args, { env: this.childEnv() });
    if (r.code !== 0 && !opts.allowFailure) throw new Error(describeFailure(r));
    return r.stdout + r.stderr;
  }

  kdcLog(): string {
    return this.readIfExists('kdc.log');
  }

  private readIfExists(name: string): string {
    try {
      return readFileSync(join(this.dir, name), 'utf8');
    } catch {
      return '';
    }
  }
}

function asCcache(c: string): string {
  return /^[A-Z]+:/.test(c) ? c : `FILE:${c}`;
}

/**
 * Creates and starts a private realm. Retries with fresh ports when another process grabbed the
 * chosen port before krb5kdc bound it. Always pair with `await realm.stop()` in after().
 */
export async function createRealm(opts: RealmOptions = {}): Promise<Realm> {
  requireBinaries(REALM_BINARIES);
  const realm = new MitRealm(opts);
  try {
    realm.writeConfig(await freeUdpTcpPort());
    await realm.createDatabase();
    if (opts.noStart) return realm;
    for (let attempt = 1; ; attempt++) {
      try {
        await realm.startKdc();
        return realm;
      } catch (e) {
        if (attempt >= 3) throw e;
        // The ports are only in the profiles, not in the database: rewrite and try again.
        realm.writeConfig(await freeUdpTcpPort());
      }
    }
  } catch (e) {
    await realm.stop();
    throw e;
  }
}
