// A small sequential byte layout for packed context state that crosses process boundaries (a
// half-built context parked in a shared handshake store). Every read is bounds-checked and a
// short, long or malformed record fails with SEC_E_INVALID_TOKEN, never with a RangeError.
// Integers are big-endian; byte strings and text carry a u32 length.

import { concat } from '../crypto/bytes.js';
import { SspiError } from '../sspi/error.js';
import { SecurityStatus } from '../sspi/status.js';

export class PackedWriter {
  private readonly parts: Uint8Array[] = [];

  private push(b: Uint8Array): this {
    this.parts.push(b);
    return this;
  }

  u8(v: number): this {
    return this.push(Uint8Array.of(v & 0xff));
  }

  u32(v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v >>> 0);
    return this.push(b);
  }

  /** A millisecond instant or count; Infinity and NaN are kept as such. */
  f64(v: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v);
    return this.push(b);
  }

  bytes(v: Uint8Array): this {
    this.u32(v.length);
    return this.push(v.slice());
  }

  text(v: string): this {
    return this.bytes(new Uint8Array(Buffer.from(v, 'utf8')));
  }

  finish(): Uint8Array {
    return concat(...this.parts);
  }
}

export class PackedReader {
  private offset = 0;
  private readonly view: DataView;

  constructor(
    private readonly data: Uint8Array,
    private readonly what: string,
  ) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  private bad(why: string): never {
    throw new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, `malformed ${this.what}: ${why}`);
  }

  private take(n: number): number {
    if (n < 0 || this.offset + n > this.data.length) this.bad('truncated');
    const at = this.offset;
    this.offset += n;
    return at;
  }

  u8(): number {
    return this.view.getUint8(this.take(1));
  }

  u32(): number {
    return this.view.getUint32(this.take(4));
  }

  f64(): number {
    return this.view.getFloat64(this.take(8));
  }

  bytes(max = this.data.length): Uint8Array {
    const n = this.u32();
    if (n > max) this.bad('field too long');
    const at = this.take(n);
    // A copy even when the input is a Buffer (whose slice() is a view into its memory).
    return new Uint8Array(this.data.subarray(at, at + n));
  }

  text(max = 4096): string {
    const b = this.bytes(max);
    const s = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
    try {
      return s.decode(b);
    } catch {
      this.bad('text is not UTF-8');
    }
  }

  /** The record must end exactly here. */
  end(): void {
    if (this.offset !== this.data.length) this.bad('trailing bytes');
  }
}
