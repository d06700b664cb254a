// MIT keytab files (the FILE keytab type): format version 0x0502 (big-endian, read and written)
// and 0x0501 (read only; native byte order of the writing host, so the order is a parse option).
//
//   file   := u16 version (0x0502) , record*
//   record := i32 size , entry (size bytes)   -- size < 0: a deleted "hole" of -size bytes,
//                                               size 0 (or end of file): no more records
//   entry  := u16 count (0x0501: includes the realm) , data realm , data component[count] ,
//             u32 name_type (absent in 0x0501) , u32 timestamp , u8 kvno8 , u16 enctype ,
//             data keyvalue , [u32 kvno32 when >= 4 bytes remain] , [u32 flags when >= 4 more remain]
//   data   := u16 length , bytes
//
// A non-zero kvno32 supersedes kvno8 (MIT). Malformed input throws SspiError SEC_E_INVALID_TOKEN,
// never a RangeError; a missing file throws SEC_E_NO_CREDENTIALS.

import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { endianness } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { SspiError } from '../../sspi/error.js';
import { SecurityStatus } from '../../sspi/status.js';

/** A principal as MIT files store it: realm, name components and name-type. */
export interface KrbPrincipal {
  realm: string;
  components: string[];
  nameType: number;
}

export interface KeytabKey {
  enctype: number;
  keyvalue: Uint8Array;
}

export interface KeytabEntry {
  principal: KrbPrincipal;
  /** Seconds since the epoch (unsigned 32-bit) when the key was written. */
  timestamp: number;
  /** The effective key version: kvno32 when present and non-zero, else kvno8. */
  kvno: number;
  /** The 8-bit key version field of the record. */
  kvno8: number;
  /** The 32-bit key version extension, when the record holds one. */
  kvno32?: number;
  /** The 32-bit flags field some writers (Heimdal) append, when present. */
  flags?: number;
  key: KeytabKey;
}

export interface Keytab {
  /** 0x0502 or 0x0501. */
  version: number;
  entries: KeytabEntry[];
}

export interface KeytabParseOptions {
  /** Byte order of version 0x0501 files (written in the writer's native order); default this host's. */
  v1ByteOrder?: 'big' | 'little';
}

export const KEYTAB_VERSION_1 = 0x0501;
export const KEYTAB_VERSION_2 = 0x0502;

const invalid = (detail: string): SspiError => new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, `keytab: ${detail}`);

const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8enc = new TextEncoder();

/** A bounds-checked big/little-endian reader over [start, end) of a buffer. */
export class ByteReader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    private readonly fail: (detail: string) => SspiError,
    readonly little = false,
    start = 0,
    public end = buf.length,
  ) {
    this.pos = start;
  }
  get remaining(): number {
    return this.end - this.pos;
  }
  need(n: number, what: string): void {
    if (n < 0 || n > this.end - this.pos) throw this.fail(`truncated ${what} at offset ${this.pos}`);
  }
  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.pos++]!;
  }
  u16(what: string): number {
    this.need(2, what);
    const b = this.buf;
    const p = this.pos;
    this.pos += 2;
    return this.little ? b[p]! | (b[p + 1]! << 8) : (b[p]! << 8) | b[p + 1]!;
  }
  u32(what: string): number {
    this.need(4, what);
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    const v = this.little
      ? b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)
      : (b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!;
    return v >>> 0;
  }
  i32(what: string): number {
    return this.u32(what) | 0;
  }
  bytes(n: number, what: string): Uint8Array {
    this.need(n, what);
    // A copy as a plain Uint8Array (Buffer#slice would alias the input).
    const out = new Uint8Array(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return out;
  }
  string(n: number, what: string): string {
    const b = this.bytes(n, what);
    try {
      return utf8.decode(b);
    } catch {
      throw this.fail(`${what} is not valid UTF-8`);
    }
  }
}

/** A growable big-endian writer. */
export class ByteWriter {
  private chunks: number[] = [];
  private parts: Uint8Array[] = [];
  private length = 0;
  private flush(): void {
    if (this.chunks.length > 0) {
      this.parts.push(Uint8Array.from(this.chunks));
      this.chunks = [];
    }
  }
  u8(v: number): this {
    this.chunks.push(v & 0xff);
    this.length += 1;
    return this;
  }
  u16(v: number): this {
    return this.u8(v >>> 8).u8(v);
  }
  u32(v: number): this {
    return this.u8(v >>> 24).u8(v >>> 16).u8(v >>> 8).u8(v);
  }
  bytes(b: Uint8Array): this {
    this.flush();
    this.parts.push(b);
    this.length += b.length;
    return this;
  }
  get size(): number {
    return this.length;
  }
  finish(): Uint8Array {
    this.flush();
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

export function checkUint(v: unknown, bits: 8 | 16 | 32, what: string, fail: (d: string) => SspiError): number {
  const max = bits === 32 ? 0xffffffff : (1 << bits) - 1;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw fail(`${what} ${String(v)} is not an unsigned ${bits}-bit integer`);
  return v;
}

export function checkInt32(v: unknown, what: string, fail: (d: string) => SspiError): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < -0x80000000 || v > 0xffffffff) throw fail(`${what} ${String(v)} is not a 32-bit integer`);
  return v;
}

/** Parses a keytab file's bytes. */
export function parseKeytab(data: Uint8Array, opts: KeytabParseOptions = {}): Keytab {
  if (!(data instanceof Uint8Array)) throw invalid('input is not a byte array');
  if (data.length < 2) throw invalid('file shorter than its version field');
  if (data[0] !== 0x05) throw invalid(`not a keytab (first byte 0x${data[0]!.toString(16)}, expected 0x05)`);
  const version = (data[0] << 8) | data[1]!;
  if (version !== KEYTAB_VERSION_1 && version !== KEYTAB_VERSION_2) throw invalid(`unsupported version 0x0${version.toString(16)}`);
  const little = version === KEYTAB_VERSION_1 && (opts.v1ByteOrder ?? (endianness() === 'LE' ? 'little' : 'big')) === 'little';
  const r = new ByteReader(data, invalid, little, 2);
  const entries: KeytabEntry[] = [];
  while (r.remaining > 0) {
    const size = r.i32('record size');
    if (size === 0) break; // MIT: a zero size ends the keytab
    if (size < 0) {
      if (size === -0x80000000) throw invalid('record size -2^31');
      r.need(-size, 'deleted record');
      r.pos += -size;
      continue;
    }
    r.need(size, 'record');
    const end = r.pos + size;
    const er = new ByteReader(data, invalid, little, r.pos, end);
    entries.push(readEntry(er, version));
    r.pos = end;
  }
  return { version, entries };
}

function readEntry(r: ByteReader, version: number): KeytabEntry {
  let count = r.u16('component count');
  if (version === KEYTAB_VERSION_1) {
    if (count === 0) throw invalid('version 0x0501 component count 0 (it includes the realm)');
    count -= 1;
  }
  // Each component needs at least its 2-byte length: bound the count before allocating.
  if (count * 2 > r.remaining) throw invalid(`component count ${count} exceeds the record`);
  const realm = r.string(r.u16('realm length'), 'realm');
  const components: string[] = [];
  for (let i = 0; i < count; i++) components.push(r.string(r.u16('component length'), 'component'));
  const nameType = version === KEYTAB_VERSION_1 ? 1 : r.i32('name type');
  const timestamp = r.u32('timestamp');
  const kvno8 = r.u8('kvno');
  const enctype = r.u16('enctype');
  const keyvalue = r.bytes(r.u16('key length'), 'key');
  const entry: KeytabEntry = { principal: { realm, components, nameType }, timestamp, kvno: kvno8, kvno8, key: { enctype, keyvalue } };
  if (r.remaining >= 4) {
    const kvno32 = r.u32('kvno32');
    entry.kvno32 = kvno32;
    if (kvno32 !== 0) entry.kvno = kvno32;
    if (r.remaining >= 4) entry.flags = r.u32('flags');
  }
  return entry;
}

const badParam = (detail: string): SspiError => new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, `keytab: ${detail}`);

function encodeData16(w: ByteWriter, b: Uint8Array, what: string): void {
  if (b.length > 0xffff) throw badParam(`${what} longer than 65535 bytes`);
  w.u16(b.length).bytes(b);
}

/** Serialises entries as a version 0x0502 keytab (kvno8 = kvno mod 256, and the 32-bit kvno always). */
export function serializeKeytab(keytab: Keytab | readonly KeytabEntry[]): Uint8Array {
  const entries = Array.isArray(keytab) ? (keytab as readonly KeytabEntry[]) : (keytab as Keytab).entries;
  const w = new ByteWriter().u16(KEYTAB_VERSION_2);
  for (const e of entries) {
    const body = new ByteWriter();
    const p = e.principal;
    if (p.components.length > 0xffff) throw badParam('too many components');
    body.u16(p.components.length);
    encodeData16(body, utf8enc.encode(p.realm), 'realm');
    for (const c of p.components) encodeData16(body, utf8enc.encode(c), 'component');
    body.u32(checkInt32(p.nameType, 'name type', badParam) >>> 0);
    body.u32(checkUint(e.timestamp, 32, 'timestamp', badParam));
    const kvno = checkUint(e.kvno, 32, 'kvno', badParam);
    body.u8(kvno & 0xff);
    body.u16(checkUint(e.key.enctype, 16, 'enctype', badParam));
    encodeData16(body, e.key.keyvalue, 'key');
    body.u32(kvno);
    if (e.flags !== undefined) body.u32(checkUint(e.flags, 32, 'flags', badParam));
    const b = body.finish();
    w.u32(b.length).bytes(b);
  }
  return w.finish();
}

// ---- principal names -------------------------------------------------------------------------

/** Parses "comp1/comp2@REALM" with MIT's escapes (\/ \@ \\ \n \t \b \0); a missing realm takes `defaultRealm`. */
export function parsePrincipal(name: string, defaultRealm = '', nameType = 1): KrbPrincipal {
  const components: string[] = [];
  let cur = '';
  let realm: string | undefined;
  for (let i = 0; i < name.length; i++) {
    let ch = name[i]!;
    if (ch === '\\') {
      const n = name[++i];
      if (n === undefined) throw badParam(`principal "${name}" ends with a backslash`);
      ch = n === 'n' ? '\n' : n === 't' ? '\t' : n === 'b' ? '\b' : n === '0' ? '\0' : n;
      cur += ch;
    } else if (ch === '/' && realm === undefined) {
      components.push(cur);
      cur = '';
    } else if (ch === '@' && realm === undefined) {
      components.push(cur);
      cur = '';
      realm = '';
    } else if ((ch === '@' || ch === '/') && realm !== undefined) {
      if (ch === '@') throw badParam(`principal "${name}" has two realms`);
      cur += ch;
    } else {
      cur += ch;
    }
  }
  if (realm === undefined) components.push(cur);
  else realm = cur;
  return { realm: realm ?? defaultRealm, components, nameType };
}

function escapePart(s: string, inRealm: boolean): string {
  // Names almost never need escaping: scan first, run the replace only when one does.
  let plain = true;
  for (let i = 0; i < s.length && plain; i++) {
    const c = s.charCodeAt(i);
    plain = c !== 0x5c && c !== 0x40 && c !== 0x0a && c !== 0x09 && c !== 0x08 && c !== 0x00 && (inRealm || c !== 0x2f);
  }
  if (plain) return s;
  return s.replace(inRealm ? /[\\@\n\t\b\0]/g : /[\\/@\n\t\b\0]/g, (c) =>
    c === '\n' ? '\\n' : c === '\t' ? '\\t' : c === '\b' ? '\\b' : c === '\0' ? '\\0' : '\\' + c,
  );
}

/** "comp1/comp2@REALM", escaped the way MIT's krb5_unparse_name does. */
export function formatPrincipal(p: KrbPrincipal): string {
  return `${p.components.map((c) => escapePart(c, false)).join('/')}@${escapePart(p.realm, true)}`;
}

/** Same realm and components (name-type is not compared, as in MIT's krb5_principal_compare). */
export function principalEquals(a: KrbPrincipal, b: KrbPrincipal): boolean {
  return a.realm === b.realm && a.components.length === b.components.length && a.components.every((c, i) => c === b.components[i]);
}

function asPrincipal(p: KrbPrincipal | string): KrbPrincipal {
  return typeof p === 'string' ? parsePrincipal(p) : p;
}

/**
 * The keys of `principal` (a KrbPrincipal or "name@REALM"). With `kvno`, the entries of that
 * version (records without the 32-bit extension match on the low 8 bits, as MIT does); without it,
 * only the highest version present. With `enctype`, only that enctype. Empty when none match.
 */
export function findKeys(
  keytab: Keytab | readonly KeytabEntry[],
  principal: KrbPrincipal | string,
  kvno?: number,
  enctype?: number,
): KeytabEntry[] {
  const entries = Array.isArray(keytab) ? (keytab as readonly KeytabEntry[]) : (keytab as Keytab).entries;
  const p = asPrincipal(principal);
  let matches = entries.filter((e) => principalEquals(e.principal, p) && (enctype === undefined || e.key.enctype === enctype));
  if (kvno !== undefined && kvno !== 0) {
    matches = matches.filter((e) => (e.kvno32 !== undefined && e.kvno32 !== 0 ? e.kvno === kvno : e.kvno8 === (kvno & 0xff)));
  } else if (matches.length > 0) {
    const top = Math.max(...matches.map((e) => e.kvno));
    matches = matches.filter((e) => e.kvno === top);
  }
  return matches;
}

/** Like findKeys but throws SEC_E_NO_CREDENTIALS when nothing matches; returns the first match. */
export function findKey(keytab: Keytab | readonly KeytabEntry[], principal: KrbPrincipal | string, kvno?: number, enctype?: number): KeytabEntry {
  const k = findKeys(keytab, principal, kvno, enctype)[0];
  if (k === undefined) {
    const name = typeof principal === 'string' ? principal : formatPrincipal(principal);
    throw new SspiError(
      SecurityStatus.SEC_E_NO_CREDENTIALS,
      `keytab has no key for ${name}${kvno ? ` kvno ${kvno}` : ''}${enctype !== undefined ? ` enctype ${enctype}` : ''}`,
    );
  }
  return k;
}

// ---- files -----------------------------------------------------------------------------------

/** Strips a FILE: or WRFILE: prefix; other keytab types are refused. */
export function keytabPath(name: string): string {
  const m = /^([A-Za-z0-9_]{2,}):(.*)$/s.exec(name);
  if (!m) return name;
  const type = m[1]!.toUpperCase();
  if (type === 'FILE' || type === 'WRFILE') return m[2]!;
  throw new SspiError(SecurityStatus.SEC_E_NO_CREDENTIALS, `keytab type ${m[1]} is not supported (only FILE)`);
}

/** Reads a keytab file ("FILE:" prefix allowed). Missing or unreadable → SEC_E_NO_CREDENTIALS. */
export function readKeytabFile(path: string, opts?: KeytabParseOptions): Keytab {
  const p = keytabPath(path);
  let data: Uint8Array;
  try {
    data = readFileSync(p);
  } catch (e) {
    throw new SspiError(SecurityStatus.SEC_E_NO_CREDENTIALS, `cannot read keytab ${p}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { cause: e });
  }
  return parseKeytab(data, opts);
}

/** Writes `data` to `path` atomically: a 0600 temp file in the same directory, fsync, rename. */
export function atomicWriteFile(path: string, data: Uint8Array): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
    throw e;
  }
}

/** Writes a version 0x0502 keytab atomically with mode 0600 ("FILE:"/"WRFILE:" prefix allowed). */
export function writeKeytabFile(path: string, entries: Keytab | readonly KeytabEntry[]): void {
  atomicWriteFile(keytabPath(path), serializeKeytab(entries));
}
