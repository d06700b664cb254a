// Self-relative submit buffers (reference section 7): structures in x64 layout whose embedded
// pointers are client addresses. A package rebases each pointer with ClientBufferBase and
// bounds-checks it against the submit buffer before reading.

import { SspiError } from '../sspi/error.js';
import { NtStatus } from '../sspi/status.js';

/** sizeof(UNICODE_STRING) on x64: USHORT Length, USHORT MaximumLength, 4 bytes pad, PWSTR Buffer. */
export const UNICODE_STRING_SIZE = 16;

/** A read-only view of a submit buffer with bounds-checked, rebased pointer reads. */
export class SubmitBufferReader {
  private readonly view: DataView;

  constructor(
    readonly buffer: Uint8Array,
    readonly clientBufferBase: bigint,
    readonly length: number = buffer.length,
  ) {
    if (!Number.isInteger(length) || length < 0 || length > buffer.length) throw new SspiError(NtStatus.STATUS_INVALID_PARAMETER, 'submit buffer length out of range');
    this.view = new DataView(buffer.buffer, buffer.byteOffset, length);
  }

  /** The error for a malformed structure. */
  invalid(detail: string): SspiError {
    return new SspiError(NtStatus.STATUS_INVALID_PARAMETER, detail);
  }

  private need(offset: number, size: number): void {
    if (!Number.isInteger(offset) || offset < 0 || offset + size > this.length) {
      throw new SspiError(NtStatus.STATUS_INVALID_PARAMETER, `field at ${offset}+${size} is outside the ${this.length}-byte submit buffer`);
    }
  }

  u16(offset: number): number {
    this.need(offset, 2);
    return this.view.getUint16(offset, true);
  }

  u32(offset: number): number {
    this.need(offset, 4);
    return this.view.getUint32(offset, true);
  }

  u64(offset: number): bigint {
    this.need(offset, 8);
    return this.view.getBigUint64(offset, true);
  }

  /** Rebase a client pointer: local = ptr - ClientBufferBase, checked to lie with `size` bytes inside. */
  rebase(pointer: bigint, size: number): number {
    if (size === 0) return 0;
    const local = pointer - this.clientBufferBase;
    if (local < 0n || local + BigInt(size) > BigInt(this.length)) {
      throw new SspiError(NtStatus.STATUS_INVALID_PARAMETER, 'embedded pointer is outside the submit buffer');
    }
    return Number(local);
  }

  /** Bytes at a client pointer. */
  bytesAt(pointer: bigint, size: number): Uint8Array {
    if (size === 0) return new Uint8Array(0);
    const off = this.rebase(pointer, size);
    return this.buffer.subarray(off, off + size);
  }

  /** A UNICODE_STRING at `offset`; its Buffer pointer is rebased and checked. */
  unicodeString(offset: number): string {
    const len = this.u16(offset);
    const max = this.u16(offset + 2);
    const ptr = this.u64(offset + 8);
    if (len % 2 !== 0 || len > max) throw new SspiError(NtStatus.STATUS_INVALID_PARAMETER, 'malformed UNICODE_STRING');
    if (len === 0) return '';
    return Buffer.from(this.bytesAt(ptr, len)).toString('utf16le');
  }
}

/**
 * Builds a self-relative submit buffer: fixed part first, variable data appended after it, with
 * pointers written as client addresses (ClientBufferBase + offset).
 */
export class SubmitBufferWriter {
  private readonly fixed: Uint8Array;
  private readonly fv: DataView;
  private readonly tail: Uint8Array[] = [];
  private tailSize = 0;

  constructor(
    readonly fixedSize: number,
    readonly clientBufferBase: bigint = 0n,
  ) {
    this.fixed = new Uint8Array(fixedSize);
    this.fv = new DataView(this.fixed.buffer);
  }

  u32(offset: number, v: number): this {
    this.fv.setUint32(offset, v >>> 0, true);
    return this;
  }

  u64(offset: number, v: bigint): this {
    this.fv.setBigUint64(offset, v, true);
    return this;
  }

  /** Append data (8-byte aligned) and return its client address. */
  append(data: Uint8Array): bigint {
    const pad = (8 - ((this.fixedSize + this.tailSize) % 8)) % 8;
    if (pad) {
      this.tail.push(new Uint8Array(pad));
      this.tailSize += pad;
    }
    const at = this.fixedSize + this.tailSize;
    this.tail.push(data);
    this.tailSize += data.length;
    return this.clientBufferBase + BigInt(at);
  }

  /** Write a UNICODE_STRING at `offset` whose characters are appended to the buffer. */
  unicodeString(offset: number, s: string): this {
    const bytes = new Uint8Array(Buffer.from(s, 'utf16le'));
    if (bytes.length > 0xfffe) throw new SspiError(NtStatus.STATUS_INVALID_PARAMETER, 'string too long for a UNICODE_STRING');
    const ptr = bytes.length ? this.append(bytes) : 0n;
    this.fv.setUint16(offset, bytes.length, true);
    this.fv.setUint16(offset + 2, bytes.length, true);
    this.fv.setBigUint64(offset + 8, ptr, true);
    return this;
  }

  /** Write a (length, pointer) pair: ULONG length at `lenOffset`, pointer at `ptrOffset`. */
  bytes(lenOffset: number, ptrOffset: number, data: Uint8Array): this {
    const ptr = data.length ? this.append(data) : 0n;
    this.fv.setUint32(lenOffset, data.length, true);
    this.fv.setBigUint64(ptrOffset, ptr, true);
    return this;
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.fixedSize + this.tailSize);
    out.set(this.fixed, 0);
    let off = this.fixedSize;
    for (const t of this.tail) {
      out.set(t, off);
      off += t.length;
    }
    return out;
  }
}
