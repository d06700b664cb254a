// MIT FILE credential caches: version 4 (0x0504) read and written, version 3 (0x0503) read.
// Integers are big-endian in both (versions 1 and 2 used native order and are refused).
//
//   file       := u16 version , [v4: u16 header_len , { u16 tag , u16 len , value }*] ,
//                 principal default , credential*
//   principal  := u32 name_type , u32 count , data realm , data component[count]
//   credential := principal client , principal server , keyblock , u32 authtime , u32 starttime ,
//                 u32 endtime , u32 renew_till , u8 is_skey , u32 ticket_flags ,
//                 u32 n , { u16 addrtype , data }[n] , u32 n , { u16 ad_type , data }[n] ,
//                 data ticket , data second_ticket
//   keyblock   := u16 enctype , [v3: u16 enctype again] , data
//   data       := u32 length , bytes
//   header tag 1 (KDC time offset) := i32 seconds , i32 microseconds
//
// Config entries (MIT krb5_cc_set_config) are credentials whose server is
// krb5_ccache_conf_data/<key>[/<principal>]@X-CACHECONF: with the value in the ticket field.

import { readFileSync } from 'node:fs';
import { SspiError } from '../../sspi/error.js';
import { SecurityStatus } from '../../sspi/status.js';
import {
  atomicWriteFile,
  ByteReader,
  ByteWriter,
  checkInt32,
  checkUint,
  formatPrincipal,
  type KrbPrincipal,
} from './keytab.js';

export type { KrbPrincipal } from './keytab.js';

export const CCACHE_VERSION_3 = 0x0503;
export const CCACHE_VERSION_4 = 0x0504;
export const CCACHE_TAG_KDC_OFFSET = 1;
export const CONFIG_REALM = 'X-CACHECONF:';
export const CONFIG_PRINCIPAL_NAME = 'krb5_ccache_conf_data';

export interface CcacheAddress {
  addrType: number;
  address: Uint8Array;
}

export interface CcacheAuthData {
  adType: number;
  data: Uint8Array;
}

export interface Credential {
  client: KrbPrincipal;
  server: KrbPrincipal;
  key: { enctype: number; keyvalue: Uint8Array };
  /** Seconds since the epoch (unsigned 32-bit; 0 when absent). */
  authtime: number;
  starttime: number;
  endtime: number;
  renewTill: number;
  isSkey: boolean;
  /** Ticket flags as the 32-bit integer (RFC 4120 bit 0 = the most significant bit). */
  ticketFlags: number;
  addresses: CcacheAddress[];
  authdata: CcacheAuthData[];
  /** The DER Ticket, raw (or a config entry's value). */
  ticket: Uint8Array;
  secondTicket: Uint8Array;
}

export interface CcacheHeaderField {
  tag: number;
  value: Uint8Array;
}

export interface Ccache {
  /** 0x0504 or 0x0503. Written files are always 0x0504. */
  version: number;
  /** The KDC time offset (header tag 1), when present. */
  kdcOffset?: { seconds: number; microseconds: number };
  /** Header fields other than tag 1, preserved as read. */
  otherHeaderFields?: CcacheHeaderField[];
  defaultPrincipal: KrbPrincipal;
  /** Every credential in file order, config entries included. */
  credentials: Credential[];
}

const invalid = (detail: string): SspiError => new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, `ccache: ${detail}`);
const badParam = (detail: string): SspiError => new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, `ccache: ${detail}`);
const utf8enc = new TextEncoder();

function readData(r: ByteReader, what: string): Uint8Array {
  return r.bytes(r.u32(`${what} length`), what);
}

function readPrincipal(r: ByteReader, what: string): KrbPrincipal {
  const nameType = r.i32(`${what} name type`);
  const count = r.u32(`${what} component count`);
  // Each component needs at least its 4-byte length: bound before looping.
  if (count > (r.remaining - 4) / 4) throw invalid(`${what} component count ${count} exceeds the file`);
  const realm = r.string(r.u32(`${what} realm length`), `${what} realm`);
  const components: string[] = [];
  for (let i = 0; i < count; i++) components.push(r.string(r.u32(`${what} component length`), `${what} component`));
  return { realm, components, nameType };
}

function readCredential(r: ByteReader, version: number): Credential {
  const client = readPrincipal(r, 'client');
  const server = readPrincipal(r, 'server');
  const enctype = r.u16('key enctype');
  if (version === CCACHE_VERSION_3) r.u16('key enctype (repeated)');
  const keyvalue = readData(r, 'key');
  const authtime = r.u32('authtime');
  const starttime = r.u32('starttime');
  const endtime = r.u32('endtime');
  const renewTill = r.u32('renew_till');
  const isSkey = r.u8('is_skey') !== 0;
  const ticketFlags = r.u32('ticket flags');
  const naddr = r.u32('address count');
  if (naddr > r.remaining / 6) throw invalid(`address count ${naddr} exceeds the file`);
  const addresses: CcacheAddress[] = [];
  for (let i = 0; i < naddr; i++) addresses.push({ addrType: r.u16('address type'), address: readData(r, 'address') });
  const nad = r.u32('authdata count');
  if (nad > r.remaining / 6) throw invalid(`authdata count ${nad} exceeds the file`);
  const authdata: CcacheAuthData[] = [];
  for (let i = 0; i < nad; i++) authdata.push({ adType: r.u16('authdata type'), data: readData(r, 'authdata') });
  const ticket = readData(r, 'ticket');
  const secondTicket = readData(r, 'second ticket');
  return {
    client, server, key: { enctype, keyvalue }, authtime, starttime, endtime, renewTill, isSkey, ticketFlags,
    addresses, authdata, ticket, secondTicket,
  };
}

/** Parses a FILE ccache (versions 0x0504 and 0x0503). */
export function parseCcache(data: Uint8Array): Ccache {
  if (!(data instanceof Uint8Array)) throw invalid('input is not a byte array');
  const r = new ByteReader(data, invalid);
  const version = r.u16('version');
  if (version !== CCACHE_VERSION_4 && version !== CCACHE_VERSION_3) {
    throw invalid(version >>> 8 === 5 ? `unsupported version 0x0${version.toString(16)}` : 'not a credential cache');
  }
  const cache: Ccache = { version, defaultPrincipal: { realm: '', components: [], nameType: 0 }, credentials: [] };
  if (version === CCACHE_VERSION_4) {
    const hlen = r.u16('header length');
    r.need(hlen, 'header');
    const h = new ByteReader(data, invalid, false, r.pos, r.pos + hlen);
    r.pos += hlen;
    while (h.remaining > 0) {
      const tag = h.u16('header tag');
      const value = h.bytes(h.u16('header field length'), 'header field');
      if (tag === CCACHE_TAG_KDC_OFFSET) {
        if (value.length !== 8) throw invalid(`KDC time offset field of ${value.length} bytes (expected 8)`);
        const v = new ByteReader(value, invalid);
        cache.kdcOffset = { seconds: v.i32('offset'), microseconds: v.i32('offset usec') };
      } else {
        (cache.otherHeaderFields ??= []).push({ tag, value });
      }
    }
  }
  cache.defaultPrincipal = readPrincipal(r, 'default principal');
  while (r.remaining > 0) cache.credentials.push(readCredential(r, version));
  return cache;
}

function writeData(w: ByteWriter, b: Uint8Array): void {
  w.u32(b.length).bytes(b);
}

function writePrincipal(w: ByteWriter, p: KrbPrincipal): void {
  w.u32(checkInt32(p.nameType, 'name type', badParam) >>> 0).u32(p.components.length);
  writeData(w, utf8enc.encode(p.realm));
  for (const c of p.components) writeData(w, utf8enc.encode(c));
}

function writeCredential(w: ByteWriter, c: Credential): void {
  writePrincipal(w, c.client);
  writePrincipal(w, c.server);
  w.u16(checkUint(c.key.enctype, 16, 'enctype', badParam));
  writeData(w, c.key.keyvalue);
  for (const t of [c.authtime, c.starttime, c.endtime, c.renewTill]) w.u32(checkUint(t, 32, 'time', badParam));
  w.u8(c.isSkey ? 1 : 0);
  w.u32(checkUint(c.ticketFlags, 32, 'ticket flags', badParam));
  w.u32(c.addresses.length);
  for (const a of c.addresses) {
    w.u16(checkUint(a.addrType, 16, 'address type', badParam));
    writeData(w, a.address);
  }
  w.u32(c.authdata.length);
  for (const a of c.authdata) {
    w.u16(checkUint(a.adType, 16, 'authdata type', badParam));
    writeData(w, a.data);
  }
  writeData(w, c.ticket);
  writeData(w, c.secondTicket);
}

// One principal or one credential alone, in the version 4 layout: how the KCM protocol carries them.

/** A principal in the ccache v4 layout. */
export function encodeCcachePrincipal(p: KrbPrincipal): Uint8Array {
  const w = new ByteWriter();
  writePrincipal(w, p);
  return w.finish();
}

/** A credential in the ccache v4 layout. */
export function encodeCcacheCredential(c: Credential): Uint8Array {
  const w = new ByteWriter();
  writeCredential(w, c);
  return w.finish();
}

/** Reads one v4 principal from the start of `data`; returns it and the bytes it took. SEC_E_INVALID_TOKEN when malformed. */
export function decodeCcachePrincipal(data: Uint8Array): { principal: KrbPrincipal; length: number } {
  const r = new ByteReader(data, invalid);
  const principal = readPrincipal(r, 'principal');
  return { principal, length: r.pos };
}

/** Reads exactly one v4 credential. SEC_E_INVALID_TOKEN when malformed or followed by other bytes. */
export function decodeCcacheCredential(data: Uint8Array): Credential {
  const r = new ByteReader(data, invalid);
  const c = readCredential(r, CCACHE_VERSION_4);
  if (r.remaining !== 0) throw invalid(`${r.remaining} bytes after the credential`);
  return c;
}

/** Serialises a cache as version 0x0504 (a KDC offset header field only when `kdcOffset` is set). */
export function serializeCcache(cache: Ccache): Uint8Array {
  const w = new ByteWriter().u16(CCACHE_VERSION_4);
  const h = new ByteWriter();
  if (cache.kdcOffset) {
    h.u16(CCACHE_TAG_KDC_OFFSET).u16(8);
    h.u32(checkInt32(cache.kdcOffset.seconds, 'KDC offset', badParam) >>> 0);
    h.u32(checkInt32(cache.kdcOffset.microseconds, 'KDC offset usec', badParam) >>> 0);
  }
  for (const f of cache.otherHeaderFields ?? []) {
    if (f.value.length > 0xffff) throw badParam('header field too long');
    h.u16(checkUint(f.tag, 16, 'header tag', badParam)).u16(f.value.length).bytes(f.value);
  }
  const hb = h.finish();
  if (hb.length > 0xffff) throw badParam('header too long');
  w.u16(hb.length).bytes(hb);
  writePrincipal(w, cache.defaultPrincipal);
  for (const c of cache.credentials) writeCredential(w, c);
  return w.finish();
}

// ---- config entries --------------------------------------------------------------------------

/** Whether a credential is one of MIT's config entries (server realm X-CACHECONF:). */
export function isConfigEntry(c: Credential): boolean {
  return c.server.realm === CONFIG_REALM && c.server.components[0] === CONFIG_PRINCIPAL_NAME;
}

/** The credentials that are real tickets (config entries left out). */
export function ticketCredentials(cache: Ccache): Credential[] {
  return cache.credentials.filter((c) => !isConfigEntry(c));
}

/** The value of config entry `key` (optionally scoped to `principal`), or undefined. */
export function getConfig(cache: Ccache, key: string, principal?: KrbPrincipal): Uint8Array | undefined {
  const want = principal ? formatPrincipal(principal) : undefined;
  const hit = cache.credentials.find(
    (c) => isConfigEntry(c) && c.server.components[1] === key && c.server.components[2] === want,
  );
  return hit?.ticket;
}

/** A config entry as MIT's krb5_cc_set_config writes it (all times zero, value in the ticket). */
export function makeConfigEntry(client: KrbPrincipal, key: string, value: Uint8Array, principal?: KrbPrincipal): Credential {
  const components = [CONFIG_PRINCIPAL_NAME, key, ...(principal ? [formatPrincipal(principal)] : [])];
  return {
    client,
    server: { realm: CONFIG_REALM, components, nameType: 0 },
    key: { enctype: 0, keyvalue: new Uint8Array(0) },
    authtime: 0, starttime: 0, endtime: 0, renewTill: 0,
    isSkey: false, ticketFlags: 0, addresses: [], authdata: [],
    ticket: value, secondTicket: new Uint8Array(0),
  };
}

// ---- files and names -------------------------------------------------------------------------

export interface ResolvedName {
  /** Cache or keytab type, upper case: FILE, DIR, KEYRING, MEMORY, KCM, ... */
  type: string;
  /** The part after the type prefix. */
  residual: string;
  /** The file path for FILE (and WRFILE keytabs); undefined for other types. */
  path?: string;
}

export interface NameResolveOptions {
  /** Environment to read; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** [libdefaults] default_ccache_name / default_keytab_name / default_client_keytab_name, when configured. */
  configDefault?: string;
  uid?: number;
  euid?: number;
}

function currentUid(): number {
  return typeof process.getuid === 'function' ? process.getuid() : 0;
}

function currentEuid(): number {
  return typeof process.geteuid === 'function' ? process.geteuid() : currentUid();
}

/** Expands MIT's path tokens %{uid}, %{euid}, %{USERID}, %{TEMP}, %{null} (others left as they are). */
export function expandPathTokens(s: string, opts: NameResolveOptions = {}): string {
  const env = opts.env ?? process.env;
  const uid = opts.uid ?? currentUid();
  const euid = opts.euid ?? currentEuid();
  return s.replace(/%\{(\w+)\}/g, (all, tok: string) => {
    switch (tok) {
      case 'uid':
      case 'USERID':
        return String(uid);
      case 'euid':
        return String(euid);
      case 'TEMP':
        return env.TMPDIR ?? '/tmp';
      case 'null':
        return '';
      default:
        return all;
    }
  });
}

/** Splits "TYPE:residual" as MIT does (a type needs 2+ characters, so "C:\x" is a path); a bare path is FILE. */
export function splitTypedName(name: string, defaultType = 'FILE'): ResolvedName {
  const m = /^([^:/]{2,}):(.*)$/s.exec(name);
  const type = m ? m[1]!.toUpperCase() : defaultType;
  const residual = m ? m[2]! : name;
  const isFile = type === 'FILE' || type === 'WRFILE';
  return isFile ? { type, residual, path: residual } : { type, residual };
}

/** The default ccache name: KRB5CCNAME, else the configured default_ccache_name, else FILE:/tmp/krb5cc_<uid>. */
export function resolveCcacheName(opts: NameResolveOptions = {}): ResolvedName {
  const env = opts.env ?? process.env;
  const raw = env.KRB5CCNAME || opts.configDefault || 'FILE:/tmp/krb5cc_%{uid}';
  return splitTypedName(expandPathTokens(raw, opts));
}

/** The default (acceptor) keytab: KRB5_KTNAME, else default_keytab_name, else FILE:/etc/krb5.keytab. */
export function resolveKeytabName(opts: NameResolveOptions = {}): ResolvedName {
  const env = opts.env ?? process.env;
  return splitTypedName(expandPathTokens(env.KRB5_KTNAME || opts.configDefault || 'FILE:/etc/krb5.keytab', opts));
}

/** The client keytab: KRB5_CLIENT_KTNAME, else default_client_keytab_name, else MIT's FILE:/var/lib/krb5/user/%{euid}/client.keytab. */
export function resolveClientKeytabName(opts: NameResolveOptions = {}): ResolvedName {
  const env = opts.env ?? process.env;
  return splitTypedName(
    expandPathTokens(env.KRB5_CLIENT_KTNAME || opts.configDefault || 'FILE:/var/lib/krb5/user/%{euid}/client.keytab', opts),
  );
}

function ccachePath(name: string): string {
  const r = splitTypedName(name);
  if (r.type !== 'FILE' || r.path === undefined) {
    throw new SspiError(SecurityStatus.SEC_E_NO_CREDENTIALS, `credential cache type ${r.type} is not supported (only FILE)`);
  }
  return r.path;
}

/** Reads a FILE ccache ("FILE:" prefix allowed). Missing or unreadable → SEC_E_NO_CREDENTIALS. */
export function readCcacheFile(path: string): Ccache {
  const p = ccachePath(path);
  let data: Uint8Array;
  try {
    data = readFileSync(p);
  } catch (e) {
    throw new SspiError(SecurityStatus.SEC_E_NO_CREDENTIALS, `cannot read credential cache ${p}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { cause: e });
  }
  return parseCcache(data);
}

/** Writes a version 0x0504 ccache atomically (temp file, mode 0600, rename). */
export function writeCcacheFile(path: string, cache: Ccache): void {
  atomicWriteFile(ccachePath(path), serializeCcache(cache));
}
