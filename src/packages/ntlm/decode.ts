// A readable decoder for NTLM messages (MS-NLMP 2.2): the bytes become a plain JSON-able tree with
// spec names, and `formatNtlmTree` renders it as indented text. Backs `tslsa decode`.
import { SspiError } from '../../sspi/error.js';
import { SecurityStatus } from '../../sspi/status.js';
import { msvAvFlagNames, negotiateFlagNames, NTLMSSP_NEGOTIATE_UNICODE } from './flags.js';
import { type AvPair, type AvPairList, AvIdNames } from './avpairs.js';
import {
  type AUTHENTICATE_MESSAGE,
  type VERSION,
  NtLmAuthenticate,
  NtLmChallenge,
  NtLmNegotiate,
  NTLMSSP_SIGNATURE,
  ntlmMessageType,
  ntlmResponseKind,
  parseAuthenticateMessage,
  parseChallengeMessage,
  parseNegotiateMessage,
  parseNtlmv2Response,
} from './messages.js';

/** A JSON value: what the tree is made of (no bigint, no bytes: those become strings). */
export type NtlmTreeValue = string | number | boolean | null | NtlmTreeValue[] | NtlmTree;
export interface NtlmTree {
  [key: string]: NtlmTreeValue;
}

function invalid(detail: string): never {
  throw new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, detail);
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const hex32 = (n: number): string => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;

/** FILETIME (100 ns since 1601) as ISO time plus the raw value. */
export function formatFiletime(ft: bigint): string {
  const ms = Number((ft - 116444736000000000n) / 10000n);
  const d = new Date(ms);
  const iso = Number.isNaN(d.getTime()) ? 'out of range' : d.toISOString();
  return `${iso} (FILETIME 0x${ft.toString(16).padStart(16, '0')})`;
}

/** VERSION as "major.minor (build N) rev R" (MS-NLMP 2.2.2.10). */
export function formatVersion(v: VERSION): string {
  const s = `${v.ProductMajorVersion}.${v.ProductMinorVersion} (build ${v.ProductBuild}) rev ${v.NTLMRevisionCurrent}`;
  return v.Reserved ? `${s} reserved ${hex(v.Reserved)}` : s;
}

function flagsNode(flags: number): NtlmTree {
  return { value: hex32(flags), names: negotiateFlagNames(flags) };
}

function avPairNode(p: AvPair): NtlmTree {
  const name = AvIdNames[p.AvId] ?? `AvId 0x${p.AvId.toString(16).padStart(4, '0')}`;
  switch (p.kind) {
    case 'string':
      return { [name]: p.Value };
    case 'flags':
      return { [name]: { value: hex32(p.Value), names: msvAvFlagNames(p.Value) } };
    case 'timestamp':
      return { [name]: formatFiletime(p.Value) };
    case 'channelBindings':
      return { [name]: hex(p.Value) };
    case 'singleHost': {
      const s: NtlmTree = { Size: p.Value.Size, Z4: p.Value.Z4, CustomData: hex(p.Value.CustomData), MachineID: hex(p.Value.MachineID) };
      if (p.Value.Trailing) s.Trailing = hex(p.Value.Trailing);
      return { [name]: s };
    }
    case 'unknown':
      return { [name]: hex(p.Value) };
  }
}

function avPairsNode(list: AvPairList): NtlmTreeValue[] {
  const out: NtlmTreeValue[] = list.pairs.map(avPairNode);
  out.push({ MsvAvEOL: '' });
  if (list.Trailing) out.push({ 'bytes after MsvAvEOL': hex(list.Trailing) });
  return out;
}

function shape(start: number, forms: ReadonlyArray<readonly [number, string]>): string {
  let label = '';
  for (const [min, text] of forms) if (start >= min) label = text;
  return label;
}

function stringsEncoding(flags: number): string {
  return (flags & NTLMSSP_NEGOTIATE_UNICODE) !== 0 ? 'Unicode (UTF-16LE)' : 'OEM (read as latin1)';
}

function responsesNode(msg: AUTHENTICATE_MESSAGE): { kind: string; lm: NtlmTree; nt: NtlmTree } {
  const kind = ntlmResponseKind(msg);
  const lmBytes = msg.LmChallengeResponse;
  const ntBytes = msg.NtChallengeResponse;
  const lm: NtlmTree = { length: lmBytes.length };
  const nt: NtlmTree = { length: ntBytes.length };
  const allZero = lmBytes.every((b) => b === 0);
  switch (kind) {
    case 'NTLMv2': {
      try {
        const r = parseNtlmv2Response(ntBytes);
        const cc = r.ClientChallenge;
        Object.assign(nt, {
          kind: 'NTLMv2',
          NTProofStr: hex(r.NTProofStr),
          RespType: cc.RespType,
          HiRespType: cc.HiRespType,
          TimeStamp: formatFiletime(cc.TimeStamp),
          ChallengeFromClient: hex(cc.ChallengeFromClient),
          AvPairs: avPairsNode(cc.AvPairs),
        });
        if (cc.Reserved1 || cc.Reserved2 || cc.Reserved3) nt.Reserved = `${cc.Reserved1} ${cc.Reserved2} ${cc.Reserved3}`;
      } catch (e) {
        if (!SspiError.is(e)) throw e;
        Object.assign(nt, { kind: 'NTLMv2 (malformed)', error: e.message, hex: hex(ntBytes) });
      }
      if (lmBytes.length === 24 && allZero) lm.kind = 'Z(24) (LMv2 omitted because MsvAvTimestamp was present)';
      else if (lmBytes.length === 24) Object.assign(lm, { kind: 'LMv2', Response: hex(lmBytes.subarray(0, 16)), ChallengeFromClient: hex(lmBytes.subarray(16)) });
      else lm.hex = hex(lmBytes);
      break;
    }
    case 'NTLMv1-ESS':
      Object.assign(nt, { kind: 'NTLMv1 with extended session security', hex: hex(ntBytes) });
      if (lmBytes.length === 24 && lmBytes.subarray(8).every((b) => b === 0)) {
        Object.assign(lm, { kind: 'ESS client challenge || Z(16)', ChallengeFromClient: hex(lmBytes.subarray(0, 8)) });
      } else lm.hex = hex(lmBytes);
      break;
    case 'NTLMv1':
      nt.kind = 'NTLMv1';
      nt.hex = hex(ntBytes);
      lm.kind = lmBytes.length === 24 && Buffer.compare(lmBytes, ntBytes) === 0 ? 'copy of the NT response' : 'LMv1';
      lm.hex = hex(lmBytes);
      break;
    case 'Anonymous':
      nt.kind = 'none (anonymous)';
      lm.kind = lmBytes.length === 1 ? 'Z(1) (anonymous)' : 'none (anonymous)';
      break;
    case 'LM':
      nt.kind = 'none';
      Object.assign(lm, { kind: 'LMv1 or LMv2', hex: hex(lmBytes) });
      break;
    case 'Unknown':
      nt.kind = 'unrecognized';
      nt.hex = hex(ntBytes);
      lm.hex = hex(lmBytes);
      break;
  }
  return { kind, lm, nt };
}

/** Decode NTLM message bytes into a tree; SEC_E_INVALID_TOKEN when they are not a valid message. */
export function decodeNtlmMessage(input: Uint8Array | string): NtlmTree {
  const { bytes, wrapper } = typeof input === 'string' ? decodeNtlmInput(input) : { bytes: input, wrapper: undefined };
  const type = ntlmMessageType(bytes);
  const tree: NtlmTree = {};
  if (wrapper) tree.Wrapper = wrapper;
  switch (type) {
    case NtLmNegotiate: {
      const m = parseNegotiateMessage(bytes);
      const start = m.layout!.PayloadStart;
      Object.assign(tree, {
        MessageType: 'NEGOTIATE_MESSAGE',
        Length: bytes.length,
        Header: shape(start, [[16, '16 bytes (no DomainName/Workstation fields)'], [32, '32 bytes (no VERSION)'], [40, '40 bytes (VERSION)']]),
        NegotiateFlags: flagsNode(m.NegotiateFlags),
        DomainName: m.DomainName,
        Workstation: m.Workstation,
      });
      if (m.Version) tree.Version = formatVersion(m.Version);
      return tree;
    }
    case NtLmChallenge: {
      const m = parseChallengeMessage(bytes);
      const start = m.layout!.PayloadStart;
      Object.assign(tree, {
        MessageType: 'CHALLENGE_MESSAGE',
        Length: bytes.length,
        Header: shape(start, [[32, '32 bytes (no Reserved, TargetInfo, VERSION)'], [40, '40 bytes (no TargetInfo, VERSION)'], [48, '48 bytes (no VERSION)'], [56, '56 bytes (VERSION)']]),
        NegotiateFlags: flagsNode(m.NegotiateFlags),
        Strings: stringsEncoding(m.NegotiateFlags),
        TargetName: m.TargetName,
        ServerChallenge: hex(m.ServerChallenge),
      });
      if (m.Reserved) tree.Reserved = hex(m.Reserved);
      tree.TargetInfo = m.TargetInfoPairs ? avPairsNode(m.TargetInfoPairs) : [];
      if (m.Version) tree.Version = formatVersion(m.Version);
      return tree;
    }
    case NtLmAuthenticate: {
      const m = parseAuthenticateMessage(bytes);
      const start = m.layout!.PayloadStart;
      const r = responsesNode(m);
      Object.assign(tree, {
        MessageType: 'AUTHENTICATE_MESSAGE',
        Length: bytes.length,
        Header: shape(start, [[64, '64 bytes (no VERSION, no MIC)'], [72, '72 bytes (VERSION, no MIC)'], [88, '88 bytes (VERSION + MIC)']]),
        NegotiateFlags: flagsNode(m.NegotiateFlags),
        Strings: stringsEncoding(m.NegotiateFlags),
        Response: r.kind,
        LmChallengeResponse: r.lm,
        NtChallengeResponse: r.nt,
        DomainName: m.DomainName,
        UserName: m.UserName,
        Workstation: m.Workstation,
        EncryptedRandomSessionKey: m.EncryptedRandomSessionKey.length ? hex(m.EncryptedRandomSessionKey) : '',
      });
      if (m.Version) tree.Version = formatVersion(m.Version);
      if (m.MIC) {
        tree.MIC = hex(m.MIC);
        tree.MicOffset = m.MicOffset!;
      }
      return tree;
    }
    default:
      return invalid(`unknown NTLM MessageType ${type}`);
  }
}

const HEADER_NAME = /^\s*(?:proxy-)?(?:authorization|www-authenticate|authenticate)\s*:\s*/i;
const SCHEME = /^\s*(ntlm|negotiate)\s+/i;

/**
 * Turn CLI input into message bytes: base64, hex, `NTLM <base64>` / `Negotiate <base64>`, optionally
 * with the header name in front. An NTLM message inside SPNEGO is found and unwrapped.
 */
export function decodeNtlmInput(text: string): { bytes: Uint8Array; wrapper?: string } {
  let s = text.replace(HEADER_NAME, '');
  let scheme: string | undefined;
  const m = SCHEME.exec(s);
  if (m) {
    scheme = m[1]!;
    s = s.slice(m[0].length);
  }
  s = s.trim();
  let bytes: Uint8Array | undefined;
  const compactHex = s.replace(/^0x/i, '').replace(/[\s:]/g, '');
  if (/^[0-9a-f]+$/i.test(compactHex) && compactHex.length % 2 === 0) {
    const b = Buffer.from(compactHex, 'hex');
    if (indexOfSignature(b) >= 0 || !/^[A-Za-z0-9+/_-]+=*$/.test(s)) bytes = b;
  }
  if (!bytes) {
    const b64 = s.replace(/\s+/g, '');
    if (b64.length === 0 || !/^[A-Za-z0-9+/_-]+=*$/.test(b64)) invalid('input is neither base64 nor hex');
    bytes = Buffer.from(b64.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  }
  if (startsWithSignature(bytes)) return { bytes: new Uint8Array(bytes) };
  // SPNEGO (RFC 4178) carries the NTLM message in an OCTET STRING: find it and trust its length.
  const at = indexOfSignature(bytes);
  if (at < 0) invalid(scheme?.toLowerCase() === 'negotiate' ? 'Negotiate token without an NTLM message (Kerberos?)' : 'no NTLMSSP signature in input');
  return { bytes: new Uint8Array(octetStringAt(bytes, at)), wrapper: 'SPNEGO' };
}

function startsWithSignature(b: Uint8Array): boolean {
  return b.length >= 8 && NTLMSSP_SIGNATURE.every((x, i) => b[i] === x);
}

function indexOfSignature(b: Uint8Array): number {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).indexOf(Buffer.from(NTLMSSP_SIGNATURE));
}

/** The NTLM bytes at `at`, cut to the enclosing DER OCTET STRING's length when one precedes it. */
function octetStringAt(b: Uint8Array, at: number): Uint8Array {
  const candidates: Array<[number, number]> = [];
  if (at >= 2 && b[at - 2] === 0x04 && b[at - 1]! < 0x80) candidates.push([b[at - 1]!, 0]);
  if (at >= 3 && b[at - 3] === 0x04 && b[at - 2] === 0x81) candidates.push([b[at - 1]!, 0]);
  if (at >= 4 && b[at - 4] === 0x04 && b[at - 3] === 0x82) candidates.push([(b[at - 2]! << 8) | b[at - 1]!, 0]);
  for (const [len] of candidates) if (at + len <= b.length) return b.slice(at, at + len);
  return b.slice(at);
}

function isScalar(v: NtlmTreeValue): v is string | number | boolean | null {
  return v === null || typeof v !== 'object';
}

function scalarText(v: string | number | boolean | null): string {
  return typeof v === 'string' ? v : String(v);
}

/**
 * Render a tree as indented text: `key: value` per scalar, nested objects indented, an object with
 * a `value` key shown as `key: value` with its other keys below, and lists one entry per line.
 */
export function formatNtlmTree(tree: NtlmTree, indent = ''): string {
  const lines: string[] = [];
  const emit = (key: string, v: NtlmTreeValue, pad: string): void => {
    if (isScalar(v)) {
      lines.push(`${pad}${key}: ${scalarText(v)}`.trimEnd());
    } else if (Array.isArray(v)) {
      lines.push(`${pad}${key}:${v.length === 0 ? ' (none)' : ''}`);
      for (const item of v) {
        if (isScalar(item)) lines.push(`${pad}  ${scalarText(item)}`);
        else if (Array.isArray(item)) emit('-', item, `${pad}  `);
        else for (const [k, x] of Object.entries(item)) emit(k, x, `${pad}  `);
      }
    } else {
      const head = v.value;
      lines.push(head !== undefined && isScalar(head) ? `${pad}${key}: ${scalarText(head)}` : `${pad}${key}:`);
      for (const [k, x] of Object.entries(v)) {
        if (k === 'value' && isScalar(x)) continue;
        if (k === 'names' && Array.isArray(x)) {
          for (const n of x) lines.push(`${pad}  ${isScalar(n) ? scalarText(n) : JSON.stringify(n)}`);
          continue;
        }
        emit(k, x, `${pad}  `);
      }
    }
  };
  for (const [k, v] of Object.entries(tree)) emit(k, v, indent);
  return lines.join('\n');
}
