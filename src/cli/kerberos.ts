// `tslsa kinit | klist | kvno | kdestroy | kswitch | ktutil`: MIT's Kerberos user commands with MIT's habits
// (options, default cache and keytab names, output layout), over our own Kerberos client.
//
//   tslsa kinit [-c CCACHE] [-k [-t KEYTAB]] [-l LIFE] [-r RENEW] [-f] [PRINCIPAL]
//   tslsa kinit -R [-c CCACHE] [PRINCIPAL]          (renew the TGT in the cache)
//   tslsa klist [-e] [-c CCACHE] | klist -l | klist -A [-e] | klist -k [-e] [KEYTAB]
//   tslsa kvno [-c CCACHE] [-e ENCTYPE] SERVICE...
//   tslsa kdestroy [-A] [-c CCACHE]
//   tslsa kswitch -c CCACHE | -p PRINCIPAL             (DIR and KCM collections: change the primary cache)
//   tslsa ktutil list [-k KEYTAB] [-e]
//   tslsa ktutil add -k KEYTAB -p PRINCIPAL -e ENCTYPE [-V KVNO] [-s SALT]     (password on stdin)
//
// Passwords come from the terminal (not echoed) or, when stdin is not a terminal, its first line.

import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { resolveCcacheName, resolveKeytabName } from '../packages/kerberos/ccache.js';
import { getEnctype, stringToKey } from '../packages/kerberos/crypto/index.js';
import {
  formatPrincipal,
  type KeytabEntry,
  type KrbPrincipal,
  keytabPath,
  principalEquals,
  readKeytabFile,
  writeKeytabFile,
} from '../packages/kerberos/keytab.js';
import { ENCTYPE_NAMES, type Krb5Config, loadKrb5Config, parseDuration } from '../packages/kerberos/krb5conf.js';
import { defaultSalt, getInitialTicket, resolvePrincipal } from '../packages/kerberos/client/as.js';
import type { CredentialCache } from '../packages/kerberos/client/cache.js';
import { collectionOfCache, openCredentialCache, openCredentialCollection } from '../packages/kerberos/client/open.js';
import { keytabKeys } from '../packages/kerberos/client/credentials.js';
import { clientPolicy } from '../packages/kerberos/client/policy.js';
import { getServiceTicket, renewTicket } from '../packages/kerberos/client/tgs.js';
import { isTgtFor } from '../packages/kerberos/client/types.js';
import { SspiError } from '../sspi/error.js';
import { parseArgs, UsageError } from './args.js';
import { readPasswordLine } from './user.js';

export interface KerberosCommandIO {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** KRB5_CONFIG, KRB5CCNAME, KRB5_KTNAME, KRB5_CLIENT_KTNAME (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Clock for tests; default the system's. */
  now?: () => Date;
}

/** MIT's enctype names as klist prints them (deprecated ones prefixed, as MIT 1.18+ does). */
export function enctypeDisplayName(e: number): string {
  switch (e) {
    case 17:
      return 'aes128-cts-hmac-sha1-96';
    case 18:
      return 'aes256-cts-hmac-sha1-96';
    case 19:
      return 'aes128-cts-hmac-sha256-128';
    case 20:
      return 'aes256-cts-hmac-sha384-192';
    case 23:
      return 'DEPRECATED:arcfour-hmac';
    case 16:
      return 'DEPRECATED:des3-cbc-sha1';
    case 25:
      return 'camellia128-cts-cmac';
    case 26:
      return 'camellia256-cts-cmac';
    default:
      return `unsupported encryption type ${e}`;
  }
}

/** klist's timestamp: "%x %X" in the C locale, local time (MM/DD/YY HH:MM:SS). */
export function klistTime(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${p(d.getMonth() + 1)}/${p(d.getDate())}/${p(d.getFullYear() % 100)} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function enctypeNumber(name: string): number {
  const n = ENCTYPE_NAMES[name.toLowerCase()] ?? (/^\d+$/.test(name) ? Number(name) : undefined);
  if (n === undefined) throw new UsageError(`unknown enctype '${name}'`);
  return n;
}

async function readPassword(io: KerberosCommandIO, prompt: string): Promise<string> {
  const stdin = io.stdin;
  if (stdin.isTTY && typeof stdin.setRawMode === 'function') {
    io.stderr.write(prompt);
    stdin.setRawMode(true);
    try {
      let pw = '';
      for await (const chunk of stdin as AsyncIterable<Buffer | string>) {
        for (const ch of typeof chunk === 'string' ? chunk : chunk.toString('utf8')) {
          if (ch === '\r' || ch === '\n') return pw;
          if (ch === '\u0003') throw new UsageError('interrupted');
          if (ch === '\u007f' || ch === '\b') pw = pw.slice(0, -1);
          else pw += ch;
        }
      }
      return pw;
    } finally {
      stdin.setRawMode(false);
      io.stderr.write('\n');
    }
  }
  return readPasswordLine(stdin);
}

/** Runs one command; Kerberos failures print "CMD: message" on stderr and give exit code 1, as MIT's tools do. */
export async function kerberosCommand(cmd: string, argv: readonly string[], io: KerberosCommandIO): Promise<number> {
  try {
    return await dispatch(cmd, argv, io);
  } catch (e) {
    if (e instanceof SspiError) {
      io.stderr.write(`${cmd}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

async function dispatch(cmd: string, argv: readonly string[], io: KerberosCommandIO): Promise<number> {
  const env = io.env ?? process.env;
  const config = loadKrb5Config(undefined, { env });
  switch (cmd) {
    case 'kinit':
      return kinit(argv, io, env, config);
    case 'klist':
      return klist(argv, io, env, config);
    case 'kvno':
      return kvno(argv, io, env, config);
    case 'kdestroy':
      return kdestroy(argv, io, env, config);
    case 'kswitch':
      return kswitch(argv, io, env, config);
    case 'ktutil':
      return ktutil(argv, io, env, config);
    default:
      throw new UsageError(`unknown command '${cmd}'`);
  }
}

function cacheFor(opt: string | true | undefined, env: NodeJS.ProcessEnv, config: Krb5Config) {
  return openCredentialCache(typeof opt === 'string' ? opt : undefined, { config, env });
}

async function kinit(argv: readonly string[], io: KerberosCommandIO, env: NodeJS.ProcessEnv, config: Krb5Config): Promise<number> {
  const { positionals, options } = parseArgs(argv, new Set(['c', 't', 'l', 'r']));
  if (positionals.length > 1) throw new UsageError('kinit takes at most one principal');
  const named = options.get('c');
  const defaultCache = cacheFor(named, env, config);
  if (options.has('R')) return kinitRenew(positionals[0], options, defaultCache, io, config);
  const useKeytab = options.has('k') || options.has('t');
  const duration = (o: string): number | undefined => {
    const v = options.get(o);
    if (typeof v !== 'string') return undefined;
    const d = parseDuration(v);
    if (d === undefined || d <= 0) throw new UsageError(`-${o}: bad duration '${v}'`);
    return d;
  };
  const lifetime = duration('l');
  const renew = duration('r');
  const common = {
    config,
    ...(io.now ? { now: io.now } : {}),
    ...(lifetime !== undefined ? { lifetime } : {}),
    ...(renew !== undefined ? { renewLifetime: renew } : {}),
    ...(options.has('f') ? { forwardable: true } : {}),
  };
  const defaultPrincipal = await defaultCache.principal().catch(() => undefined);
  let result;
  if (useKeytab) {
    const t = options.get('t');
    const ktName = typeof t === 'string' ? t : (resolveKeytabName({ env, ...(config.defaultKeytabName ? { configDefault: config.defaultKeytabName } : {}) }).path ?? '');
    const want = positionals[0] !== undefined ? resolvePrincipal(positionals[0], config) : undefined;
    const { principal, keys } = keytabKeys(ktName, want);
    result = await getInitialTicket({ principal, keys, ...common });
  } else {
    const principal = resolvePrincipal(positionals[0] ?? (defaultPrincipal ? formatPrincipal(defaultPrincipal) : userInfo().username), config);
    const password = await readPassword(io, `Password for ${formatPrincipal(principal)}: `);
    result = await getInitialTicket({ principal, password, ...common });
  }
  // Chosen after the KDC answered, so a failed kinit leaves no empty cache behind in a collection.
  const target = await kinitTarget(result.credential.client, named, defaultCache, defaultPrincipal, env, config);
  await target.cache.initialize(result.credential.client);
  await target.cache.store(result.credential);
  await target.switchTo?.();
  return 0;
}

/**
 * Where kinit puts the new TGT, as MIT's kinit chooses: the named or default cache; but when the
 * default is a DIR or KCM collection, the collection's cache for this principal if it has one, else (the
 * primary holding someone else) a new cache; either becomes the primary once the TGT is stored.
 */
async function kinitTarget(
  principal: KrbPrincipal, named: string | true | undefined, defaultCache: CredentialCache, defaultPrincipal: KrbPrincipal | undefined,
  env: NodeJS.ProcessEnv, config: Krb5Config,
): Promise<{ cache: CredentialCache; switchTo?: () => Promise<void> }> {
  const collection = named === undefined ? openCredentialCollection(undefined, { config, env }) : undefined;
  if (collection === undefined) return { cache: defaultCache };
  const cache = (await collection.match(principal)) ?? (defaultPrincipal !== undefined ? await collection.newUnique() : undefined);
  return cache === undefined ? { cache: defaultCache } : { cache, switchTo: () => collection.switchTo(cache) };
}

/**
 * kinit -R, as MIT's: the cache's TGT renewed by the KDC (TGS with the RENEW option), then the cache
 * started again with the renewed TGT alone. A TGT that is not renewable, expired, or past its
 * renew-till is refused (exit 1), as are -k/-t/-l/-r/-f, which ask for a new TGT, not a renewal.
 */
async function kinitRenew(
  name: string | undefined, options: Map<string, string | true>, cache: CredentialCache, io: KerberosCommandIO, config: Krb5Config,
): Promise<number> {
  for (const o of ['k', 't', 'l', 'r', 'f']) if (options.has(o)) throw new UsageError(`kinit -R renews the TGT in the cache: -${o} does not apply`);
  const fail = (why: string): number => {
    io.stderr.write(`kinit: ${why} while renewing credentials\n`);
    return 1;
  };
  const principal = await cache.principal();
  if (!principal) return fail(`No credentials cache found (filename: ${cacheFileName(cache)})`);
  if (name !== undefined && !principalEquals(resolvePrincipal(name, config), principal)) {
    return fail(`the cache ${cache.name} holds ${formatPrincipal(principal)}, not ${name}`);
  }
  const tgt = (await cache.list())
    .filter((t) => principalEquals(t.client, principal) && isTgtFor(t, principal.realm))
    .sort((a, b) => b.endtime.getTime() - a.endtime.getTime())[0];
  if (!tgt) return fail(`Matching credential not found (no TGT for ${formatPrincipal(principal)} in ${cache.name})`);
  let renewed;
  try {
    renewed = await renewTicket(tgt, { config, ...(io.now ? { now: io.now } : {}) });
  } catch (e) {
    if (e instanceof SspiError) return fail(e.message);
    throw e;
  }
  await cache.initialize(principal);
  await cache.store(renewed);
  return 0;
}

async function klist(argv: readonly string[], io: KerberosCommandIO, env: NodeJS.ProcessEnv, config: Krb5Config): Promise<number> {
  const { positionals, options } = parseArgs(argv, new Set(['c']));
  const showEtype = options.has('e');
  if (options.has('k')) return listKeytab(positionals[0], showEtype, io, env, config, 'klist');
  const name = options.get('c') ?? positionals[0];
  if (options.has('l') || options.has('A')) {
    const named = typeof name === 'string' ? name : undefined;
    const collection = openCredentialCollection(named, { config, env });
    const caches = collection ? await collection.caches() : [cacheFor(named, env, config)];
    return options.has('l') ? listCaches(caches, io) : showAllCaches(caches, showEtype, io);
  }
  return showCache(cacheFor(name, env, config), showEtype, io);
}

// klist -l: one line per initialized cache, "(Expired)" when it holds no current TGT (nor, without
// a TGT, any current ticket), as MIT's klist decides it. Exit 1 when no cache is listed.
async function listCaches(caches: readonly CredentialCache[], io: KerberosCommandIO): Promise<number> {
  const out = [`${'Principal name'.padEnd(30)} Cache name`, `${'--------------'.padEnd(30)} ----------`];
  const now = io.now?.() ?? new Date();
  let listed = 0;
  for (const cache of caches) {
    const principal = await cache.principal().catch(() => undefined);
    if (!principal) continue;
    const tickets = await cache.list();
    const tgts = tickets.filter((t) => isTgtFor(t, principal.realm));
    const current = (t: { endtime: Date }): boolean => t.endtime.getTime() > now.getTime();
    const valid = tgts.length > 0 ? tgts.some(current) : tickets.some(current);
    out.push(`${formatPrincipal(principal).slice(0, 30).padEnd(30)} ${cache.name}${valid ? '' : ' (Expired)'}`);
    listed++;
  }
  io.stdout.write(out.join('\n') + '\n');
  return listed > 0 ? 0 : 1;
}

// klist -A: every cache of the collection in klist's layout, a blank line between them.
async function showAllCaches(caches: readonly CredentialCache[], showEtype: boolean, io: KerberosCommandIO): Promise<number> {
  let status = 1;
  for (const [i, cache] of caches.entries()) {
    if (i > 0) io.stdout.write('\n');
    if ((await showCache(cache, showEtype, io)) === 0) status = 0;
  }
  return status;
}

async function showCache(cache: CredentialCache, showEtype: boolean, io: KerberosCommandIO): Promise<number> {
  const principal = await cache.principal();
  if (!principal) {
    io.stderr.write(`klist: No credentials cache found (filename: ${cacheFileName(cache)})\n`);
    return 1;
  }
  const tickets = await cache.list();
  const width = 17;
  const out: string[] = [];
  out.push(`Ticket cache: ${cache.name}`, `Default principal: ${formatPrincipal(principal)}`, '');
  out.push(`Valid starting${' '.repeat(width - 15 + 3)}Expires${' '.repeat(width - 8 + 3)}Service principal`);
  for (const t of tickets) {
    out.push(`${klistTime(t.starttime ?? t.authtime)}  ${klistTime(t.endtime)}  ${formatPrincipal(t.server)}`);
    const extra: string[] = [];
    // TKT_FLG_RENEWABLE
    if (t.renewTill && t.flags & 0x00800000) extra.push(`renew until ${klistTime(t.renewTill)}`);
    if (showEtype) extra.push(`Etype (skey, tkt): ${enctypeDisplayName(t.sessionKey.enctype)}, ${enctypeDisplayName(t.ticket.encPart.etype)} `);
    if (extra.length > 0) out.push(`\t${extra.join(', ')}`);
  }
  io.stdout.write(out.join('\n') + '\n');
  return 0;
}

// The file MIT names in "No credentials cache found (filename: ...)": the path without its type prefix.
const cacheFileName = (cache: CredentialCache): string => cache.name.replace(/^(FILE|DIR):+/, '');

async function listKeytab(
  name: string | undefined, showEtype: boolean, io: KerberosCommandIO, env: NodeJS.ProcessEnv, config: Krb5Config, who: string,
): Promise<number> {
  const resolved = name ?? `FILE:${resolveKeytabName({ env, ...(config.defaultKeytabName ? { configDefault: config.defaultKeytabName } : {}) }).path ?? ''}`;
  const path = keytabPath(resolved);
  if (!existsSync(path)) {
    io.stderr.write(`${who}: Key table file '${path}' not found while starting keytab scan\n`);
    return 1;
  }
  const kt = readKeytabFile(path);
  const out = [`Keytab name: FILE:${path}`, 'KVNO Principal', `---- ${'-'.repeat(74)}`];
  for (const e of kt.entries) {
    out.push(`${String(e.kvno).padStart(4)} ${formatPrincipal(e.principal)}${showEtype ? ` (${enctypeDisplayName(e.key.enctype)}) ` : ''}`);
  }
  io.stdout.write(out.join('\n') + '\n');
  return 0;
}

async function kvno(argv: readonly string[], io: KerberosCommandIO, env: NodeJS.ProcessEnv, config: Krb5Config): Promise<number> {
  const { positionals, options } = parseArgs(argv, new Set(['c', 'e']));
  if (positionals.length === 0) throw new UsageError('kvno needs a service principal');
  const e = options.get('e');
  const enctypes = typeof e === 'string' ? [enctypeNumber(e)] : undefined;
  const cache = cacheFor(options.get('c'), env, config);
  const now = io.now?.() ?? new Date();
  const tgt = await cache.tgt(undefined, now);
  if (!tgt) {
    const p = await cache.principal();
    io.stderr.write(p ? `kvno: no current TGT for ${formatPrincipal(p)} in ${cache.name}\n` : `kvno: No credentials cache found (filename: ${cacheFileName(cache)})\n`);
    return 1;
  }
  let status = 0;
  for (const spn of positionals) {
    try {
      const t = await getServiceTicket(tgt, spn, { config, cache, ...(enctypes ? { enctypes } : {}), ...(io.now ? { now: io.now } : {}) });
      await cache.store(t);
      io.stdout.write(`${formatPrincipal(t.server)}: kvno = ${t.ticket.encPart.kvno ?? 0}\n`);
    } catch (err) {
      io.stderr.write(`kvno: ${(err as Error).message} (while getting credentials for ${spn})\n`);
      status = 1;
    }
  }
  return status;
}

// kdestroy: the cache (the primary one of a DIR or KCM collection), saying when the collection holds
// others; -A: every cache of the collection.
async function kdestroy(argv: readonly string[], io: KerberosCommandIO, env: NodeJS.ProcessEnv, config: Krb5Config): Promise<number> {
  const { options } = parseArgs(argv, new Set(['c']));
  const named = options.get('c');
  const collection = openCredentialCollection(typeof named === 'string' ? named : undefined, { config, env });
  if (options.has('A')) {
    for (const cache of collection ? await collection.caches() : [cacheFor(named, env, config)]) await cache.destroy();
    return 0;
  }
  await cacheFor(named, env, config).destroy();
  if (collection && !options.has('q')) {
    for (const other of await collection.caches()) {
      if (await other.principal().catch(() => undefined)) {
        io.stderr.write('Other credential caches present, use -A to destroy all\n');
        break;
      }
    }
  }
  return 0;
}

// kswitch -c CACHE | -p PRINCIPAL: make a cache of the default DIR or KCM collection its primary one.
async function kswitch(argv: readonly string[], io: KerberosCommandIO, env: NodeJS.ProcessEnv, config: Krb5Config): Promise<number> {
  const { positionals, options } = parseArgs(argv, new Set(['c', 'p']));
  const c = options.get('c');
  const p = options.get('p');
  if (positionals.length > 0 || (typeof c === 'string') === (typeof p === 'string')) throw new UsageError('kswitch needs exactly one of -c CCACHE or -p PRINCIPAL');
  if (typeof c === 'string') {
    const collection = collectionOfCache(c, { config, env });
    if (!collection) {
      io.stderr.write(`kswitch: credential cache ${c} cannot be made primary (caches of DIR and KCM collections can)\n`);
      return 1;
    }
    await collection.switchTo(cacheFor(c, env, config));
    return 0;
  }
  const principal = resolvePrincipal(p as string, config);
  const collection = openCredentialCollection(undefined, { config, env });
  const cache = await collection?.match(principal);
  if (!collection || !cache) {
    io.stderr.write(`kswitch: Can't find client principal ${formatPrincipal(principal)} in cache collection\n`);
    return 1;
  }
  await collection.switchTo(cache);
  return 0;
}

async function ktutil(argv: readonly string[], io: KerberosCommandIO, env: NodeJS.ProcessEnv, config: Krb5Config): Promise<number> {
  const sub = argv[0];
  // -e is a flag for list (show enctypes) and takes a value for add.
  const { positionals, options } = parseArgs(argv.slice(1), new Set(sub === 'list' ? ['k'] : ['k', 'p', 'e', 'V', 's']));
  if (sub === 'list') {
    const k = options.get('k');
    return listKeytab(typeof k === 'string' ? k : positionals[0], options.has('e'), io, env, config, 'ktutil');
  }
  if (sub !== 'add') throw new UsageError("ktutil: use 'list' or 'add'");
  const k = options.get('k');
  const p = options.get('p');
  const e = options.get('e');
  if (typeof k !== 'string' || typeof p !== 'string' || typeof e !== 'string') {
    throw new UsageError('ktutil add needs -k KEYTAB -p PRINCIPAL -e ENCTYPE');
  }
  const enctype = enctypeNumber(e);
  const policy = clientPolicy(config);
  getEnctype(enctype, policy.crypto); // refuse what we cannot derive (and rc4 unless configured)
  const v = options.get('V');
  if (v !== undefined && (typeof v !== 'string' || !/^\d+$/.test(v) || Number(v) > 0xffffffff)) throw new UsageError('-V needs a key version number');
  const kvnoValue = typeof v === 'string' ? Number(v) : 1;
  const principal = resolvePrincipal(p, config);
  const s = options.get('s');
  const salt = typeof s === 'string' ? s : defaultSalt(principal);
  const password = await readPassword(io, 'Password for ' + formatPrincipal(principal) + ': ');
  const key = stringToKey(enctype, password, salt, undefined, policy.crypto);
  const path = keytabPath(k);
  const existing: KeytabEntry[] = existsSync(path) ? readKeytabFile(path).entries : [];
  const entry: KeytabEntry = {
    principal,
    timestamp: Math.floor((io.now?.() ?? new Date()).getTime() / 1000),
    kvno: kvnoValue,
    kvno8: kvnoValue & 0xff,
    kvno32: kvnoValue,
    key: { enctype, keyvalue: key.keyvalue },
  };
  writeKeytabFile(path, [...existing, entry]);
  key.keyvalue.fill(0);
  return 0;
}

/** The default cache name as a string (for messages and tests). */
export function defaultCcacheName(env: NodeJS.ProcessEnv, config?: Krb5Config): string {
  const r = resolveCcacheName({ env, ...(config?.defaultCcacheName ? { configDefault: config.defaultCcacheName } : {}) });
  return `${r.type}:${r.residual}`;
}

