// krb5.conf as MIT's profile library reads it.
//
// Syntax (MIT prof_parse.c behaviour): lines before the first line starting with "[" are ignored;
// "[name]" (optionally followed by "*") opens a top-level section; "tag = value" adds a relation
// (the value is the rest of the line, trailing whitespace removed, or a "quoted string" with \n \t
// \b escapes); "tag = {" (or "tag =" with "{" on the next line) opens a subsection closed by "}";
// lines whose first non-blank character is "#" or ";" are comments (only on their own line:
// "a = b # c" has the value "b # c"); "*" final markers are accepted and ignored; "include PATH"
// and "includedir DIR" at the very start of a line read another file / every file of a directory
// named only with [A-Za-z0-9_-] or ending in ".conf" (not starting with "."). Repeated tags keep
// every value. Several files (KRB5_CONFIG, colon-separated): the first file's values come first,
// so single-valued settings take the first file's value; missing files are skipped.
//
// Syntax errors throw SspiError(SEC_E_INVALID_PARAMETER, "<file>:<line>: ...").

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SspiError } from '../../sspi/error.js';
import { SecurityStatus } from '../../sspi/status.js';

export interface ProfileNode {
  name: string;
  /** The relation's value; undefined for a subsection. */
  value?: string;
  children: ProfileNode[];
  file: string;
  line: number;
}

export interface KdcAddress {
  host: string;
  port: number;
  /** "udp"/"tcp" for a "udp/" or "tcp/" prefix, "https" for a KDC proxy URL, else "any". */
  transport: 'any' | 'udp' | 'tcp' | 'https';
  /** The configured string. */
  raw: string;
}

export interface RealmConfig {
  /** kdc entries as "host:port" (default port 88; IPv6 hosts in brackets). */
  kdc: string[];
  kdcAddresses: KdcAddress[];
  adminServer: string[];
  masterKdc: string[];
  kpasswdServer: string[];
  defaultDomain?: string;
}

const MAX_INCLUDE_DEPTH = 5;

const syntax = (file: string, line: number, detail: string): SspiError =>
  new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, `${file}:${line}: ${detail}`);

const isSpace = (c: string | undefined): boolean => c !== undefined && /\s/.test(c);

function unquote(s: string): string {
  let out = '';
  for (let i = 0; i < s.length && s[i] !== '"'; i++) {
    let c = s[i]!;
    if (c === '\\' && i + 1 < s.length) {
      const n = s[++i]!;
      c = n === 'n' ? '\n' : n === 't' ? '\t' : n === 'b' ? '\b' : n;
    }
    out += c;
  }
  return out;
}

interface ParseState {
  root: ProfileNode;
  stack: ProfileNode[]; // [section, sub, sub, ...]; empty before the first section
  awaitingBrace: boolean;
  started: boolean;
}

export interface ParseOptions {
  /** Read an included file; default fs.readFileSync(path, 'utf8'). */
  readFile?: (path: string) => string;
  /** List an included directory; default fs.readdirSync. */
  readDir?: (path: string) => string[];
}

/** Parses profile text into a tree (root children are the sections). `file` is used in error messages. */
export function parseProfile(text: string, file = 'krb5.conf', opts: ParseOptions = {}, root?: ProfileNode, depth = 0): ProfileNode {
  const tree = root ?? { name: '(root)', children: [], file, line: 0 };
  const st: ParseState = { root: tree, stack: [], awaitingBrace: false, started: false };
  const lines = text.split(/\r\n|\n|\r/);
  lines.forEach((raw, idx) => parseLine(raw, idx + 1, file, st, opts, depth));
  if (st.awaitingBrace) throw syntax(file, lines.length, "missing '{' after a relation with no value");
  if (st.stack.length > 1) throw syntax(file, lines.length, `missing '}' for "${st.stack[st.stack.length - 1]!.name}"`);
  return tree;
}

function parseLine(line: string, n: number, file: string, st: ParseState, opts: ParseOptions, depth: number): void {
  for (const dir of ['include', 'includedir'] as const) {
    if (line.startsWith(dir) && isSpace(line[dir.length])) {
      const target = line.slice(dir.length).trim();
      if (depth >= MAX_INCLUDE_DEPTH) throw syntax(file, n, `${dir} nested more than ${MAX_INCLUDE_DEPTH} deep`);
      if (dir === 'include') includeFile(target, file, n, st.root, opts, depth);
      else includeDir(target, file, n, st.root, opts, depth);
      return;
    }
  }
  if (!st.started) {
    if (line[0] !== '[') return; // MIT: everything before the first section is a comment
    st.started = true;
  }
  if (st.awaitingBrace) {
    if (line.trimStart()[0] !== '{') throw syntax(file, n, "missing '{' after a relation with no value");
    st.awaitingBrace = false;
    return;
  }
  const cp = line.trimStart();
  if (cp === '' || cp[0] === '#' || cp[0] === ';') return;
  if (cp[0] === '[') {
    if (st.stack.length > 1) throw syntax(file, n, 'section header inside a { } block');
    const close = cp.indexOf(']');
    if (close < 0) throw syntax(file, n, "section header without ']'");
    const name = cp.slice(1, close);
    let rest = cp.slice(close + 1);
    if (rest[0] === '*') rest = rest.slice(1);
    if (rest.trim() !== '') throw syntax(file, n, `unexpected text after section header: ${JSON.stringify(rest.trim())}`);
    let sec = st.root.children.find((c) => c.value === undefined && c.name === name);
    if (!sec) {
      sec = { name, children: [], file, line: n };
      st.root.children.push(sec);
    }
    st.stack = [sec];
    return;
  }
  if (cp[0] === '}') {
    if (st.stack.length <= 1) throw syntax(file, n, "extra '}'");
    st.stack.pop();
    return;
  }
  const eq = cp.indexOf('=');
  if (eq < 0) throw syntax(file, n, `expected "tag = value", "[section]" or "}" but found ${JSON.stringify(cp.trimEnd())}`);
  if (eq === 0) throw syntax(file, n, 'relation without a tag');
  const lhs = cp.slice(0, eq).trimEnd();
  if (/\s/.test(lhs)) throw syntax(file, n, `tag ${JSON.stringify(lhs)} contains whitespace`);
  const star = lhs.indexOf('*');
  const tag = star >= 0 ? lhs.slice(0, star) : lhs;
  const parent = st.stack[st.stack.length - 1]!;
  let value = cp.slice(eq + 1).trimStart();
  if (value === '' || (value[0] === '{' && value.slice(1).trim() === '')) {
    if (value === '') st.awaitingBrace = true;
    const sub: ProfileNode = { name: tag, children: [], file, line: n };
    parent.children.push(sub);
    st.stack.push(sub);
    return;
  }
  value = value[0] === '"' ? unquote(value.slice(1)) : value.trimEnd();
  parent.children.push({ name: tag, value, children: [], file, line: n });
}

function includeFile(path: string, from: string, n: number, root: ProfileNode, opts: ParseOptions, depth: number): void {
  let text: string;
  try {
    text = (opts.readFile ?? ((p: string) => readFileSync(p, 'utf8')))(path);
  } catch {
    throw syntax(from, n, `cannot read included file ${path}`);
  }
  // An included file is parsed with a fresh state (it must open its own sections) into the same tree.
  parseProfile(text, path, opts, root, depth + 1);
}

function validIncludeName(name: string): boolean {
  if (name.startsWith('.')) return false;
  return name.endsWith('.conf') || /^[A-Za-z0-9_-]+$/.test(name);
}

function includeDir(dir: string, from: string, n: number, root: ProfileNode, opts: ParseOptions, depth: number): void {
  let names: string[];
  try {
    names = (opts.readDir ?? ((p: string) => readdirSync(p)))(dir);
  } catch {
    throw syntax(from, n, `cannot read included directory ${dir}`);
  }
  for (const name of [...names].sort()) {
    if (!validIncludeName(name)) continue;
    const p = join(dir, name);
    if (!opts.readDir) {
      try {
        if (!statSync(p).isFile()) continue;
      } catch {
        continue;
      }
    }
    includeFile(p, from, n, root, opts, depth);
  }
}

// ---- values ---------------------------------------------------------------------------------

/** MIT enctype names and aliases → numbers (lower case). */
export const ENCTYPE_NAMES: Readonly<Record<string, number>> = {
  'des-cbc-crc': 1,
  'des-cbc-md4': 2,
  'des-cbc-md5': 3,
  des: 3,
  'des-cbc-raw': 4,
  'des3-cbc-raw': 6,
  'des-hmac-sha1': 8,
  'des3-cbc-sha1': 16,
  'des3-hmac-sha1': 16,
  'des3-cbc-sha1-kd': 16,
  'aes128-cts-hmac-sha1-96': 17,
  'aes128-cts': 17,
  'aes128-sha1': 17,
  'aes256-cts-hmac-sha1-96': 18,
  'aes256-cts': 18,
  'aes256-sha1': 18,
  'aes128-cts-hmac-sha256-128': 19,
  'aes128-sha2': 19,
  'aes256-cts-hmac-sha384-192': 20,
  'aes256-sha2': 20,
  'arcfour-hmac': 23,
  'rc4-hmac': 23,
  'arcfour-hmac-md5': 23,
  'arcfour-hmac-exp': 24,
  'rc4-hmac-exp': 24,
  'arcfour-hmac-md5-exp': 24,
  'camellia128-cts-cmac': 25,
  'camellia128-cts': 25,
  'camellia256-cts-cmac': 26,
  'camellia256-cts': 26,
};

/** MIT's weak enctypes (dropped unless allow_weak_crypto): single DES and export-grade RC4. */
export const WEAK_ENCTYPES: readonly number[] = [1, 2, 3, 4, 6, 8, 24];

/** MIT's built-in default enctype list (what DEFAULT expands to). */
export const DEFAULT_ENCTYPES: readonly number[] = [18, 17, 20, 19, 16, 23, 26, 25];

const FAMILIES: Readonly<Record<string, readonly number[]>> = {
  des: [1, 3, 2],
  des3: [16],
  aes: [18, 17, 20, 19],
  rc4: [23],
  camellia: [26, 25],
};

/**
 * Parses an enctype list as MIT does: words separated by blanks or commas, "+"/"-" prefixes,
 * DEFAULT, the families des/des3/aes/rc4/camellia, names, aliases and numbers; unknown words
 * are skipped, duplicates dropped, weak enctypes dropped unless `allowWeak`.
 */
export function parseEnctypeList(s: string, allowWeak = false, defaults: readonly number[] = DEFAULT_ENCTYPES): number[] {
  const list: number[] = [];
  const mod = (e: number, add: boolean): void => {
    if (!allowWeak && WEAK_ENCTYPES.includes(e)) return;
    const i = list.indexOf(e);
    if (add && i < 0) list.push(e);
    if (!add && i >= 0) list.splice(i, 1);
  };
  for (let tok of s.split(/[\s,]+/)) {
    if (tok === '') continue;
    let add = true;
    if (tok[0] === '+' || tok[0] === '-') {
      add = tok[0] === '+';
      tok = tok.slice(1);
    }
    const lower = tok.toLowerCase();
    if (lower === 'default') defaults.forEach((e) => mod(e, add));
    else if (FAMILIES[lower]) FAMILIES[lower].forEach((e) => mod(e, add));
    else if (ENCTYPE_NAMES[lower] !== undefined) mod(ENCTYPE_NAMES[lower], add);
    else if (/^-?\d+$/.test(tok) && Number(tok) !== 0 && Math.abs(Number(tok)) < 2 ** 31) mod(Number(tok), add);
  }
  return list;
}

/** MIT profile booleans: y yes true t 1 on / n no false nil 0 off (case-insensitive); undefined otherwise. */
export function parseBoolean(s: string): boolean | undefined {
  const v = s.toLowerCase();
  if (['y', 'yes', 'true', 't', '1', 'on'].includes(v)) return true;
  if (['n', 'no', 'false', 'nil', '0', 'off'].includes(v)) return false;
  return undefined;
}

/**
 * MIT durations (krb5_string_to_deltat): "36000" (seconds), "10h", "1d 2h 30m 5s", "10h0m0s",
 * "h:mm" / "h:mm:ss", "2d 10:00". Undefined when it does not parse.
 */
export function parseDuration(s: string): number | undefined {
  const t = s.trim();
  if (/^-?\d+$/.test(t)) return Number(t);
  let m = /^(?:(\d+)\s*d\s*)?(-?\d+):(\d{1,2})(?::(\d{1,2}))?$/.exec(t);
  if (m) {
    const sign = m[2]!.startsWith('-') ? -1 : 1;
    return Number(m[1] ?? 0) * 86400 + sign * (Math.abs(Number(m[2])) * 3600 + Number(m[3]) * 60 + Number(m[4] ?? 0));
  }
  m = /^(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?$/.exec(t);
  if (m && t !== '' && (m[1] ?? m[2] ?? m[3] ?? m[4]) !== undefined) {
    return Number(m[1] ?? 0) * 86400 + Number(m[2] ?? 0) * 3600 + Number(m[3] ?? 0) * 60 + Number(m[4] ?? 0);
  }
  return undefined;
}

/** Parses a kdc/admin_server value: "host", "host:port", "[v6]:port", "tcp/host:port", "https://proxy/path". */
export function parseKdcAddress(raw: string, defaultPort = 88): KdcAddress | undefined {
  let s = raw.trim();
  if (/^https:\/\//i.test(s)) {
    try {
      const u = new URL(s);
      return { host: u.hostname, port: u.port ? Number(u.port) : 443, transport: 'https', raw };
    } catch {
      return undefined;
    }
  }
  let transport: KdcAddress['transport'] = 'any';
  const pm = /^(udp|tcp)\//i.exec(s);
  if (pm) {
    transport = pm[1]!.toLowerCase() as 'udp' | 'tcp';
    s = s.slice(pm[0].length);
  }
  let host: string;
  let portStr: string | undefined;
  const v6 = /^\[([^\]]+)\](?::(.*))?$/.exec(s);
  if (v6) {
    host = v6[1]!;
    portStr = v6[2];
  } else if ((s.match(/:/g) ?? []).length === 1) {
    [host, portStr] = s.split(':') as [string, string];
  } else {
    host = s; // a bare IPv6 address or a plain host name
  }
  if (host === '') return undefined;
  let port = defaultPort;
  if (portStr !== undefined) {
    if (!/^\d{1,5}$/.test(portStr) || Number(portStr) < 1 || Number(portStr) > 65535) return undefined;
    port = Number(portStr);
  }
  return { host, port, transport, raw };
}

function hostPort(a: KdcAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

// ---- the configuration ------------------------------------------------------------------------

export interface Krb5ConfigLoadOptions extends ParseOptions {
  env?: NodeJS.ProcessEnv;
}

export class Krb5Config {
  /** One tree per file, in precedence order. */
  constructor(readonly trees: readonly ProfileNode[]) {}

  /** Every value at `path` (section, subsections..., tag), first file's first. */
  getAll(...path: string[]): string[] {
    return this.nodes(path).filter((n) => n.value !== undefined).map((n) => n.value!);
  }

  /** The first value at `path`, or undefined. */
  get(...path: string[]): string | undefined {
    return this.getAll(...path)[0];
  }

  /** Every node at `path` (relations and subsections). */
  nodes(path: readonly string[]): ProfileNode[] {
    let level: ProfileNode[] = [...this.trees];
    for (const name of path) level = level.flatMap((n) => n.children.filter((c) => c.name === name));
    return level;
  }

  /** Names of the subsections of `path` (e.g. nodes of [realms]), without duplicates. */
  subsectionNames(...path: string[]): string[] {
    const out: string[] = [];
    for (const n of this.nodes(path)) for (const c of n.children) if (c.value === undefined && !out.includes(c.name)) out.push(c.name);
    return out;
  }

  private lib(tag: string): string | undefined {
    return this.get('libdefaults', tag);
  }

  private bool(tag: string, dflt: boolean): boolean {
    const node = this.nodes(['libdefaults', tag]).find((n) => n.value !== undefined);
    if (!node) return dflt;
    const b = parseBoolean(node.value!);
    if (b === undefined) throw syntax(node.file, node.line, `${tag}: "${node.value}" is not a boolean`);
    return b;
  }

  private duration(tag: string, dflt: number): number {
    const node = this.nodes(['libdefaults', tag]).find((n) => n.value !== undefined);
    if (!node) return dflt;
    const d = parseDuration(node.value!);
    if (d === undefined) throw syntax(node.file, node.line, `${tag}: "${node.value}" is not a duration`);
    return d;
  }

  private integer(tag: string, dflt: number): number {
    const node = this.nodes(['libdefaults', tag]).find((n) => n.value !== undefined);
    if (!node) return dflt;
    if (!/^\s*-?\d+\s*$/.test(node.value!)) throw syntax(node.file, node.line, `${tag}: "${node.value}" is not an integer`);
    return Number(node.value);
  }

  get defaultRealm(): string | undefined {
    return this.lib('default_realm');
  }
  get allowWeakCrypto(): boolean {
    return this.bool('allow_weak_crypto', false);
  }
  private enctypes(tag: string): number[] {
    return parseEnctypeList(this.lib(tag) ?? 'DEFAULT', this.allowWeakCrypto);
  }
  get permittedEnctypes(): number[] {
    return this.enctypes('permitted_enctypes');
  }
  get defaultTktEnctypes(): number[] {
    return this.enctypes('default_tkt_enctypes');
  }
  get defaultTgsEnctypes(): number[] {
    return this.enctypes('default_tgs_enctypes');
  }
  /** Seconds; default 300. */
  get clockskew(): number {
    return this.duration('clockskew', 300);
  }
  /** Bytes; default 1465. */
  get udpPreferenceLimit(): number {
    return this.integer('udp_preference_limit', 1465);
  }
  get dnsLookupKdc(): boolean {
    const n = this.nodes(['libdefaults', 'dns_lookup_kdc']).length > 0 ? 'dns_lookup_kdc' : 'dns_fallback';
    return this.bool(n, true);
  }
  get dnsLookupRealm(): boolean {
    const n = this.nodes(['libdefaults', 'dns_lookup_realm']).length > 0 ? 'dns_lookup_realm' : 'dns_fallback';
    return this.bool(n, false);
  }
  /** Seconds; default one day. */
  get ticketLifetime(): number {
    return this.duration('ticket_lifetime', 86400);
  }
  /** Seconds; default 0 (no renewable tickets requested). */
  get renewLifetime(): number {
    return this.duration('renew_lifetime', 0);
  }
  get forwardable(): boolean {
    return this.bool('forwardable', false);
  }
  get proxiable(): boolean {
    return this.bool('proxiable', false);
  }
  get rdns(): boolean {
    return this.bool('rdns', true);
  }
  /** true, false or "fallback" (MIT 1.18+); default true. */
  get dnsCanonicalizeHostname(): boolean | 'fallback' {
    return this.dnsCanonicalizeHostnameSetting ?? true;
  }
  /** dns_canonicalize_hostname as the files set it; undefined when they say nothing MIT reads. */
  get dnsCanonicalizeHostnameSetting(): boolean | 'fallback' | undefined {
    const node = this.nodes(['libdefaults', 'dns_canonicalize_hostname']).find((n) => n.value !== undefined);
    if (!node) return undefined;
    return node.value!.toLowerCase() === 'fallback' ? 'fallback' : this.bool('dns_canonicalize_hostname', true);
  }
  get defaultCcacheName(): string | undefined {
    return this.lib('default_ccache_name');
  }
  get defaultKeytabName(): string | undefined {
    return this.lib('default_keytab_name');
  }
  get defaultClientKeytabName(): string | undefined {
    return this.lib('default_client_keytab_name');
  }
  /** [libdefaults] kcm_socket: the KCM daemon's Unix socket ("-": none); undefined when not set. */
  get kcmSocket(): string | undefined {
    return this.lib('kcm_socket');
  }

  /** The [realms] entries, each realm's kdc/admin_server/... lists. */
  get realms(): Record<string, RealmConfig> {
    const out: Record<string, RealmConfig> = {};
    for (const name of this.subsectionNames('realms')) out[name] = this.realm(name);
    return out;
  }

  realm(name: string): RealmConfig {
    const addrs = (tag: string, port: number): KdcAddress[] =>
      this.getAll('realms', name, tag).flatMap((v) => {
        const a = parseKdcAddress(v, port);
        return a ? [a] : [];
      });
    const kdcAddresses = addrs('kdc', 88);
    const rc: RealmConfig = {
      kdc: kdcAddresses.map(hostPort),
      kdcAddresses,
      adminServer: addrs('admin_server', 749).map(hostPort),
      masterKdc: addrs('master_kdc', 88).map(hostPort),
      kpasswdServer: addrs('kpasswd_server', 464).map(hostPort),
    };
    const dd = this.get('realms', name, 'default_domain');
    if (dd !== undefined) rc.defaultDomain = dd;
    return rc;
  }

  /**
   * The realm [domain_realm] maps `host` to, as MIT's profile host-realm module does: the host
   * (lower case, trailing dot removed), then each parent: ".b.c", "b.c", ".c", "c". Undefined when
   * nothing matches.
   */
  domainRealm(host: string): string | undefined {
    let h = host.toLowerCase();
    if (h.endsWith('.')) h = h.slice(0, -1);
    let p = 0;
    while (p < h.length) {
      const v = this.get('domain_realm', h.slice(p));
      if (v !== undefined) return v;
      if (h[p] === '.') p += 1;
      else {
        const dot = h.indexOf('.', p);
        if (dot < 0) break;
        p = dot;
      }
    }
    return undefined;
  }

  /**
   * The intermediate realms [capaths] lists from `client` to `server`, as MIT's
   * rtree_capath_vals reads them: every value of `[capaths] CLIENT = { SERVER = ... }` in order,
   * each cut at its first blank; a first value starting with "." means "directly connected" (no
   * intermediates: []). Undefined when there is no such relation.
   */
  capaths(client: string, server: string): string[] | undefined {
    const vals = this.getAll('capaths', client, server).map((v) => v.split(/[\t ]/)[0]!);
    if (vals.length === 0) return undefined;
    return vals[0]!.startsWith('.') ? [] : vals;
  }
}

/** Parses profile texts (first has precedence) into a Krb5Config. */
export function parseKrb5Conf(text: string, file = 'krb5.conf', opts: ParseOptions = {}): Krb5Config {
  return new Krb5Config([parseProfile(text, file, opts)]);
}

/** The files MIT reads: KRB5_CONFIG split on ":" (empty items dropped), else /etc/krb5.conf. */
export function krb5ConfigPaths(env: NodeJS.ProcessEnv = process.env): string[] {
  const v = env.KRB5_CONFIG;
  if (v === undefined || v === '') return ['/etc/krb5.conf'];
  return v.split(':').filter((p) => p !== '');
}

/**
 * Loads krb5.conf the way krb5_init_context does: each file of `paths` (default krb5ConfigPaths())
 * that exists, in order; a missing file is skipped (none at all gives an empty configuration).
 */
export function loadKrb5Config(paths?: readonly string[], opts: Krb5ConfigLoadOptions = {}): Krb5Config {
  const trees: ProfileNode[] = [];
  for (const p of paths ?? krb5ConfigPaths(opts.env)) {
    let text: string;
    try {
      text = (opts.readFile ?? ((f: string) => readFileSync(f, 'utf8')))(p);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') continue;
      throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, `${p}: cannot read (${code ?? 'error'})`, { cause: e });
    }
    trees.push(parseProfile(text, p, opts));
  }
  return new Krb5Config(trees);
}
