// Small byte helpers shared by the crypto and packages code. Bytes are Uint8Array throughout.
import { timingSafeEqual } from 'node:crypto';
import { SspiError } from '../sspi/error.js';
import { SecurityStatus } from '../sspi/status.js';

/** The concatenation of `parts` in a new array. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * Constant-time equality for MACs and proofs. A length mismatch returns false; lengths of MACs
 * are public, so only the contents must not leak through timing.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  const n = a.length;
  if (n !== b.length) return false;
  if (n > CT_JS_MAX) return timingSafeEqual(a, b);
  // MAC-sized inputs: an OR of XORs over every byte (no early exit) costs a few ns, where the
  // native call costs ~0.1 µs of binding overhead per message.
  let diff = 0;
  for (let i = 0; i < n; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

const CT_JS_MAX = 64;

/** UTF-16LE encoding of a JS string (the NTLM "Unicode" form, MS-NLMP 2.2). */
export function utf16le(str: string): Uint8Array {
  const b = Buffer.from(str, 'utf16le');
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

/** Decodes hex (upper or lower case, no separators). */
export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'malformed hex string');
  }
  const b = Buffer.from(hex, 'hex');
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

/** Lowercase hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex');
}

/** Overwrites a secret with zeros. Accepts null/undefined so callers can zero optional keys. */
export function zero(buf: Uint8Array | null | undefined): void {
  if (buf) buf.fill(0);
}

/** Reads an unsigned 32-bit little-endian integer. */
export function readU32LE(b: Uint8Array, off: number): number {
  if (off < 0 || off + 4 > b.length) {
    throw new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, `u32 read at ${off} past end ${b.length}`);
  }
  return (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
}

/** Writes `v` as an unsigned 32-bit little-endian integer at `off`. */
export function writeU32LE(b: Uint8Array, off: number, v: number): void {
  if (off < 0 || off + 4 > b.length) {
    throw new SspiError(SecurityStatus.SEC_E_BUFFER_TOO_SMALL, `u32 write at ${off} past end ${b.length}`);
  }
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
  b[off + 2] = (v >>> 16) & 0xff;
  b[off + 3] = (v >>> 24) & 0xff;
}

/** A 4-byte little-endian encoding of `v`. */
export function u32le(v: number): Uint8Array {
  const b = new Uint8Array(4);
  writeU32LE(b, 0, v);
  return b;
}
