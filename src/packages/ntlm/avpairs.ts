// AV_PAIR lists (MS-NLMP 2.2.2.1) and Single_Host_Data (MS-NLMP 2.2.2.2): the TargetInfo of a
// CHALLENGE_MESSAGE and the AvPairs of an NTLMv2_CLIENT_CHALLENGE, parsed once into typed pairs.
import { SspiError } from '../../sspi/error.js';
import { SecurityStatus } from '../../sspi/status.js';

export const MsvAvEOL = 0x0000;
export const MsvAvNbComputerName = 0x0001;
export const MsvAvNbDomainName = 0x0002;
export const MsvAvDnsComputerName = 0x0003;
export const MsvAvDnsDomainName = 0x0004;
export const MsvAvDnsTreeName = 0x0005;
export const MsvAvFlags = 0x0006;
export const MsvAvTimestamp = 0x0007;
export const MsvAvSingleHost = 0x0008;
export const MsvAvTargetName = 0x0009;
export const MsvAvChannelBindings = 0x000a;

/** Spec names of the defined AvIds, for decoding. */
export const AvIdNames: Readonly<Record<number, string>> = {
  [MsvAvEOL]: 'MsvAvEOL',
  [MsvAvNbComputerName]: 'MsvAvNbComputerName',
  [MsvAvNbDomainName]: 'MsvAvNbDomainName',
  [MsvAvDnsComputerName]: 'MsvAvDnsComputerName',
  [MsvAvDnsDomainName]: 'MsvAvDnsDomainName',
  [MsvAvDnsTreeName]: 'MsvAvDnsTreeName',
  [MsvAvFlags]: 'MsvAvFlags',
  [MsvAvTimestamp]: 'MsvAvTimestamp',
  [MsvAvSingleHost]: 'MsvAvSingleHost',
  [MsvAvTargetName]: 'MsvAvTargetName',
  [MsvAvChannelBindings]: 'MsvAvChannelBindings',
};

/** AvIds whose value is a Unicode (UTF-16LE) string without terminator. */
export type AvStringId =
  | typeof MsvAvNbComputerName
  | typeof MsvAvNbDomainName
  | typeof MsvAvDnsComputerName
  | typeof MsvAvDnsDomainName
  | typeof MsvAvDnsTreeName
  | typeof MsvAvTargetName;

const STRING_IDS: ReadonlySet<number> = new Set([
  MsvAvNbComputerName,
  MsvAvNbDomainName,
  MsvAvDnsComputerName,
  MsvAvDnsDomainName,
  MsvAvDnsTreeName,
  MsvAvTargetName,
]);

/** Single_Host_Data (MS-NLMP 2.2.2.2); bytes after MachineID are kept so a re-write is identical. */
export interface SINGLE_HOST_DATA {
  /** Length of the whole AV_PAIR Value as the sender stated it (not checked against AvLen). */
  Size: number;
  /** Should be zero; kept as sent. */
  Z4: number;
  /** 8 bytes, platform specific. */
  CustomData: Uint8Array;
  /** 32 bytes, random per boot. */
  MachineID: Uint8Array;
  /** Anything after MachineID: must be ignored on receipt, preserved for re-serialization. */
  Trailing?: Uint8Array;
}

export type AvPair =
  | { kind: 'string'; AvId: AvStringId; Value: string }
  | { kind: 'flags'; AvId: typeof MsvAvFlags; Value: number }
  | { kind: 'timestamp'; AvId: typeof MsvAvTimestamp; Value: bigint }
  | { kind: 'singleHost'; AvId: typeof MsvAvSingleHost; Value: SINGLE_HOST_DATA }
  | { kind: 'channelBindings'; AvId: typeof MsvAvChannelBindings; Value: Uint8Array }
  /** An AvId this code does not define: kept raw, in order. */
  | { kind: 'unknown'; AvId: number; Value: Uint8Array };

/** An AV_PAIR list in wire order, without its terminating MsvAvEOL. */
export interface AvPairList {
  pairs: AvPair[];
  /** Bytes after MsvAvEOL; only accepted with `allowTrailing` (the NTLMv2 blob ends in Z(4)). */
  Trailing?: Uint8Array;
}

/** Named view of a list: the first value of each defined AvId (duplicates are rejected anyway). */
export interface AvPairsByName {
  MsvAvNbComputerName?: string;
  MsvAvNbDomainName?: string;
  MsvAvDnsComputerName?: string;
  MsvAvDnsDomainName?: string;
  MsvAvDnsTreeName?: string;
  MsvAvFlags?: number;
  MsvAvTimestamp?: bigint;
  MsvAvSingleHost?: SINGLE_HOST_DATA;
  MsvAvTargetName?: string;
  MsvAvChannelBindings?: Uint8Array;
}

export interface ParseAvPairsOptions {
  /** Accept (and keep) bytes after MsvAvEOL instead of rejecting them. */
  allowTrailing?: boolean;
  /** What the list is, for error messages. */
  what?: string;
}

const SINGLE_HOST_MIN = 48; // Size(4) Z4(4) CustomData(8) MachineID(32), MS-NLMP 2.2.2.2

function invalid(detail: string): never {
  throw new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, detail);
}

/** Parse an AV_PAIR list (MS-NLMP 2.2.2.1); anything malformed is SEC_E_INVALID_TOKEN. */
export function parseAvPairs(input: Uint8Array, options: ParseAvPairsOptions = {}): AvPairList {
  const what = options.what ?? 'AV_PAIR list';
  if (!(input instanceof Uint8Array)) invalid(`${what}: not a byte array`);
  // A plain view, so that slice() copies even when the caller passed a Buffer (whose slice aliases).
  const bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const pairs: AvPair[] = [];
  const seen = new Set<number>();
  let off = 0;
  for (;;) {
    if (off + 4 > bytes.length) invalid(`${what}: missing MsvAvEOL`);
    const AvId = dv.getUint16(off, true);
    const AvLen = dv.getUint16(off + 2, true);
    off += 4;
    if (off + AvLen > bytes.length) invalid(`${what}: AvId ${AvId} length ${AvLen} runs past the end`);
    if (AvId === MsvAvEOL) {
      if (AvLen !== 0) invalid(`${what}: MsvAvEOL with non-zero AvLen ${AvLen}`);
      break;
    }
    const value = bytes.subarray(off, off + AvLen);
    off += AvLen;
    // Two MsvAvFlags (or two timestamps) would let a peer say different things to different readers.
    if (AvId in AvIdNames) {
      if (seen.has(AvId)) invalid(`${what}: duplicate ${AvIdNames[AvId]}`);
      seen.add(AvId);
    }
    pairs.push(decodePair(AvId, value, what));
  }
  const list: AvPairList = { pairs };
  if (off < bytes.length) {
    if (!options.allowTrailing) invalid(`${what}: ${bytes.length - off} bytes after MsvAvEOL`);
    list.Trailing = bytes.slice(off);
  }
  return list;
}

function decodePair(AvId: number, v: Uint8Array, what: string): AvPair {
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  if (STRING_IDS.has(AvId)) {
    if (v.length % 2 !== 0) invalid(`${what}: ${AvIdNames[AvId]} has odd length ${v.length}`);
    return { kind: 'string', AvId: AvId as AvStringId, Value: Buffer.from(v).toString('utf16le') };
  }
  switch (AvId) {
    case MsvAvFlags:
      if (v.length !== 4) invalid(`${what}: MsvAvFlags must be 4 bytes, not ${v.length}`);
      return { kind: 'flags', AvId, Value: dv.getUint32(0, true) };
    case MsvAvTimestamp:
      if (v.length !== 8) invalid(`${what}: MsvAvTimestamp must be 8 bytes, not ${v.length}`);
      return { kind: 'timestamp', AvId, Value: dv.getBigUint64(0, true) };
    case MsvAvChannelBindings:
      if (v.length !== 16) invalid(`${what}: MsvAvChannelBindings must be 16 bytes, not ${v.length}`);
      return { kind: 'channelBindings', AvId, Value: v.slice() };
    case MsvAvSingleHost: {
      if (v.length < SINGLE_HOST_MIN) invalid(`${what}: MsvAvSingleHost shorter than ${SINGLE_HOST_MIN} bytes`);
      const Value: SINGLE_HOST_DATA = {
        Size: dv.getUint32(0, true),
        Z4: dv.getUint32(4, true),
        CustomData: v.slice(8, 16),
        MachineID: v.slice(16, 48),
      };
      if (v.length > SINGLE_HOST_MIN) Value.Trailing = v.slice(SINGLE_HOST_MIN);
      return { kind: 'singleHost', AvId, Value };
    }
    default:
      return { kind: 'unknown', AvId, Value: v.slice() };
  }
}

/** The Value bytes of one pair. */
export function encodeAvPairValue(pair: AvPair): Uint8Array {
  switch (pair.kind) {
    case 'string':
      return Buffer.from(pair.Value, 'utf16le');
    case 'flags': {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(pair.Value >>> 0, 0);
      return b;
    }
    case 'timestamp': {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(BigInt.asUintN(64, pair.Value), 0);
      return b;
    }
    case 'channelBindings':
      if (pair.Value.length !== 16) throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'MsvAvChannelBindings must be 16 bytes');
      return pair.Value;
    case 'singleHost': {
      const s = pair.Value;
      if (s.CustomData.length !== 8 || s.MachineID.length !== 32) {
        throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'Single_Host_Data: CustomData is 8 bytes, MachineID 32');
      }
      const trailing = s.Trailing ?? new Uint8Array(0);
      const b = Buffer.alloc(SINGLE_HOST_MIN + trailing.length);
      b.writeUInt32LE(s.Size >>> 0, 0);
      b.writeUInt32LE(s.Z4 >>> 0, 4);
      b.set(s.CustomData, 8);
      b.set(s.MachineID, 16);
      b.set(trailing, SINGLE_HOST_MIN);
      return b;
    }
    case 'unknown':
      if (pair.AvId === MsvAvEOL) throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'MsvAvEOL is written by writeAvPairs, not as a pair');
      return pair.Value;
  }
}

/** Serialize a list in its order, then MsvAvEOL, then any Trailing bytes (MS-NLMP 2.2.2.1). */
export function writeAvPairs(list: AvPairList): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const pair of list.pairs) {
    const value = encodeAvPairValue(pair);
    if (value.length > 0xffff) throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, `AV_PAIR ${pair.AvId} longer than 65535 bytes`);
    const head = Buffer.alloc(4);
    head.writeUInt16LE(pair.AvId & 0xffff, 0);
    head.writeUInt16LE(value.length, 2);
    parts.push(head, value);
  }
  parts.push(new Uint8Array(4)); // MsvAvEOL, AvLen 0
  if (list.Trailing) parts.push(list.Trailing);
  return new Uint8Array(Buffer.concat(parts));
}

// Constructors, so callers need not spell `kind`.
export function avString(AvId: AvStringId, Value: string): AvPair {
  return { kind: 'string', AvId, Value };
}
export function avFlags(Value: number): AvPair {
  return { kind: 'flags', AvId: MsvAvFlags, Value: Value >>> 0 };
}
export function avTimestamp(Value: bigint): AvPair {
  return { kind: 'timestamp', AvId: MsvAvTimestamp, Value };
}
export function avChannelBindings(Value: Uint8Array): AvPair {
  return { kind: 'channelBindings', AvId: MsvAvChannelBindings, Value };
}
export function avSingleHost(Value: SINGLE_HOST_DATA): AvPair {
  return { kind: 'singleHost', AvId: MsvAvSingleHost, Value };
}
export function avTargetName(Value: string): AvPair {
  return { kind: 'string', AvId: MsvAvTargetName, Value };
}

/** The first pair with this AvId. */
export function findAvPair(list: AvPairList, AvId: number): AvPair | undefined {
  return list.pairs.find((p) => p.AvId === AvId);
}

/**
 * A copy of `list` with `pair` replacing the pair of the same AvId in place, or appended before
 * MsvAvEOL: how an NTLMv2 client adds MsvAvFlags/Timestamp/TargetName/ChannelBindings (MS-NLMP 3.1.5.2.1).
 */
export function setAvPair(list: AvPairList, pair: AvPair): AvPairList {
  const i = list.pairs.findIndex((p) => p.AvId === pair.AvId);
  const pairs = list.pairs.slice();
  if (i >= 0) pairs[i] = pair;
  else pairs.push(pair);
  return list.Trailing ? { pairs, Trailing: list.Trailing } : { pairs };
}

/** A copy of `list` without any pair of this AvId. */
export function removeAvPair(list: AvPairList, AvId: number): AvPairList {
  const pairs = list.pairs.filter((p) => p.AvId !== AvId);
  return list.Trailing ? { pairs, Trailing: list.Trailing } : { pairs };
}

/** The defined pairs by spec name (first occurrence); unknown AvIds stay only in `list.pairs`. */
export function avPairsByName(list: AvPairList): AvPairsByName {
  const out: AvPairsByName = {};
  for (const p of list.pairs) {
    switch (p.kind) {
      case 'string': {
        const name = AvIdNames[p.AvId] as Exclude<keyof AvPairsByName, 'MsvAvFlags' | 'MsvAvTimestamp' | 'MsvAvSingleHost' | 'MsvAvChannelBindings'>;
        out[name] ??= p.Value;
        break;
      }
      case 'flags':
        out.MsvAvFlags ??= p.Value;
        break;
      case 'timestamp':
        out.MsvAvTimestamp ??= p.Value;
        break;
      case 'singleHost':
        out.MsvAvSingleHost ??= p.Value;
        break;
      case 'channelBindings':
        out.MsvAvChannelBindings ??= p.Value;
        break;
      case 'unknown':
        break;
    }
  }
  return out;
}
