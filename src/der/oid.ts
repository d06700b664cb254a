// X.690 8.19: OBJECT IDENTIFIER content octets <-> dotted-decimal strings.
import { derEncodeFail, derFail } from './error.js';

// Arcs are kept as JS numbers; anything beyond 2^53 is not an OID any peer of ours sends.
const ARC_LIMIT = Number.MAX_SAFE_INTEGER;

/** Decode OID content octets (without tag and length). Rejects non-minimal arcs (8.19.2) and truncation. */
export function oidFromContent(buf: Uint8Array, start = 0, end = buf.length): string {
  if (end <= start) derFail('empty OBJECT IDENTIFIER');
  let out = '';
  let first = true;
  let i = start;
  while (i < end) {
    // 8.19.2: the leading octet of a subidentifier shall not be 0x80.
    if (buf[i] === 0x80) derFail('non-minimal OBJECT IDENTIFIER arc');
    let v = 0;
    for (;;) {
      if (i >= end) derFail('truncated OBJECT IDENTIFIER arc');
      const b = buf[i++]!;
      if (v > (ARC_LIMIT - 127) / 128) derFail('OBJECT IDENTIFIER arc too large');
      v = v * 128 + (b & 0x7f);
      if ((b & 0x80) === 0) break;
    }
    if (first) {
      // 8.19.4: the first subidentifier packs the first two arcs.
      const a = v < 40 ? 0 : v < 80 ? 1 : 2;
      out = `${a}.${v - a * 40}`;
      first = false;
    } else {
      out += `.${v}`;
    }
  }
  return out;
}

const DOTTED = /^[0-2](?:\.(?:0|[1-9][0-9]*))+$/;

/** Encode a dotted OID to content octets. Throws SEC_E_INVALID_PARAMETER on a malformed string. */
export function oidToContent(oid: string): Uint8Array {
  if (!DOTTED.test(oid)) derEncodeFail(`malformed OID '${oid}'`);
  const arcs = oid.split('.').map(Number);
  const a0 = arcs[0]!;
  const a1 = arcs[1]!;
  if (a0 < 2 && a1 >= 40) derEncodeFail(`OID '${oid}': second arc must be < 40`);
  const subs = [a0 * 40 + a1, ...arcs.slice(2)];
  const out: number[] = [];
  for (const s of subs) {
    if (!Number.isSafeInteger(s)) derEncodeFail(`OID '${oid}': arc too large`);
    const tmp: number[] = [s % 128];
    let v = Math.floor(s / 128);
    while (v > 0) {
      tmp.push((v % 128) | 0x80);
      v = Math.floor(v / 128);
    }
    for (let k = tmp.length - 1; k >= 0; k--) out.push(tmp[k]!);
  }
  return Uint8Array.from(out);
}
