// A strict, schema-driven DER (X.690 clause 10/11) reader. The caller states the tag it expects at
// every step; anything that is not the one DER encoding of that value is rejected with
// SspiError(SEC_E_INVALID_TOKEN). Values are returned as subarray views of the input, never copies.
import { derFail, guardDecode } from './error.js';
import { oidFromContent } from './oid.js';
import { Tag, tagName } from './tags.js';

/** Maximum nesting of constructed values; Kerberos messages need about 12. */
export const MAX_DEPTH = 32;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A bit string as on the wire: the data octets and how many trailing bits of the last are unused. */
export interface BitString {
  unusedBits: number;
  bytes: Uint8Array;
}

export class DerReader {
  readonly buf: Uint8Array;
  /** Offset of the next identifier octet. */
  pos: number;
  /** End of the innermost constructed value being read (or of the whole input). */
  private end: number;
  private readonly ends: number[] = [];
  private depth = 0;

  constructor(buf: Uint8Array, start = 0, end = buf.length) {
    if (start < 0 || end > buf.length || start > end) derFail('bad reader bounds');
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }

  /** True when the current constructed value (or the input) has no more elements. */
  atEnd(): boolean {
    return this.pos >= this.end;
  }

  /** The identifier octet of the next element, or -1 at the end of the current value. */
  peekTag(): number {
    return this.pos < this.end ? this.buf[this.pos]! : -1;
  }

  /**
   * Read an identifier and length (X.690 8.1.2, 8.1.3 with the DER rules of 10.1), check the tag,
   * and return the content length; `pos` is left at the first content octet.
   */
  private header(tag: number): number {
    const buf = this.buf;
    let p = this.pos;
    const end = this.end;
    if (p >= end) derFail(`expected ${tagName(tag)}, found end of data`);
    const t = buf[p]!;
    // 8.1.2.4: the high-tag form never appears in the schemas we read.
    if ((t & 0x1f) === 0x1f) derFail('high tag number form not supported');
    if (t !== tag) derFail(`expected ${tagName(tag)}, found ${tagName(t)}`);
    if (++p >= end) derFail(`truncated length of ${tagName(tag)}`);
    let len = buf[p++]!;
    if (len >= 0x80) {
      // 10.1: definite form only; long form only when needed and without leading zero octets.
      const n = len & 0x7f;
      if (n === 0) derFail(`indefinite length in ${tagName(tag)}`);
      if (n > 4) derFail(`length of ${tagName(tag)} too large`);
      if (p + n > end) derFail(`truncated length of ${tagName(tag)}`);
      if (buf[p] === 0) derFail(`non-minimal length of ${tagName(tag)}`);
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + buf[p++]!;
      if (len < 0x80) derFail(`non-minimal length of ${tagName(tag)}`);
    }
    if (len > end - p) derFail(`length of ${tagName(tag)} exceeds the data`);
    this.pos = p;
    return len;
  }

  /** Enter a constructed value with identifier `tag` (SEQUENCE, [n] EXPLICIT, [APPLICATION n]). */
  enter(tag: number): void {
    if (this.depth >= MAX_DEPTH) derFail('nesting too deep');
    const len = this.header(tag);
    this.ends[this.depth++] = this.end;
    this.end = this.pos + len;
  }

  /** Enter the value only when the next tag is `tag` (an OPTIONAL field); returns whether it did. */
  enterIf(tag: number): boolean {
    if (this.pos >= this.end || this.buf[this.pos] !== tag) return false;
    this.enter(tag);
    return true;
  }

  /** Leave the innermost constructed value; its content must have been consumed exactly. */
  leave(): void {
    if (this.depth === 0) derFail('leave() without enter()');
    if (this.pos !== this.end) derFail('trailing bytes inside a constructed value');
    this.end = this.ends[--this.depth]!;
  }

  /** At the top level: the input must hold exactly one value. */
  finish(): void {
    if (this.depth !== 0) derFail('unbalanced enter()/leave()');
    if (this.pos !== this.end) derFail('trailing bytes after the value');
  }

  /** Content octets of a primitive element with identifier `tag`, as a view. */
  readPrimitive(tag: number): Uint8Array {
    const len = this.header(tag);
    const start = this.pos;
    this.pos = start + len;
    return this.buf.subarray(start, start + len);
  }

  /** The complete encoding (identifier, length, content) of the next element, which must be `tag`. */
  readRaw(tag: number): Uint8Array {
    const start = this.pos;
    const len = this.header(tag);
    this.pos += len;
    return this.buf.subarray(start, this.pos);
  }

  /** The remaining content of the current constructed value, unparsed (e.g. GSS innerContextToken). */
  readRest(): Uint8Array {
    const start = this.pos;
    this.pos = this.end;
    return this.buf.subarray(start, this.end);
  }

  /** The complete encoding of the next element whatever its tag (for open types such as ANY). */
  readRawAny(): Uint8Array {
    const t = this.peekTag();
    if (t < 0) derFail('expected an element, found end of data');
    return this.readRaw(t);
  }

  /** 8.3 + 10: INTEGER content as a signed number; at most 6 octets so the value stays exact. */
  private intContent(tag: number, maxOctets: number): number {
    const len = this.header(tag);
    const buf = this.buf;
    const p = this.pos;
    if (len === 0) derFail(`empty ${tagName(tag)}`);
    if (len > 1) {
      // 8.3.2: the first nine bits shall not be all zeros or all ones.
      const b0 = buf[p]!;
      const b1 = buf[p + 1]!;
      if ((b0 === 0x00 && b1 < 0x80) || (b0 === 0xff && b1 >= 0x80)) derFail(`non-minimal ${tagName(tag)}`);
    }
    if (len > maxOctets) derFail(`${tagName(tag)} out of range`);
    let v = buf[p]! >= 0x80 ? buf[p]! - 256 : buf[p]!;
    for (let i = 1; i < len; i++) v = v * 256 + buf[p + i]!;
    this.pos = p + len;
    return v;
  }

  /** Kerberos Int32 (RFC 4120 5.2.4). */
  readInt32(tag: number = Tag.INTEGER): number {
    return this.intContent(tag, 4);
  }

  /** Kerberos UInt32 (RFC 4120 5.2.4). */
  readUInt32(tag: number = Tag.INTEGER): number {
    const v = this.intContent(tag, 5);
    if (v < 0 || v > 0xffffffff) derFail(`${tagName(tag)} not in UInt32 range`);
    return v;
  }

  /** An INTEGER in the union of the Int32 and UInt32 ranges, as a number. */
  readInteger(tag: number = Tag.INTEGER): number {
    const v = this.intContent(tag, 5);
    if (v < -0x80000000 || v > 0xffffffff) derFail(`${tagName(tag)} out of range`);
    return v;
  }

  /** An INTEGER of any size, as a bigint. */
  readBigInt(tag: number = Tag.INTEGER): bigint {
    const save = this.pos;
    const len = this.header(tag);
    const p = this.pos;
    this.pos = save;
    if (len <= 6) return BigInt(this.intContent(tag, 6));
    // Long values: validate minimality through intContent's rules, then build the bigint.
    const b0 = this.buf[p]!;
    const b1 = this.buf[p + 1]!;
    if ((b0 === 0x00 && b1 < 0x80) || (b0 === 0xff && b1 >= 0x80)) derFail(`non-minimal ${tagName(tag)}`);
    let v = 0n;
    for (let i = 0; i < len; i++) v = (v << 8n) | BigInt(this.buf[p + i]!);
    if (b0 >= 0x80) v -= 1n << BigInt(8 * len);
    this.pos = p + len;
    return v;
  }

  /** ENUMERATED (8.4): encoded as an INTEGER. */
  readEnumerated(): number {
    return this.intContent(Tag.ENUMERATED, 4);
  }

  /** BOOLEAN; DER 11.1 allows only 0x00 and 0xFF. */
  readBoolean(tag: number = Tag.BOOLEAN): boolean {
    const len = this.header(tag);
    if (len !== 1) derFail('BOOLEAN must be one octet');
    const b = this.buf[this.pos++]!;
    if (b === 0xff) return true;
    if (b === 0x00) return false;
    return derFail('BOOLEAN not 0x00 or 0xFF');
  }

  readNull(tag: number = Tag.NULL): void {
    if (this.header(tag) !== 0) derFail('NULL with content');
  }

  readOctetString(tag: number = Tag.OCTET_STRING): Uint8Array {
    return this.readPrimitive(tag);
  }

  /** BIT STRING (8.6, DER 11.2): unused-bits octet 0..7, zero when empty, and the unused bits zero. */
  readBitString(tag: number = Tag.BIT_STRING): BitString {
    const c = this.readPrimitive(tag);
    if (c.length === 0) derFail('BIT STRING without unused-bits octet');
    const unusedBits = c[0]!;
    if (unusedBits > 7) derFail('BIT STRING unused-bits octet > 7');
    if (c.length === 1) {
      if (unusedBits !== 0) derFail('empty BIT STRING with unused bits');
    } else if ((c[c.length - 1]! & ((1 << unusedBits) - 1)) !== 0) {
      derFail('BIT STRING unused bits not zero');
    }
    return { unusedBits, bytes: c.subarray(1) };
  }

  /**
   * KerberosFlags (RFC 4120 5.2.8) as a uint32 whose most significant bit is flag 0. MIT and Windows
   * send exactly 32 bits; shorter strings (minimal DER from other encoders) are zero-padded and bits
   * beyond 31, which no flag uses, are ignored.
   */
  readKerberosFlags(tag: number = Tag.BIT_STRING): number {
    const len = this.header(tag);
    const buf = this.buf;
    const p = this.pos;
    if (len === 0) derFail('BIT STRING without unused-bits octet');
    const unused = buf[p]!;
    if (unused > 7) derFail('BIT STRING unused-bits octet > 7');
    if (len === 1 && unused !== 0) derFail('empty BIT STRING with unused bits');
    if (len > 1 && (buf[p + len - 1]! & ((1 << unused) - 1)) !== 0) derFail('BIT STRING unused bits not zero');
    let v = 0;
    for (let i = 0; i < 4; i++) v = (v << 8) | (i + 1 < len ? buf[p + 1 + i]! : 0);
    this.pos = p + len;
    return v >>> 0;
  }

  /**
   * KerberosString (RFC 4120 5.2.1): GeneralString restricted to IA5 in principle; MIT and Windows
   * put UTF-8 in it, so valid UTF-8 is accepted and anything else rejected.
   */
  readGeneralString(tag: number = Tag.GENERAL_STRING): string {
    const len = this.header(tag);
    const buf = this.buf;
    const p = this.pos;
    const e = p + len;
    this.pos = e;
    let ascii = true;
    for (let i = p; i < e; i++) {
      if (buf[i]! >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      if (len > 32) return Buffer.from(buf.buffer, buf.byteOffset + p, len).toString('latin1');
      let out = '';
      for (let i = p; i < e; i++) out += String.fromCharCode(buf[i]!);
      return out;
    }
    try {
      return utf8.decode(buf.subarray(p, e));
    } catch {
      return derFail('string is not valid UTF-8');
    }
  }

  /** KerberosTime (RFC 4120 5.2.3): GeneralizedTime exactly "YYYYMMDDHHMMSSZ", no fraction. */
  readKerberosTime(tag: number = Tag.GENERALIZED_TIME): Date {
    const len = this.header(tag);
    if (len !== 15) derFail('KerberosTime must be YYYYMMDDHHMMSSZ');
    const buf = this.buf;
    const p = this.pos;
    if (buf[p + 14] !== 0x5a) derFail('KerberosTime must end in Z');
    for (let i = 0; i < 14; i++) {
      const c = buf[p + i]!;
      if (c < 0x30 || c > 0x39) derFail('KerberosTime has a non-digit');
    }
    const d2 = (i: number): number => (buf[p + i]! - 0x30) * 10 + buf[p + i + 1]! - 0x30;
    const year = d2(0) * 100 + d2(2);
    const month = d2(4);
    const day = d2(6);
    const hour = d2(8);
    const minute = d2(10);
    const second = d2(12);
    if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) derFail('KerberosTime date out of range');
    if (hour > 23 || minute > 59 || second > 59) derFail('KerberosTime time out of range');
    this.pos = p + 15;
    if (year >= 100) return new Date(Date.UTC(year, month - 1, day, hour, minute, second));
    // Date.UTC maps years 0..99 to 1900..1999; setUTCFullYear does not.
    const dt = new Date(0);
    dt.setUTCFullYear(year, month - 1, day);
    dt.setUTCHours(hour, minute, second, 0);
    return dt;
  }

  /** OBJECT IDENTIFIER as a dotted string. */
  readOid(tag: number = Tag.OBJECT_IDENTIFIER): string {
    const c = this.readPrimitive(tag);
    return oidFromContent(c);
  }

  /** OBJECT IDENTIFIER content octets (validated), for byte comparison against known OIDs. */
  readOidContent(tag: number = Tag.OBJECT_IDENTIFIER): Uint8Array {
    const c = this.readPrimitive(tag);
    oidFromContent(c);
    return c;
  }
}


function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/**
 * Decode exactly one DER value from `bytes` with `fn`, reject trailing bytes, and let nothing but
 * SspiError(SEC_E_INVALID_TOKEN) escape.
 */
export function derDecode<T>(bytes: Uint8Array, fn: (r: DerReader) => T): T {
  return guardDecode(() => {
    const r = new DerReader(bytes);
    const v = fn(r);
    r.finish();
    return v;
  });
}
