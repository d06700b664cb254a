// SPNEGO tokens (RFC 4178 4.2, MS-SPNG 2.2), parsed once into typed objects.
//
//   NegotiationToken ::= CHOICE { negTokenInit [0] NegTokenInit, negTokenResp [1] NegTokenResp }
//
// The first token of either side is framed as an RFC 2743 InitialContextToken for the SPNEGO OID;
// later ones are the bare [1] NegTokenResp. A server-initiated token (MS-SPNG NegTokenInit2) carries
// negHints at [3] and its mechListMIC at [4]; a client NegTokenInit carries mechListMIC at [3]. The
// two are told apart by what is inside [3] (a SEQUENCE of hints or an OCTET STRING).
//
// mechListMIC is computed over the DER encoding of mechTypes exactly as the initiator sent it, so
// the parser keeps those bytes (`mechTypesDer`) instead of re-encoding the list.

import { DerReader, DerWriter, Tag, ctx, derDecode, derEncode, derFail, oidContent, parseInitialContextToken, wrapInitialContextToken, SPNEGO_MECH_OID } from '../../der/index.js';
import { oidFromContent } from '../../der/oid.js';

/** RFC 4178 4.2.2 negState. */
export const NegState = {
  accept_completed: 0,
  accept_incomplete: 1,
  reject: 2,
  request_mic: 3,
} as const;
export type NegState = (typeof NegState)[keyof typeof NegState];

/** RFC 4178 4.2.1 ContextFlags bits, counted from the first (most significant) bit. */
export const ContextFlag = {
  delegFlag: 0,
  mutualFlag: 1,
  replayFlag: 2,
  sequenceFlag: 3,
  anonFlag: 4,
  confFlag: 5,
  integFlag: 6,
} as const;

/** MS-SPNG 2.2.1 NegHints. */
export interface NegHints {
  hintName?: string;
  hintAddress?: Uint8Array;
}

export interface NegTokenInit {
  kind: 'init';
  /** Dotted OIDs in the sender's order of preference. */
  mechTypes: string[];
  /** The DER MechTypeList (SEQUENCE OF OID) as sent: the mechListMIC input. */
  mechTypesDer: Uint8Array;
  /** reqFlags as a bit mask of ContextFlag bits (bit n set = flag n); MS-SPNG says ignore it. */
  reqFlags?: number;
  mechToken?: Uint8Array;
  /** MS-SPNG NegTokenInit2 only. */
  negHints?: NegHints;
  mechListMIC?: Uint8Array;
}

export interface NegTokenResp {
  kind: 'resp';
  negState?: NegState;
  supportedMech?: string;
  responseToken?: Uint8Array;
  mechListMIC?: Uint8Array;
}

export type NegotiationToken = NegTokenInit | NegTokenResp;

const SEQ = Tag.SEQUENCE;
const NEG_TOKEN_INIT = ctx(0);
const NEG_TOKEN_RESP = ctx(1);
/** RFC 4178 gives no bound; real lists have two to four entries. */
const MAX_MECH_TYPES = 64;

function readMechTypeList(r: DerReader): { mechTypes: string[]; mechTypesDer: Uint8Array } {
  const mechTypesDer = r.readRaw(SEQ);
  const inner = new DerReader(mechTypesDer);
  inner.enter(SEQ);
  const mechTypes: string[] = [];
  while (!inner.atEnd()) {
    if (mechTypes.length >= MAX_MECH_TYPES) derFail('too many SPNEGO mechTypes');
    mechTypes.push(oidFromContent(inner.readOidContent(Tag.OBJECT_IDENTIFIER)));
  }
  inner.leave();
  inner.finish();
  return { mechTypes, mechTypesDer };
}

/** ContextFlags BIT STRING -> mask with bit n = flag n (only the seven defined flags matter). */
function readContextFlags(r: DerReader): number {
  const { bytes } = r.readBitString();
  let mask = 0;
  for (let n = 0; n < 8 && n < bytes.length * 8; n++) {
    if ((bytes[n >> 3]! >> (7 - (n & 7))) & 1) mask |= 1 << n;
  }
  return mask;
}

function readNegHints(r: DerReader): NegHints {
  const hints: NegHints = {};
  r.enter(SEQ);
  if (r.enterIf(ctx(0))) {
    hints.hintName = r.readGeneralString();
    r.leave();
  }
  if (r.enterIf(ctx(1))) {
    hints.hintAddress = r.readOctetString();
    r.leave();
  }
  r.leave();
  return hints;
}

/** Fields after the known ones are an extension ("..."): skip them whole, in tag order. */
function skipExtensions(r: DerReader, lastKnown: number): void {
  let prev = lastKnown;
  while (!r.atEnd()) {
    const t = r.peekTag();
    if ((t & 0xe0) !== 0xa0 || (t & 0x1f) <= prev) derFail(`unexpected element in SPNEGO token (tag 0x${t.toString(16)})`);
    prev = t & 0x1f;
    r.readRawAny();
  }
}

function readNegTokenInit(r: DerReader): NegTokenInit {
  r.enter(NEG_TOKEN_INIT);
  r.enter(SEQ);
  let mech: { mechTypes: string[]; mechTypesDer: Uint8Array } | undefined;
  if (r.enterIf(ctx(0))) {
    mech = readMechTypeList(r);
    r.leave();
  }
  const tok: NegTokenInit = { kind: 'init', mechTypes: mech?.mechTypes ?? [], mechTypesDer: mech?.mechTypesDer ?? new Uint8Array(0) };
  if (r.enterIf(ctx(1))) {
    tok.reqFlags = readContextFlags(r);
    r.leave();
  }
  if (r.enterIf(ctx(2))) {
    tok.mechToken = r.readOctetString();
    r.leave();
  }
  let last = 2;
  if (r.enterIf(ctx(3))) {
    // NegTokenInit: mechListMIC OCTET STRING. NegTokenInit2: negHints SEQUENCE.
    if (r.peekTag() === SEQ) tok.negHints = readNegHints(r);
    else tok.mechListMIC = r.readOctetString();
    r.leave();
    last = 3;
  }
  if (tok.negHints && r.enterIf(ctx(4))) {
    tok.mechListMIC = r.readOctetString();
    r.leave();
    last = 4;
  }
  skipExtensions(r, last);
  r.leave();
  r.leave();
  // RFC 4178 requires mechTypes; only the server-initiated NegTokenInit2 may omit it.
  if (!mech && !tok.negHints) derFail('NegTokenInit without mechTypes');
  return tok;
}

function readNegTokenResp(r: DerReader): NegTokenResp {
  r.enter(NEG_TOKEN_RESP);
  r.enter(SEQ);
  const tok: NegTokenResp = { kind: 'resp' };
  if (r.enterIf(ctx(0))) {
    const s = r.readEnumerated();
    if (s < 0 || s > 3) derFail(`unknown SPNEGO negState ${s}`);
    tok.negState = s as NegState;
    r.leave();
  }
  if (r.enterIf(ctx(1))) {
    tok.supportedMech = r.readOid();
    r.leave();
  }
  if (r.enterIf(ctx(2))) {
    tok.responseToken = r.readOctetString();
    r.leave();
  }
  if (r.enterIf(ctx(3))) {
    tok.mechListMIC = r.readOctetString();
    r.leave();
  }
  skipExtensions(r, 3);
  r.leave();
  r.leave();
  return tok;
}

/**
 * Parse any SPNEGO token: a framed initial token (0x60 + SPNEGO OID + NegotiationToken) or a bare
 * NegotiationToken. Anything else, including a framed token for another mechanism, is
 * SEC_E_INVALID_TOKEN.
 */
export function parseNegotiationToken(token: Uint8Array): NegotiationToken {
  let body = token;
  if (token[0] === 0x60) {
    const framed = parseInitialContextToken(token);
    if (framed.mechOid !== SPNEGO_MECH_OID) derFail(`token is for mechanism ${framed.mechOid}, not SPNEGO`);
    body = framed.innerToken;
  }
  return derDecode(body, (r) => {
    const t = r.peekTag();
    if (t === NEG_TOKEN_INIT) return readNegTokenInit(r);
    if (t === NEG_TOKEN_RESP) return readNegTokenResp(r);
    return derFail('not a SPNEGO NegotiationToken');
  });
}

/** DER MechTypeList for `mechTypes`: the bytes a mechListMIC covers. */
export function encodeMechTypeList(mechTypes: readonly string[]): Uint8Array {
  return derEncode((w) => writeMechTypeList(w, mechTypes), 64);
}

function writeMechTypeList(w: DerWriter, mechTypes: readonly string[]): void {
  const m = w.mark();
  for (let i = mechTypes.length - 1; i >= 0; i--) w.writeOid(oidContent(mechTypes[i]!));
  w.wrap(SEQ, m);
}

function explicitOctets(w: DerWriter, n: number, bytes: Uint8Array | undefined): void {
  if (!bytes) return;
  const m = w.mark();
  w.writeOctetString(bytes);
  w.wrap(ctx(n), m);
}

function writeContextFlags(w: DerWriter, mask: number): void {
  // Named-bit DER: trailing zero bits dropped (X.690 11.2.2).
  let highest = -1;
  for (let n = 0; n < 8; n++) if (mask & (1 << n)) highest = n;
  if (highest < 0) {
    w.writeBitString(new Uint8Array(0), 0);
    return;
  }
  let byte = 0;
  for (let n = 0; n <= highest; n++) if (mask & (1 << n)) byte |= 0x80 >> n;
  w.writeBitString(Uint8Array.of(byte), 7 - highest);
}

export interface NegTokenInitFields {
  mechTypes: readonly string[];
  reqFlags?: number;
  mechToken?: Uint8Array;
  /** Present: write the MS-SPNG NegTokenInit2 shape (hints at [3], MIC at [4]). */
  negHints?: NegHints;
  mechListMIC?: Uint8Array;
}

/** A framed initial NegTokenInit (or NegTokenInit2 when `negHints` is given). */
export function encodeNegTokenInit(v: NegTokenInitFields): Uint8Array {
  const inner = derEncode((w) => {
    const m = w.mark();
    if (v.negHints) {
      explicitOctets(w, 4, v.mechListMIC);
      const mh = w.mark();
      const ms = w.mark();
      if (v.negHints.hintAddress) explicitOctets(w, 1, v.negHints.hintAddress);
      if (v.negHints.hintName !== undefined) {
        const mn = w.mark();
        w.writeGeneralString(v.negHints.hintName);
        w.wrap(ctx(0), mn);
      }
      w.wrap(SEQ, ms);
      w.wrap(ctx(3), mh);
    } else {
      explicitOctets(w, 3, v.mechListMIC);
    }
    explicitOctets(w, 2, v.mechToken);
    if (v.reqFlags !== undefined) {
      const mf = w.mark();
      writeContextFlags(w, v.reqFlags);
      w.wrap(ctx(1), mf);
    }
    const mt = w.mark();
    writeMechTypeList(w, v.mechTypes);
    w.wrap(ctx(0), mt);
    w.wrap(SEQ, m);
    w.wrap(NEG_TOKEN_INIT, m);
  }, 256 + (v.mechToken?.length ?? 0));
  return wrapInitialContextToken(SPNEGO_MECH_OID, inner);
}

/** A bare NegTokenResp. */
export function encodeNegTokenResp(v: Omit<NegTokenResp, 'kind'>): Uint8Array {
  return derEncode((w) => {
    const m = w.mark();
    explicitOctets(w, 3, v.mechListMIC);
    explicitOctets(w, 2, v.responseToken);
    if (v.supportedMech !== undefined) {
      const ms = w.mark();
      w.writeOid(oidContent(v.supportedMech));
      w.wrap(ctx(1), ms);
    }
    if (v.negState !== undefined) {
      const mn = w.mark();
      w.writeEnumerated(v.negState);
      w.wrap(ctx(0), mn);
    }
    w.wrap(SEQ, m);
    w.wrap(NEG_TOKEN_RESP, m);
  }, 128 + (v.responseToken?.length ?? 0));
}
