// A DER writer that fills its buffer from the end towards the start, so that a constructed
// value's length is known when its header is written: no length pre-pass and no intermediate
// arrays. Consequence for callers: write the LAST element first. A typical SEQUENCE:
//   const m = w.mark();  w.writeOctetString(b); w.wrap(ctx(1), m2) ... ;  w.wrap(Tag.SEQUENCE, m);
import { derEncodeFail } from './error.js';
import { oidToContent } from './oid.js';
import { Tag } from './tags.js';

const utf8 = new TextEncoder();

export class DerWriter {
  private buf: Uint8Array;
  /** Data occupies buf[pos .. buf.length). */
  private pos: number;

  constructor(initialSize = 512) {
    this.buf = new Uint8Array(Math.max(16, initialSize));
    this.pos = this.buf.length;
  }

  /** Forget everything written; the buffer is kept for the next message. */
  reset(): void {
    this.pos = this.buf.length;
  }

  get capacity(): number {
    return this.buf.length;
  }

  /** Bytes written so far. */
  get length(): number {
    return this.buf.length - this.pos;
  }

  /** A position marker: pass it to wrap() after writing a value's content (in reverse order). */
  mark(): number {
    return this.buf.length - this.pos;
  }

  private ensure(n: number): void {
    if (this.pos >= n) return;
    const used = this.buf.length - this.pos;
    let size = this.buf.length * 2;
    while (size - used < n) size *= 2;
    const nb = new Uint8Array(size);
    nb.set(this.buf.subarray(this.pos), size - used);
    this.buf = nb;
    this.pos = size - used;
  }

  /** Prepend raw octets (an already-encoded element, or content). */
  writeBytes(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.pos -= bytes.length;
    this.buf.set(bytes, this.pos);
  }

  writeByte(b: number): void {
    this.ensure(1);
    this.buf[--this.pos] = b;
  }

  /** Prepend an identifier octet and a DER length (X.690 10.1: short form below 128, else minimal long form). */
  writeHeader(tag: number, len: number): void {
    this.ensure(6);
    const buf = this.buf;
    let p = this.pos;
    if (len < 0x80) {
      buf[--p] = len;
    } else {
      let n = 0;
      let l = len;
      while (l > 0) {
        buf[--p] = l & 0xff;
        l = Math.floor(l / 256);
        n++;
      }
      buf[--p] = 0x80 | n;
    }
    buf[--p] = tag;
    this.pos = p;
  }

  /** Give everything written since `mark` an identifier `tag` (SEQUENCE, [n], [APPLICATION n]). */
  wrap(tag: number, mark: number): void {
    this.writeHeader(tag, this.buf.length - this.pos - mark);
  }

  /** INTEGER (8.3) in minimal two's complement; numbers must be safe integers. */
  writeInteger(value: number | bigint, tag: number = Tag.INTEGER): void {
    const m = this.mark();
    if (typeof value === 'bigint') {
      let n = value;
      for (;;) {
        const b = Number(n & 0xffn);
        this.writeByte(b);
        n >>= 8n;
        if ((n === 0n && b < 0x80) || (n === -1n && b >= 0x80)) break;
      }
    } else {
      if (!Number.isSafeInteger(value)) derEncodeFail(`INTEGER ${value} is not a safe integer`);
      let n = value;
      for (;;) {
        const b = ((n % 256) + 256) % 256;
        this.writeByte(b);
        n = (n - b) / 256;
        if ((n === 0 && b < 0x80) || (n === -1 && b >= 0x80)) break;
      }
    }
    this.wrap(tag, m);
  }

  /** Kerberos Int32 (RFC 4120 5.2.4), range-checked. */
  writeInt32(value: number, tag: number = Tag.INTEGER): void {
    if (!Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) derEncodeFail(`${value} is not an Int32`);
    this.writeInteger(value, tag);
  }

  /** Kerberos UInt32 (RFC 4120 5.2.4), range-checked. */
  writeUInt32(value: number, tag: number = Tag.INTEGER): void {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) derEncodeFail(`${value} is not a UInt32`);
    this.writeInteger(value, tag);
  }

  writeEnumerated(value: number): void {
    this.writeInteger(value, Tag.ENUMERATED);
  }

  /** BOOLEAN: DER 11.1 TRUE is 0xFF. */
  writeBoolean(value: boolean, tag: number = Tag.BOOLEAN): void {
    this.writeByte(value ? 0xff : 0x00);
    this.writeHeader(tag, 1);
  }

  writeNull(tag: number = Tag.NULL): void {
    this.writeHeader(tag, 0);
  }

  writeOctetString(bytes: Uint8Array, tag: number = Tag.OCTET_STRING): void {
    this.writeBytes(bytes);
    this.writeHeader(tag, bytes.length);
  }

  /** BIT STRING (8.6) from data octets and an unused-bit count; the unused bits must be zero (DER 11.2.1). */
  writeBitString(bytes: Uint8Array, unusedBits = 0, tag: number = Tag.BIT_STRING): void {
    if (!Number.isInteger(unusedBits) || unusedBits < 0 || unusedBits > 7 || (bytes.length === 0 && unusedBits !== 0)) {
      derEncodeFail('bad BIT STRING unused-bits count');
    }
    if (bytes.length && (bytes[bytes.length - 1]! & ((1 << unusedBits) - 1)) !== 0) {
      derEncodeFail('BIT STRING unused bits must be zero');
    }
    const m = this.mark();
    this.writeBytes(bytes);
    this.writeByte(unusedBits);
    this.wrap(tag, m);
  }

  /**
   * KerberosFlags (RFC 4120 5.2.8): always 32 bits, as MIT and Windows write them (not the minimal
   * DER named-bit form), flag 0 being the most significant bit of `flags`.
   */
  writeKerberosFlags(flags: number, tag: number = Tag.BIT_STRING): void {
    if (!Number.isInteger(flags) || flags < -0x80000000 || flags > 0xffffffff) derEncodeFail('KerberosFlags not 32-bit');
    this.ensure(7);
    const buf = this.buf;
    let p = this.pos;
    buf[--p] = flags & 0xff;
    buf[--p] = (flags >>> 8) & 0xff;
    buf[--p] = (flags >>> 16) & 0xff;
    buf[--p] = (flags >>> 24) & 0xff;
    buf[--p] = 0;
    buf[--p] = 5;
    buf[--p] = tag;
    this.pos = p;
  }

  /** KerberosString / GeneralString: ASCII copied directly, anything else as UTF-8 (what MIT and Windows send). */
  writeGeneralString(s: string, tag: number = Tag.GENERAL_STRING): void {
    const n = s.length;
    let ascii = true;
    for (let i = 0; i < n; i++) {
      if (s.charCodeAt(i) >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (!ascii) {
      this.writeOctetString(utf8.encode(s), tag);
      return;
    }
    this.ensure(n);
    const buf = this.buf;
    const p = this.pos - n;
    for (let i = 0; i < n; i++) buf[p + i] = s.charCodeAt(i);
    this.pos = p;
    this.writeHeader(tag, n);
  }

  /** KerberosTime (RFC 4120 5.2.3): "YYYYMMDDHHMMSSZ"; milliseconds are dropped (truncated). */
  writeKerberosTime(date: Date, tag: number = Tag.GENERALIZED_TIME): void {
    const t = date.getTime();
    if (!Number.isFinite(t)) derEncodeFail('invalid Date');
    const d = new Date(t - (((t % 1000) + 1000) % 1000));
    const year = d.getUTCFullYear();
    if (year < 0 || year > 9999) derEncodeFail('KerberosTime year out of range');
    this.ensure(17);
    const buf = this.buf;
    let p = this.pos;
    buf[--p] = 0x5a;
    const put2 = (v: number): void => {
      buf[--p] = 0x30 + (v % 10);
      buf[--p] = 0x30 + Math.floor(v / 10);
    };
    put2(d.getUTCSeconds());
    put2(d.getUTCMinutes());
    put2(d.getUTCHours());
    put2(d.getUTCDate());
    put2(d.getUTCMonth() + 1);
    put2(year % 100);
    put2(Math.floor(year / 100));
    buf[--p] = 15;
    buf[--p] = tag;
    this.pos = p;
  }

  /** OBJECT IDENTIFIER from a dotted string or from content octets. */
  writeOid(oid: string | Uint8Array, tag: number = Tag.OBJECT_IDENTIFIER): void {
    this.writeOctetString(typeof oid === 'string' ? oidContent(oid) : oid, tag);
  }

  /** The encoding: a view of the writer's buffer, from the first byte written last. */
  toBytes(): Uint8Array {
    return this.buf.subarray(this.pos);
  }
}

const oidCache = new Map<string, Uint8Array>();
/** OID content octets, cached: the same few mechanism OIDs are written over and over. */
export function oidContent(oid: string): Uint8Array {
  let c = oidCache.get(oid);
  if (!c) {
    c = oidToContent(oid);
    if (oidCache.size < 64) oidCache.set(oid, c);
  }
  return c;
}

// One scratch writer reused across calls: allocating and zeroing a fresh ArrayBuffer per message
// costs more than copying the result out. Re-entrant calls (an encoder inside an encoder) get their own.
let pooled: DerWriter | undefined;

/** Encode with `fn` (remember: last element first) and return the bytes (a fresh, exact-size copy). */
export function derEncode(fn: (w: DerWriter) => void, sizeHint = 512): Uint8Array {
  const w = pooled ?? new DerWriter(Math.max(sizeHint, 4096));
  pooled = undefined;
  try {
    w.reset();
    fn(w);
    return w.toBytes().slice();
  } finally {
    // Keep the scratch buffer unless a huge message inflated it.
    if (w.capacity <= 1 << 16) pooled = w;
  }
}
