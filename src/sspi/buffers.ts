// SecBuffer / SecBufferDesc, reference section 9.
// A C SecBuffer is {cbBuffer, BufferType, pvBuffer}: pvBuffer's capacity is the caller's
// allocation and cbBuffer the bytes in use. Here pvBuffer is a Uint8Array (its length is the
// capacity) and cbBuffer the count in use, so caller-supplied output buffers keep C semantics.

import { SECBUFFER, SECBUFFER_ATTRMASK, SECBUFFER_READONLY, SECBUFFER_READONLY_WITH_CHECKSUM, SECBUFFER_VERSION } from './flags.js';
import { SspiError } from './error.js';
import { SecurityStatus, type Status } from './status.js';

export interface SecBuffer {
  cbBuffer: number;
  BufferType: number;
  pvBuffer: Uint8Array | null;
}

export interface SecBufferDesc {
  ulVersion: number;
  cBuffers: number;
  pBuffers: SecBuffer[];
}

/** A SecBuffer holding `data` (cbBuffer = length). */
export function secBuffer(BufferType: number, data: Uint8Array | null = null): SecBuffer {
  return { BufferType, pvBuffer: data, cbBuffer: data ? data.length : 0 };
}

/** An output SecBuffer with `capacity` bytes of caller-supplied room (cbBuffer = capacity). */
export function outputBuffer(BufferType: number, capacity: number): SecBuffer {
  return { BufferType, pvBuffer: new Uint8Array(capacity), cbBuffer: capacity };
}

export function secBufferDesc(...buffers: SecBuffer[]): SecBufferDesc {
  return { ulVersion: SECBUFFER_VERSION, cBuffers: buffers.length, pBuffers: buffers };
}

/** The buffer type without the attribute bits (SECBUFFER_READONLY...). */
export function baseType(b: SecBuffer): number {
  return (b.BufferType & ~SECBUFFER_ATTRMASK) >>> 0;
}

export function isReadOnly(b: SecBuffer): boolean {
  return (b.BufferType & (SECBUFFER_READONLY | SECBUFFER_READONLY_WITH_CHECKSUM)) !== 0;
}

/** The first buffer of a type (attribute bits ignored). */
export function findBuffer(desc: SecBufferDesc | null | undefined, type: number): SecBuffer | undefined {
  if (!desc) return undefined;
  for (const b of desc.pBuffers) if (baseType(b) === type) return b;
  return undefined;
}

export function findBuffers(desc: SecBufferDesc | null | undefined, type: number): SecBuffer[] {
  if (!desc) return [];
  return desc.pBuffers.filter((b) => baseType(b) === type);
}

/** The bytes in use of a buffer (a view, not a copy). */
export function bufferBytes(b: SecBuffer): Uint8Array {
  if (!b.pvBuffer) return new Uint8Array(0);
  return b.pvBuffer.subarray(0, Math.min(b.cbBuffer, b.pvBuffer.length));
}

/** The bytes of the first SECBUFFER_TOKEN of `desc` (a view), or null when it has none. */
export function inputToken(desc: SecBufferDesc | null | undefined): Uint8Array | null {
  const b = findBuffer(desc, SECBUFFER.TOKEN);
  return b ? bufferBytes(b) : null;
}

/** The channel bindings a SECBUFFER_CHANNEL_BINDINGS buffer carries, or null when there is none; malformed ones are SEC_E_BAD_BINDINGS. */
export function channelBindingsIn(desc: SecBufferDesc | null | undefined): SecChannelBindings | null {
  const b = findBuffer(desc, SECBUFFER.CHANNEL_BINDINGS);
  if (!b) return null;
  const cb = parseChannelBindings(bufferBytes(b));
  if (!cb) throw new SspiError(SecurityStatus.SEC_E_BAD_BINDINGS, 'malformed SEC_CHANNEL_BINDINGS');
  return cb;
}

/**
 * Check that a SecBufferDesc is well formed: version 0, cBuffers matching the array, every buffer
 * with a numeric type and a cbBuffer within pvBuffer. Returns SEC_E_OK or the status to report.
 */
export function validateDesc(desc: unknown, allowNull: boolean): Status {
  if (desc === null || desc === undefined) return allowNull ? SecurityStatus.SEC_E_OK : SecurityStatus.SEC_E_INVALID_TOKEN;
  if (typeof desc !== 'object') return SecurityStatus.SEC_E_INVALID_PARAMETER;
  const d = desc as Partial<SecBufferDesc>;
  if (d.ulVersion !== SECBUFFER_VERSION) return SecurityStatus.SEC_E_INVALID_TOKEN;
  if (!Array.isArray(d.pBuffers) || d.cBuffers !== d.pBuffers.length) return SecurityStatus.SEC_E_INVALID_PARAMETER;
  for (const b of d.pBuffers as unknown[]) {
    if (b === null || typeof b !== 'object') return SecurityStatus.SEC_E_INVALID_PARAMETER;
    const sb = b as Partial<SecBuffer>;
    if (typeof sb.BufferType !== 'number' || !Number.isInteger(sb.BufferType)) return SecurityStatus.SEC_E_INVALID_PARAMETER;
    if (typeof sb.cbBuffer !== 'number' || !Number.isInteger(sb.cbBuffer) || sb.cbBuffer < 0) return SecurityStatus.SEC_E_INVALID_PARAMETER;
    if (sb.pvBuffer !== null && sb.pvBuffer !== undefined && !(sb.pvBuffer instanceof Uint8Array)) return SecurityStatus.SEC_E_INVALID_PARAMETER;
    if (sb.cbBuffer > (sb.pvBuffer?.length ?? 0) && baseType(sb as SecBuffer) !== SECBUFFER.MISSING && baseType(sb as SecBuffer) !== SECBUFFER.EXTRA) {
      return SecurityStatus.SEC_E_INVALID_PARAMETER;
    }
  }
  return SecurityStatus.SEC_E_OK;
}

/**
 * Place an output token in the first SECBUFFER_TOKEN of `desc`, as a package does at the end of a
 * leg. With `allocate` (ISC_REQ_ALLOCATE_MEMORY) the buffer is allocated here; otherwise the token
 * must fit the caller's buffer, or SEC_E_BUFFER_TOO_SMALL (what Windows packages return).
 */
export function writeOutputToken(desc: SecBufferDesc | null | undefined, token: Uint8Array, allocate: boolean): Status {
  const b = findBuffer(desc, SECBUFFER.TOKEN);
  if (!b) return token.length === 0 ? SecurityStatus.SEC_E_OK : SecurityStatus.SEC_E_INVALID_TOKEN;
  if (allocate) {
    b.pvBuffer = token.slice();
    b.cbBuffer = token.length;
    return SecurityStatus.SEC_E_OK;
  }
  if (!b.pvBuffer || b.pvBuffer.length < token.length || b.cbBuffer < token.length) {
    return SecurityStatus.SEC_E_BUFFER_TOO_SMALL;
  }
  b.pvBuffer.set(token, 0);
  b.cbBuffer = token.length;
  return SecurityStatus.SEC_E_OK;
}

/** A deep copy of a descriptor, used where a buffer set crosses a trust boundary. */
export function cloneDesc(desc: SecBufferDesc): SecBufferDesc {
  return {
    ulVersion: desc.ulVersion,
    cBuffers: desc.cBuffers,
    pBuffers: desc.pBuffers.map((b) => ({ BufferType: b.BufferType, cbBuffer: b.cbBuffer, pvBuffer: b.pvBuffer ? b.pvBuffer.slice() : null })),
  };
}

/** SEC_CHANNEL_BINDINGS (8 ULONGs + data): parsed form. */
export interface SecChannelBindings {
  dwInitiatorAddrType: number;
  initiatorAddress: Uint8Array;
  dwAcceptorAddrType: number;
  acceptorAddress: Uint8Array;
  applicationData: Uint8Array;
}

/** Parse a SEC_CHANNEL_BINDINGS buffer; offsets are from the start of the struct. Null when malformed. */
export function parseChannelBindings(buf: Uint8Array): SecChannelBindings | null {
  if (buf.length < 32) return null;
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const u = (i: number) => v.getUint32(i * 4, true);
  const slice = (len: number, off: number): Uint8Array | null => (len === 0 ? new Uint8Array(0) : off < 32 || off + len > buf.length ? null : buf.subarray(off, off + len));
  const ini = slice(u(1), u(2));
  const acc = slice(u(4), u(5));
  const app = slice(u(6), u(7));
  if (!ini || !acc || !app) return null;
  return { dwInitiatorAddrType: u(0), initiatorAddress: ini, dwAcceptorAddrType: u(3), acceptorAddress: acc, applicationData: app };
}

/** Build a SEC_CHANNEL_BINDINGS buffer carrying only application data (e.g. "tls-server-end-point:" + hash). */
export function buildChannelBindings(applicationData: Uint8Array, initiator?: { type: number; address: Uint8Array }, acceptor?: { type: number; address: Uint8Array }): Uint8Array {
  const ia = initiator?.address ?? new Uint8Array(0);
  const aa = acceptor?.address ?? new Uint8Array(0);
  const out = new Uint8Array(32 + ia.length + aa.length + applicationData.length);
  const v = new DataView(out.buffer);
  let off = 32;
  v.setUint32(0, initiator?.type ?? 0, true);
  v.setUint32(4, ia.length, true);
  v.setUint32(8, ia.length ? off : 0, true);
  out.set(ia, off);
  off += ia.length;
  v.setUint32(12, acceptor?.type ?? 0, true);
  v.setUint32(16, aa.length, true);
  v.setUint32(20, aa.length ? off : 0, true);
  out.set(aa, off);
  off += aa.length;
  v.setUint32(24, applicationData.length, true);
  v.setUint32(28, applicationData.length ? off : 0, true);
  out.set(applicationData, off);
  return out;
}
