// fast-check generators and properties for the Kerberos package driven through SSPI, shared by
// test/unit/packages/kerberos/package.fuzz.test.ts (a few seconds) and
// test/fuzz/kerberos-campaign.ts (long runs). The world is one LSA with the Kerberos package, an
// acceptor keytab written here and an in-process KDC (the package's kdcSend hook) for the initiator.
//
// What the properties hold:
//   - every AcceptSecurityContext / InitializeSecurityContext / message call / ImportSecurityContext
//     returns a SECURITY_STATUS defined in src/sspi/status.ts, never SEC_E_INTERNAL_ERROR (what a
//     package fault becomes), and nothing throws past the API;
//   - AP-REQ (RFC 4120 3.2.3, 5.5.1): only ap-options, the ticket's realm/sname/etype/kvno and the
//     authenticator's etype/kvno travel in the clear. Any change that reaches the ticket or
//     authenticator ciphertext must be refused; a change of the clear fields may be accepted, but
//     then as the same client, and the authenticator still counts as used (a replay of the
//     original is refused). A refused AP-REQ leaves nothing behind: the genuine one still works;
//   - AP-REP and the DCE third leg (RFC 4120 3.2.5, MS-KILE 3.2.5.2): a changed EncAPRepPart
//     ciphertext never completes the context; a completion means a context whose keys work;
//   - RFC 4121 4.2 Wrap and MIC tokens: everything but RRC (4.2.5, layout only) is covered by the
//     checksum or the encrypted header copy, so a changed token is accepted only with RRC changed and
//     then with the same data; a refused token does not move the receive window (the genuine token
//     and the next one are still accepted in order);
//   - authenticated but hostile content (the 0x8003 checksum and its KRB-CRED, subkeys, PACs), sent
//     by a holder of the session key, gives defined statuses; a PAC changed anywhere outside the KDC
//     signature is refused (MS-PAC 2.8); an accepted context can protect a message;
//   - the non-DER parsers (MS-PAC, 0x8003 checksum, KRB-CRED to ccache, keytab, ccache, KCM replies,
//     ContextData, `tslsa decode`, RFC 4121 / RFC 4757 token parsers) throw only SspiError with a
//     SEC_E_* code, never a TypeError/RangeError, and return promptly.
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as fc from 'fast-check';
import { type ByteMutation, type Range, byteMutationArb, mutateBytes } from './bytes.js';
import { Credentials } from '../../src/credentials.js';
import { KRB5_MECH_OID, Krb5TokId, parseKrb5Token, wrapKrb5Token } from '../../src/der/gss.js';
import { createLsa, type LsaHost } from '../../src/lsa/host.js';
import type { SecHandle } from '../../src/lsa/protocol.js';
import { SspiSession, withSession } from './session.js';
import {
  AdType, ApOptions, KeyUsage, TicketFlags,
  decodeApRep, decodeApReq, decodeAsReq, decodeAuthenticator, decodeEncTicketPart, decodeTgsReq,
  encodeAdIfRelevant, encodeApReq, encodeAsRep, encodeAuthenticator, encodeEncASRepPart, encodeEncKrbCredPart, encodeEncTGSRepPart,
  encodeEncTicketPart, encodeKrbCred, encodeKrbError, encodeTgsRep, encodeTicket,
  type ApReq, type AuthorizationData, type EncTicketPart, type KdcReq, type KrbCredInfo, type PrincipalName, type Ticket,
} from '../../src/packages/kerberos/asn1/index.js';
import {
  type Ccache, type Credential, decodeCcacheCredential, decodeCcachePrincipal, encodeCcacheCredential, encodeCcachePrincipal, parseCcache, serializeCcache,
} from '../../src/packages/kerberos/ccache.js';
import { readKcmCredList, readKcmName, readKcmUuids } from '../../src/packages/kerberos/client/kcm.js';
import { packContextData, unpackContextData } from '../../src/packages/kerberos/contextData.js';
import { decrypt, encrypt, makeChecksum, randomToKey, stringToKey } from '../../src/packages/kerberos/crypto/index.js';
import type { KerberosKey } from '../../src/packages/kerberos/crypto/types.js';
import { decodeKerberosToken } from '../../src/packages/kerberos/decode.js';
import { buildApRep, buildApReq, buildKrbErrorToken, delegationToCcache, unframeApReq, verifyApRep } from '../../src/packages/kerberos/gss/apreq.js';
import { GSS_CHECKSUM_TYPE, GssFlags, decodeGssChecksum, encodeGssChecksum } from '../../src/packages/kerberos/gss/checksum.js';
import { gssGetMic, gssUnwrap, gssVerifyMic, gssWrap } from '../../src/packages/kerberos/gss/rc4tokens.js';
import { createTokenState } from '../../src/packages/kerberos/gss/tokens.js';
import { type KeytabEntry, parseKeytab, serializeKeytab, writeKeytabFile } from '../../src/packages/kerberos/keytab.js';
import { parseKrb5Conf } from '../../src/packages/kerberos/krb5conf.js';
import { PacBufferType, parseKerbValidationInfo, parsePac, parseUpnDnsInfo } from '../../src/packages/kerberos/pac.js';
import { kerberosPackage, TSLSA_KERB_ATTR } from '../../src/packages/kerberos/package.js';
import type { SecurityFunctionTable } from '../../src/sspi/api.js';
import { bufferBytes, outputBuffer, secBuffer, secBufferDesc } from '../../src/sspi/buffers.js';
import { SspiError } from '../../src/sspi/error.js';
import { ASC_REQ, ISC_REQ, SECBUFFER, SECPKG_ATTR, SECQOP_WRAP_NO_ENCRYPT, SECURITY_NATIVE_DREP } from '../../src/sspi/flags.js';
import { SecurityStatus, type Status, statusHex, statusName } from '../../src/sspi/status.js';
import type { CampaignProperty } from './runner.js';

export const REALM = 'EXAMPLE.TEST';
export const PASSWORDS = { alice: 'Alice-Passw0rd', bob: 'Bob-Passw0rd' } as const;
export type User = keyof typeof PASSWORDS;
/** The AES enctypes; service HTTP/e<n>.example.test has a key of enctype n and gets session keys of enctype n. */
export const AES = [17, 18, 19, 20] as const;
export const spnFor = (enctype: number): string => `HTTP/e${enctype}.example.test`;
const hostFor = (enctype: number): string => `e${enctype}.example.test`;

const KRB5 = parseKrb5Conf(`[libdefaults]
 default_realm = ${REALM}
 permitted_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96 aes128-cts-hmac-sha256-128 aes256-cts-hmac-sha384-192
[domain_realm]
 .example.test = ${REALM}
`);

const SEC_STATUSES: ReadonlySet<number> = new Set(Object.values(SecurityStatus).map((v) => v >>> 0));
const { SEC_E_OK, SEC_I_CONTINUE_NEEDED, SEC_E_INTERNAL_ERROR, SEC_E_INVALID_TOKEN } = SecurityStatus;
/** Longest a single parser call may take before it counts as a hang. */
const HANG_MS = 2_000;
const KEY_BYTES: Record<number, number> = { 17: 16, 18: 32, 19: 16, 20: 32, 23: 16 };
const secs = (ms: number): Date => new Date(Math.floor(ms / 1000) * 1000);
const same = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && Buffer.compare(a, b) === 0;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
/** A copy (Buffer#slice would be a view, and the SSPI message calls work in place). */
const copy = (b: Uint8Array): Uint8Array => Uint8Array.from(b);
const concat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));

// ---- the world: one LSA with the Kerberos package, a keytab and an in-process KDC --------------

export interface World {
  host: LsaHost;
  sspi: SecurityFunctionTable;
  dir: string;
  server: Credentials;
  clients: Record<User, Credentials>;
  /** The keytab's service keys, by enctype (service e<n> has a key of enctype n). */
  serviceKeys: Map<number, KerberosKey>;
  /** Faults the LSA saw inside packages (exceptions that were not SspiError). */
  faults: string[];
}

/** A KDC for alice and bob (no pre-authentication), krbtgt and the HTTP/e<n> services (RFC 4120 3.1, 3.3). */
function fakeKdc(serviceKeys: Map<number, KerberosKey>) {
  const userKeys = new Map(Object.entries(PASSWORDS).map(([u, p]) => [u, stringToKey(18, p, `${REALM}${u}`)]));
  const tgtKey = randomToKey(18, randomBytes(32));
  const error = (code: number) => encodeKrbError({ stime: secs(Date.now()), susec: 0, errorCode: code, realm: REALM, sname: { nameType: 2, nameString: ['krbtgt', REALM] } });
  const reply = (req: KdcReq, cname: PrincipalName, replyKey: KerberosKey, ticketKey: KerberosKey, sessionEnctype: number, flags: number, tgs: boolean) => {
    const sk = randomToKey(sessionEnctype, randomBytes(KEY_BYTES[sessionEnctype]!));
    const now = Date.now();
    const sname = req.reqBody.sname!;
    const authtime = secs(now - 60_000);
    const endtime = secs(now + 10 * 3600_000);
    const part: EncTicketPart = { flags, key: { keytype: sk.enctype, keyvalue: sk.keyvalue }, crealm: REALM, cname, transited: { trType: 1, contents: new Uint8Array(0) }, authtime, endtime };
    const ticket: Ticket = { realm: REALM, sname, encPart: { etype: ticketKey.enctype, kvno: 3, cipher: encrypt(ticketKey, KeyUsage.KDC_REP_TICKET, encodeEncTicketPart(part)) } };
    const enc = { key: part.key, lastReq: [], nonce: req.reqBody.nonce, flags, authtime, endtime, srealm: REALM, sname };
    const rep = {
      crealm: REALM, cname, ticket,
      encPart: { etype: replyKey.enctype, cipher: encrypt(replyKey, tgs ? KeyUsage.TGS_REP_ENCPART_SESSKEY : KeyUsage.AS_REP_ENCPART, tgs ? encodeEncTGSRepPart(enc) : encodeEncASRepPart(enc)) },
    };
    return tgs ? encodeTgsRep(rep) : encodeAsRep(rep);
  };
  return async (_realm: string, bytes: Uint8Array): Promise<Uint8Array> => {
    if (bytes[0] === 0x6a) {
      const req = decodeAsReq(bytes);
      const cname = req.reqBody.cname!;
      const key = userKeys.get(cname.nameString[0]!);
      if (!key || cname.nameString.length !== 1) return error(6); // KDC_ERR_C_PRINCIPAL_UNKNOWN
      return reply(req, cname, key, tgtKey, 18, (req.reqBody.kdcOptions & TicketFlags.FORWARDABLE) | TicketFlags.INITIAL, false);
    }
    const req = decodeTgsReq(bytes);
    const ap = decodeApReq(req.padata!.find((p) => p.padataType === 1)!.padataValue);
    const tgt = decodeEncTicketPart(decrypt(tgtKey, KeyUsage.KDC_REP_TICKET, ap.ticket.encPart.cipher));
    const skey = { enctype: tgt.key.keytype, keyvalue: Uint8Array.from(tgt.key.keyvalue) };
    decodeAuthenticator(decrypt(skey, KeyUsage.TGS_REQ_AUTH, ap.authenticator.cipher));
    const [svc, host] = req.reqBody.sname!.nameString;
    if (svc === 'krbtgt') {
      // A forwarded TGT (RFC 4120 2.6) for delegation, from a forwardable one only.
      if (!(tgt.flags & TicketFlags.FORWARDABLE)) return error(13);
      return reply(req, tgt.cname, skey, tgtKey, 18, TicketFlags.FORWARDABLE | TicketFlags.FORWARDED, true);
    }
    const et = AES.find((e) => hostFor(e) === host);
    if (svc !== 'HTTP' || et === undefined) return error(7); // KDC_ERR_S_PRINCIPAL_UNKNOWN
    return reply(req, tgt.cname, skey, serviceKeys.get(et)!, et, 0, true);
  };
}

let world: Promise<World> | null = null;

/** The shared world (created once per process). */
export function getWorld(): Promise<World> {
  world ??= (async () => {
    const faults: string[] = [];
    const dir = mkdtempSync(join(tmpdir(), 'tslsa-kfuzz-'));
    const serviceKeys = new Map<number, KerberosKey>(AES.map((et) => [et, randomToKey(et, randomBytes(KEY_BYTES[et]!))]));
    const keytab: KeytabEntry[] = AES.map((et) => ({
      principal: { realm: REALM, components: ['HTTP', hostFor(et)], nameType: 2 }, timestamp: 0, kvno: 3, kvno8: 3, key: serviceKeys.get(et)!,
    }));
    const keytabPath = join(dir, 'http.keytab');
    writeKeytabFile(keytabPath, keytab);
    const host = await createLsa({
      packages: [kerberosPackage({ krb5Conf: KRB5, keytab: keytabPath, kdcSend: fakeKdc(serviceKeys), delegatedCcacheDir: dir, env: {} })],
      onPackageFault: (pkg, entry, error) => faults.push(`${pkg}.${entry}: ${(error as Error)?.stack ?? String(error)}`),
    });
    const sspi = host.sspi();
    const server = await Credentials.acquire(sspi, { package: 'Kerberos', use: 'inbound' });
    const client = (u: User) => Credentials.acquire(sspi, { package: 'Kerberos', use: 'outbound', authData: { User: u, Domain: REALM, Password: PASSWORDS[u] } } as Parameters<typeof Credentials.acquire>[1]);
    const clients = { alice: await client('alice'), bob: await client('bob') };
    return { host, sspi, dir, server, clients, serviceKeys, faults };
  })();
  return world;
}

export async function closeWorld(): Promise<void> {
  if (!world) return;
  const w = await world;
  world = null;
  for (const c of Object.values(w.clients)) await c.free();
  await w.server.free();
  await w.host.shutdown();
  rmSync(w.dir, { recursive: true, force: true });
}

/** A status that the API may return: defined, and not the mark of a fault inside the package. */
export function assertDefined(w: World, status: Status, where: string): void {
  const s = status >>> 0;
  assert.ok(SEC_STATUSES.has(s), `${where}: ${statusHex(s)} is not a SECURITY_STATUS defined in status.ts`);
  assert.notEqual(s, SEC_E_INTERNAL_ERROR, `${where}: SEC_E_INTERNAL_ERROR (a fault inside the package)`);
  assert.deepEqual(w.faults, [], `${where}: package fault`);
}

// ---- raw SSPI legs -----------------------------------------------------------------------------

export interface Leg {
  status: number;
  ctx: SecHandle | null;
  token: Uint8Array;
}

/** The ISC_REQ flags of an honest initiator. */
export const REQ = {
  mutual: ISC_REQ.MUTUAL_AUTH | ISC_REQ.CONFIDENTIALITY | ISC_REQ.INTEGRITY | ISC_REQ.REPLAY_DETECT | ISC_REQ.SEQUENCE_DETECT,
  oneLeg: ISC_REQ.CONFIDENTIALITY | ISC_REQ.INTEGRITY | ISC_REQ.REPLAY_DETECT,
  dce: ISC_REQ.MUTUAL_AUTH | ISC_REQ.USE_DCE_STYLE | ISC_REQ.CONFIDENTIALITY | ISC_REQ.INTEGRITY,
} as const;

/** Contexts made during one property run, deleted afterwards. */
export class Session extends SspiSession<World> {
  /**
   * Every parameter these calls pass is valid, so SEC_E_INVALID_PARAMETER would blame the caller for
   * the peer's bytes; a property that knows of such a src bug (see the unit test file) turns this off.
   */
  peerFaultIsCallerFault = false;

  private checkPeerStatus(status: number, where: string, token: Uint8Array | null): void {
    if (this.peerFaultIsCallerFault) return;
    assert.notEqual(statusName(status), 'SEC_E_INVALID_PARAMETER', `${where} blamed the caller for the peer's token ${token ? hex(token) : '(none)'}`);
  }

  async accept(ctx: SecHandle | null, token: Uint8Array): Promise<Leg> {
    const out = secBufferDesc(secBuffer(SECBUFFER.TOKEN, null));
    const input = secBufferDesc(secBuffer(SECBUFFER.TOKEN, copy(token)));
    const r = await this.w.sspi.AcceptSecurityContext(this.w.server.handle, ctx, input, ASC_REQ.ALLOCATE_MEMORY | ASC_REQ.CONFIDENTIALITY, SECURITY_NATIVE_DREP, null, out);
    const status = r.status >>> 0;
    assertDefined(this.w, status, 'AcceptSecurityContext');
    this.checkPeerStatus(status, 'AcceptSecurityContext', token);
    return { status, ctx: this.track(r.phNewContext) ?? ctx, token: copy(bufferBytes(out.pBuffers[0]!)) };
  }

  async init(user: User, ctx: SecHandle | null, token: Uint8Array | null, target: string, req: number): Promise<Leg> {
    const out = secBufferDesc(secBuffer(SECBUFFER.TOKEN, null));
    const input = token ? secBufferDesc(secBuffer(SECBUFFER.TOKEN, copy(token))) : null;
    const r = await this.w.sspi.InitializeSecurityContext(this.w.clients[user].handle, ctx, target, req | ISC_REQ.ALLOCATE_MEMORY, 0, SECURITY_NATIVE_DREP, input, 0, null, out);
    const status = r.status >>> 0;
    assertDefined(this.w, status, 'InitializeSecurityContext');
    this.checkPeerStatus(status, 'InitializeSecurityContext', token);
    return { status, ctx: this.track(r.phNewContext) ?? ctx, token: copy(bufferBytes(out.pBuffers[0]!)) };
  }

  /** The client name an established context authenticated (SECPKG_ATTR_NAMES). */
  async clientName(ctx: SecHandle): Promise<string> {
    const r = await this.w.sspi.QueryContextAttributes(ctx, SECPKG_ATTR.NAMES);
    assertDefined(this.w, r.status, 'QueryContextAttributes(NAMES)');
    assert.equal(r.status >>> 0, SEC_E_OK, `NAMES: ${statusName(r.status)}`);
    return (r.pBuffer as { sUserName: string }).sUserName;
  }
}

/** Run `fn` in a session whose contexts are deleted afterwards. */
export async function inSession<T>(fn: (s: Session) => Promise<T>): Promise<T> {
  return withSession(new Session(await getWorld()), fn);
}

/** An honest first leg: the initiator's AP-REQ (framed, RFC 4121 4.1). */
export async function apReqOf(s: Session, user: User, enctype: number, req: number = REQ.mutual): Promise<Leg> {
  const leg = await s.init(user, null, null, spnFor(enctype), req);
  const mutual = (req & (ISC_REQ.MUTUAL_AUTH | ISC_REQ.USE_DCE_STYLE)) !== 0;
  assert.equal(leg.status, mutual ? SEC_I_CONTINUE_NEEDED : SEC_E_OK, `first leg: ${statusName(leg.status)}`);
  return leg;
}

export interface Pair {
  client: SecHandle;
  server: SecHandle;
  apReq: Uint8Array;
  apRep: Uint8Array | null;
}

/** An honest handshake to the end (one, two or three legs). */
export async function establish(s: Session, user: User, enctype: number, req: number): Promise<Pair> {
  const c1 = await apReqOf(s, user, enctype, req);
  const s1 = await s.accept(null, c1.token);
  if (c1.status === SEC_E_OK) {
    assert.equal(s1.status, SEC_E_OK, `one-leg accept: ${statusName(s1.status)}`);
    return { client: c1.ctx!, server: s1.ctx!, apReq: c1.token, apRep: null };
  }
  const dce = (req & ISC_REQ.USE_DCE_STYLE) !== 0;
  assert.equal(s1.status, dce ? SEC_I_CONTINUE_NEEDED : SEC_E_OK, `accept: ${statusName(s1.status)}`);
  const c2 = await s.init(user, c1.ctx, s1.token, spnFor(enctype), req);
  assert.equal(c2.status, SEC_E_OK, `AP-REP leg: ${statusName(c2.status)}`);
  if (dce) {
    const s2 = await s.accept(s1.ctx, c2.token);
    assert.equal(s2.status, SEC_E_OK, `third leg: ${statusName(s2.status)}`);
  }
  return { client: c1.ctx!, server: s1.ctx!, apReq: c1.token, apRep: s1.token };
}

// ---- message calls through the SSPI table --------------------------------------------------------

export type MessageOp = 'seal' | 'sealNoConf' | 'sign';

/** What one side sends: the wire bytes and where TOKEN ends in them (EncryptMessage: TOKEN || DATA). */
export interface Sent {
  op: MessageOp;
  message: Uint8Array;
  wire: Uint8Array;
  tokenLength: number;
}

export function send(w: World, ctx: SecHandle, op: MessageOp, message: Uint8Array): Sent {
  if (op === 'sign') {
    const tok = outputBuffer(SECBUFFER.TOKEN, 128);
    const st = w.sspi.MakeSignature(ctx, 0, secBufferDesc(secBuffer(SECBUFFER.DATA, copy(message)), tok), 0);
    assert.equal(st >>> 0, SEC_E_OK, `MakeSignature: ${statusName(st)}`);
    const sig = copy(bufferBytes(tok));
    return { op, message, wire: sig, tokenLength: sig.length };
  }
  const tok = outputBuffer(SECBUFFER.TOKEN, 128);
  const data = secBuffer(SECBUFFER.DATA, copy(message));
  const st = w.sspi.EncryptMessage(ctx, op === 'seal' ? 0 : SECQOP_WRAP_NO_ENCRYPT, secBufferDesc(tok, data), 0);
  assert.equal(st >>> 0, SEC_E_OK, `EncryptMessage: ${statusName(st)}`);
  const t = bufferBytes(tok);
  const wire = new Uint8Array(t.length + data.cbBuffer);
  wire.set(t);
  wire.set(bufferBytes(data), t.length);
  return { op, message, wire, tokenLength: t.length };
}

/** How the receiver hands a sealed message to DecryptMessage. */
export type Layout = 'stream' | 'split' | 'multi';

export interface Received {
  status: number;
  data: Uint8Array | null;
  qop: number;
}

/**
 * The receiving call for `wire`: VerifySignature (DATA = `message`, TOKEN = wire), or
 * DecryptMessage over one SECBUFFER_STREAM or over TOKEN + DATA (one or two buffers) split where the
 * sender's TOKEN ended.
 */
export function receive(w: World, ctx: SecHandle, op: MessageOp, wire: Uint8Array, layout: Layout, tokenLength: number, message?: Uint8Array): Received {
  if (op === 'sign') {
    const r = w.sspi.VerifySignature(ctx, secBufferDesc(secBuffer(SECBUFFER.DATA, copy(message!)), secBuffer(SECBUFFER.TOKEN, copy(wire))), 0);
    assertDefined(w, r.status, 'VerifySignature');
    return { status: r.status >>> 0, data: (r.status >>> 0) === SEC_E_OK ? message! : null, qop: r.pfQOP };
  }
  if (layout === 'stream') {
    const out = secBuffer(SECBUFFER.DATA, null);
    const r = w.sspi.DecryptMessage(ctx, secBufferDesc(secBuffer(SECBUFFER.STREAM, copy(wire)), out), 0);
    assertDefined(w, r.status, 'DecryptMessage(STREAM)');
    return { status: r.status >>> 0, data: (r.status >>> 0) === SEC_E_OK ? copy(bufferBytes(out)) : null, qop: r.pfQOP };
  }
  const cut = Math.min(tokenLength, wire.length);
  // 'multi': the DATA part in two buffers, which DecryptMessage fills in place in order.
  const mid = layout === 'multi' ? cut + ((wire.length - cut) >> 1) : wire.length;
  const data = [secBuffer(SECBUFFER.DATA, copy(wire.subarray(cut, mid)))];
  if (layout === 'multi') data.push(secBuffer(SECBUFFER.DATA, copy(wire.subarray(mid))));
  const r = w.sspi.DecryptMessage(ctx, secBufferDesc(secBuffer(SECBUFFER.TOKEN, copy(wire.subarray(0, cut))), ...data), 0);
  assertDefined(w, r.status, `DecryptMessage(TOKEN+DATA, ${layout})`);
  return { status: r.status >>> 0, data: (r.status >>> 0) === SEC_E_OK ? concat(...data.map(bufferBytes)) : null, qop: r.pfQOP };
}

/** Both directions of an established pair carry a sealed message. */
export function assertWorkingPair(w: World, p: { client: SecHandle; server: SecHandle }, where: string): void {
  for (const [from, to] of [[p.client, p.server], [p.server, p.client]] as const) {
    const m = randomBytes(19);
    const sent = send(w, from, 'seal', m);
    const got = receive(w, to, 'seal', sent.wire, 'stream', sent.tokenLength);
    assert.equal(statusName(got.status), 'SEC_E_OK', `${where}: a sealed message between the two sides`);
    assert.ok(same(got.data!, m), `${where}: the message came out different`);
  }
}

/** Positions where two equal-length byte strings differ (null when the lengths differ). */
function changedPositions(a: Uint8Array, b: Uint8Array): number[] | null {
  if (a.length !== b.length) return null;
  const out: number[] = [];
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) out.push(i);
  return out;
}

// ---- AP-REQ: what is authenticated ---------------------------------------------------------------

/** Where the two ciphertexts of an AP-REQ token lie (found by their bytes, which are random). */
export function apReqRegions(token: Uint8Array): Range[] {
  const ap = decodeApReq(unframeApReq(token));
  const t = Buffer.from(token);
  const tc = t.indexOf(Buffer.from(ap.ticket.encPart.cipher));
  const ac = t.indexOf(Buffer.from(ap.authenticator.cipher), tc + ap.ticket.encPart.cipher.length);
  assert.ok(tc > 0 && ac > tc, 'ciphertexts located');
  const tcEnd = tc + ap.ticket.encPart.cipher.length;
  const acEnd = ac + ap.authenticator.cipher.length;
  // Clear head (framing, ap-options, ticket names, etype, kvno), ticket cipher, clear middle, authenticator cipher, whole.
  return [[0, tc], [tc, tcEnd], [tcEnd, ac], [ac, acEnd], [0, token.length]];
}

function tryDecodeApReq(token: Uint8Array): ApReq | null {
  try {
    return decodeApReq(unframeApReq(token));
  } catch {
    return null;
  }
}

/**
 * The acceptor's verdict on a changed AP-REQ, checked against RFC 4120 3.2.3: SEC_E_OK only when
 * its ticket and authenticator ciphertexts are those of one genuine AP-REQ, and only as that
 * AP-REQ's client. Returns the genuine AP-REQ it was accepted as (null when refused).
 */
export function checkAcceptedApReq(genuine: ReadonlyArray<{ token: Uint8Array; client: string }>, changed: Uint8Array, status: number, clientName: string | null): { token: Uint8Array; client: string } | null {
  if (status !== SEC_E_OK && status !== SEC_I_CONTINUE_NEEDED) return null;
  const b = tryDecodeApReq(changed);
  assert.ok(b, `accepted an AP-REQ that does not decode: ${hex(changed)}`);
  const match = genuine.find((g) => {
    const a = decodeApReq(unframeApReq(g.token));
    return same(a.ticket.encPart.cipher, b.ticket.encPart.cipher) && same(a.authenticator.cipher, b.authenticator.cipher);
  });
  assert.ok(match, `accepted an AP-REQ whose ticket or authenticator ciphertext no genuine AP-REQ sent together: ${hex(changed)}`);
  if (clientName !== null) assert.equal(clientName, match.client, 'accepted as another client');
  return match;
}

/** Structural rewrites of the clear fields (re-encoded DER), and splices with a second AP-REQ. */
export type ApReqRewrite =
  | { kind: 'apOptions'; value: number }
  | { kind: 'ticketRealm'; realm: string }
  | { kind: 'ticketSname'; nameType: number; names: string[] }
  | { kind: 'ticketEtype'; etype: number }
  | { kind: 'ticketKvno'; kvno: number | undefined }
  | { kind: 'authEtype'; etype: number }
  | { kind: 'authKvno'; kvno: number | undefined }
  | { kind: 'swapTicket' }
  | { kind: 'swapAuthenticator' }
  | { kind: 'bytes'; at: number }
  | { kind: 'bare' };

const int32 = fc.oneof(fc.constantFrom(0, 1, -1, 17, 18, 19, 20, 23, 0x7fffffff, -0x80000000), fc.integer({ min: -0x80000000, max: 0x7fffffff }));
const uint32 = fc.oneof(fc.constantFrom(0, 1, 2, 3, 4, 259, 0xffffffff), fc.integer({ min: 0, max: 0xffffffff }));

export const apReqRewriteArb: fc.Arbitrary<ApReqRewrite> = fc.oneof(
  fc.record({ kind: fc.constant('apOptions' as const), value: fc.oneof(fc.constantFrom(0, ApOptions.MUTUAL_REQUIRED, ApOptions.USE_SESSION_KEY, 0x80000000, 0xffffffff), uint32) }),
  fc.record({ kind: fc.constant('ticketRealm' as const), realm: fc.constantFrom('', 'example.test', 'OTHER.TEST', `${REALM}.`, 'EXAMPLE.TESt') }),
  fc.record({ kind: fc.constant('ticketSname' as const), nameType: int32, names: fc.oneof(fc.constantFrom<string[]>(['HTTP', 'e18.example.test'], ['HTTP', 'e17.example.test'], ['http', 'e18.example.test'], ['HTTP'], ['HTTP', 'e18.example.test', ''], ['krbtgt', REALM]), fc.array(fc.string({ maxLength: 20, size: 'max' }), { maxLength: 3 })) }),
  fc.record({ kind: fc.constant('ticketEtype' as const), etype: int32 }),
  fc.record({ kind: fc.constant('ticketKvno' as const), kvno: fc.option(uint32, { nil: undefined }) }),
  fc.record({ kind: fc.constant('authEtype' as const), etype: int32 }),
  fc.record({ kind: fc.constant('authKvno' as const), kvno: fc.option(uint32, { nil: undefined }) }),
  fc.constant({ kind: 'swapTicket' as const }),
  fc.constant({ kind: 'swapAuthenticator' as const }),
  fc.record({ kind: fc.constant('bytes' as const), at: fc.nat() }),
  fc.constant({ kind: 'bare' as const }),
);

/** Rewrite a framed AP-REQ; `other` is a second genuine AP-REQ (another user, service or flags). */
export function rewriteApReq(token: Uint8Array, other: Uint8Array, r: ApReqRewrite): Uint8Array {
  const ap = decodeApReq(unframeApReq(token));
  const frame = (a: ApReq) => wrapKrb5Token(Krb5TokId.KRB_AP_REQ, encodeApReq(a), KRB5_MECH_OID);
  switch (r.kind) {
    case 'apOptions':
      return frame({ ...ap, apOptions: r.value >>> 0 });
    case 'ticketRealm':
      return frame({ ...ap, ticket: { ...ap.ticket, realm: r.realm } });
    case 'ticketSname':
      return frame({ ...ap, ticket: { ...ap.ticket, sname: { nameType: r.nameType, nameString: r.names } } });
    case 'ticketEtype':
      return frame({ ...ap, ticket: { ...ap.ticket, encPart: { ...ap.ticket.encPart, etype: r.etype } } });
    case 'ticketKvno': {
      const { kvno: _k, ...rest } = ap.ticket.encPart;
      return frame({ ...ap, ticket: { ...ap.ticket, encPart: r.kvno === undefined ? rest : { ...rest, kvno: r.kvno } } });
    }
    case 'authEtype':
      return frame({ ...ap, authenticator: { ...ap.authenticator, etype: r.etype } });
    case 'authKvno': {
      const { kvno: _k, ...rest } = ap.authenticator;
      return frame({ ...ap, authenticator: r.kvno === undefined ? rest : { ...rest, kvno: r.kvno } });
    }
    case 'swapTicket':
      return frame({ ...ap, ticket: decodeApReq(unframeApReq(other)).ticket });
    case 'swapAuthenticator':
      return frame({ ...ap, authenticator: decodeApReq(unframeApReq(other)).authenticator });
    case 'bytes': {
      // This token's first bytes, the other's from there on (a byte-level splice).
      const at = r.at % (Math.min(token.length, other.length) + 1);
      return concat(token.subarray(0, at), other.subarray(at));
    }
    case 'bare':
      return copy(unframeApReq(token));
  }
}

// ---- hand-made tickets and authenticators (the holder of the session key is the adversary) -------

export interface MadeTicket {
  enctype: number;
  ticket: Ticket;
  sessionKey: KerberosKey;
}

/** A service ticket for `user` to HTTP/e<enctype>, as the KDC would issue it (RFC 4120 5.3). */
export function makeTicket(w: World, enctype: number, user: User = 'alice', authorizationData?: AuthorizationData): MadeTicket {
  const sessionKey = randomToKey(enctype, randomBytes(KEY_BYTES[enctype]!));
  const now = Date.now();
  const part: EncTicketPart = {
    flags: TicketFlags.FORWARDABLE, key: { keytype: enctype, keyvalue: sessionKey.keyvalue }, crealm: REALM, cname: { nameType: 1, nameString: [user] },
    transited: { trType: 1, contents: new Uint8Array(0) }, authtime: secs(now - 60_000), endtime: secs(now + 3600_000),
    ...(authorizationData ? { authorizationData } : {}),
  };
  const key = w.serviceKeys.get(enctype)!;
  const ticket: Ticket = {
    realm: REALM, sname: { nameType: 2, nameString: ['HTTP', hostFor(enctype)] },
    encPart: { etype: enctype, kvno: 3, cipher: encrypt(key, KeyUsage.KDC_REP_TICKET, encodeEncTicketPart(part)) },
  };
  return { enctype, ticket, sessionKey };
}

/** Authenticator fields a hostile initiator chooses (RFC 4120 5.5.1), all under the session key. */
export interface HostileAuthenticator {
  /** The 0x8003 checksum bytes, another checksum type, or none. */
  cksum: { type: number; bytes: Uint8Array } | null;
  subkey: { keytype: number; keyvalue: Uint8Array } | null;
  seqNumber: number | undefined;
  apOptions: number;
  authorizationData: AuthorizationData | undefined;
}

let lastCusec = 0;

/** A framed AP-REQ carrying `h`, correctly encrypted with the ticket's session key, with its ctime/cusec (for the AP-REP). */
export function hostileAuthenticator(t: MadeTicket, h: HostileAuthenticator, user: User = 'alice'): { token: Uint8Array; ctime: Date; cusec: number } {
  const ctime = secs(Date.now());
  lastCusec = (lastCusec + 1) % 1_000_000;
  const cusec = lastCusec;
  const auth = encodeAuthenticator({
    crealm: REALM, cname: { nameType: 1, nameString: [user] }, cusec, ctime,
    ...(h.cksum ? { cksum: { cksumtype: h.cksum.type, checksum: h.cksum.bytes } } : {}),
    ...(h.subkey ? { subkey: h.subkey } : {}),
    ...(h.seqNumber !== undefined ? { seqNumber: h.seqNumber } : {}),
    ...(h.authorizationData ? { authorizationData: h.authorizationData } : {}),
  });
  const apReq = encodeApReq({ apOptions: h.apOptions, ticket: t.ticket, authenticator: { etype: t.enctype, cipher: encrypt(t.sessionKey, KeyUsage.AP_REQ_AUTH, auth) } });
  return { token: wrapKrb5Token(Krb5TokId.KRB_AP_REQ, apReq, KRB5_MECH_OID), ctime, cusec };
}

export function hostileApReq(t: MadeTicket, h: HostileAuthenticator, user: User = 'alice'): Uint8Array {
  return hostileAuthenticator(t, h, user).token;
}

/** A forwarded-TGT KrbCredInfo (RFC 4120 5.8.1) with fields a hostile peer picks. */
export interface CredInfoChoice {
  keytype: number;
  keyLength: number;
  pnameType: number;
  pname: string[];
  snameType: number;
  sname: string[];
  flags: number;
  /** Seconds since the epoch for authtime/endtime (also far past and far future). */
  times: number[];
}

const credInfoArb: fc.Arbitrary<CredInfoChoice> = fc.record({
  keytype: fc.oneof(fc.constantFrom(18, 17, 23, 0, -1, 65535, 65536, 0x7fffffff), int32),
  keyLength: fc.oneof(fc.constantFrom(0, 16, 32), fc.integer({ min: 0, max: 70 })),
  pnameType: int32,
  pname: fc.oneof(fc.constant<string[]>(['alice']), fc.array(fc.string({ maxLength: 12, size: 'max' }), { maxLength: 3 })),
  snameType: int32,
  sname: fc.oneof(fc.constant<string[]>(['krbtgt', REALM]), fc.array(fc.string({ maxLength: 12, size: 'max' }), { maxLength: 3 })),
  flags: uint32,
  times: fc.array(fc.oneof(fc.constantFrom(0, 1, 0x7fffffff, 0xffffffff, 0x100000000, 253402300799, -1), fc.integer({ min: 0, max: 0xffffffff })), { minLength: 2, maxLength: 2 }),
});

function credInfo(c: CredInfoChoice): KrbCredInfo {
  const t = (s: number) => new Date(s * 1000);
  return {
    key: { keytype: c.keytype, keyvalue: new Uint8Array(c.keyLength).fill(0x42) },
    prealm: REALM, pname: { nameType: c.pnameType, nameString: c.pname },
    flags: c.flags >>> 0, authtime: t(c.times[0]!), endtime: t(c.times[1]!),
    srealm: REALM, sname: { nameType: c.snameType, nameString: c.sname },
  };
}

/** The Deleg field: a KRB-CRED encrypted with the subkey or the session key, or MIT's etype 0 form. */
export interface DelegChoice {
  info: CredInfoChoice;
  tickets: number;
  encryption: 'subkey' | 'session' | 'none' | 'other';
  mutation: ByteMutation | null;
}

const delegArb: fc.Arbitrary<DelegChoice> = fc.record({
  info: credInfoArb,
  tickets: fc.constantFrom(1, 1, 1, 0, 2),
  encryption: fc.constantFrom('subkey' as const, 'session' as const, 'none' as const, 'other' as const),
  mutation: fc.option(byteMutationArb, { freq: 2 }),
});

export interface HostileChoice {
  enctype: number;
  checksum: 'none' | 'otherType' | 'gss';
  otherType: number;
  flags: number;
  bnd: 'zero' | 'random';
  deleg: DelegChoice | null;
  exts: Array<{ type: number; data: Uint8Array }>;
  checksumMutation: ByteMutation | null;
  subkey: 'none' | 'good' | { keytype: number; length: number };
  seqNumber: number | undefined;
  apOptions: number;
  authData: 'none' | 'random';
}

export const hostileArb: fc.Arbitrary<HostileChoice> = fc.record({
  enctype: fc.constantFrom(...AES),
  checksum: fc.constantFrom('gss' as const, 'gss' as const, 'gss' as const, 'none' as const, 'otherType' as const),
  otherType: int32,
  flags: fc.oneof(fc.constantFrom(0, 0x3e, 0x1002, 0x1003, 0x7fff, 0xffffffff), uint32),
  bnd: fc.constantFrom('zero' as const, 'random' as const),
  deleg: fc.option(delegArb, { freq: 2 }),
  exts: fc.array(fc.record({ type: uint32, data: fc.uint8Array({ maxLength: 24, size: 'max' }) }), { maxLength: 2 }),
  checksumMutation: fc.option(byteMutationArb, { freq: 3 }),
  subkey: fc.oneof(
    { weight: 3, arbitrary: fc.constant('good' as const) },
    { weight: 1, arbitrary: fc.constant('none' as const) },
    { weight: 1, arbitrary: fc.record({ keytype: fc.oneof(fc.constantFrom(17, 18, 19, 20, 23, 1, 3, 16, 999, 0, -1), int32), length: fc.constantFrom(0, 1, 5, 16, 24, 32, 48) }) },
  ),
  seqNumber: fc.option(fc.oneof(fc.constantFrom(0, 1, 0x3fffffff, 0x7fffffff, 0x80000000, 0xffffffff), uint32), { nil: undefined }),
  apOptions: fc.constantFrom(0, ApOptions.MUTUAL_REQUIRED),
  authData: fc.constantFrom('none' as const, 'none' as const, 'random' as const),
});

/** Build the AP-REQ of a hostile choice; also returns the subkey it carries. */
export function buildHostile(w: World, t: MadeTicket, c: HostileChoice): { token: Uint8Array; subkey: KerberosKey | null } {
  let subkey: KerberosKey | null = null;
  let rawSubkey: HostileAuthenticator['subkey'] = null;
  if (c.subkey === 'good') {
    subkey = randomToKey(c.enctype, randomBytes(KEY_BYTES[c.enctype]!));
    rawSubkey = { keytype: subkey.enctype, keyvalue: subkey.keyvalue };
  } else if (c.subkey !== 'none') {
    rawSubkey = { keytype: c.subkey.keytype, keyvalue: randomBytes(c.subkey.length) };
  }
  let cksum: HostileAuthenticator['cksum'] = null;
  if (c.checksum === 'otherType') cksum = { type: c.otherType === GSS_CHECKSUM_TYPE ? 0 : c.otherType, bytes: randomBytes(12) };
  else if (c.checksum === 'gss') {
    let deleg: Uint8Array | undefined;
    if (c.deleg) {
      const fwd = makeTicket(w, 18).ticket;
      const key = c.deleg.encryption === 'subkey' ? subkey ?? t.sessionKey
        : c.deleg.encryption === 'session' ? t.sessionKey
          : c.deleg.encryption === 'other' ? randomToKey(18, randomBytes(32)) : null;
      // Ticket and ticket-info counts chosen apart: RFC 4120 5.8 pairs them by position.
      deleg = krbCred(Array.from({ length: c.deleg.tickets }, () => fwd), [credInfo(c.deleg.info)], key);
      if (c.deleg.mutation) deleg = mutateBytes(deleg, c.deleg.mutation);
    }
    const flags = deleg ? (c.flags | GssFlags.GSS_C_DELEG_FLAG) >>> 0 : (c.flags & ~GssFlags.GSS_C_DELEG_FLAG) >>> 0;
    let bytes = encodeGssChecksum({ bnd: c.bnd === 'zero' ? new Uint8Array(16) : randomBytes(16), flags, ...(deleg && deleg.length <= 0xffff ? { deleg } : {}), ...(c.exts.length ? { exts: c.exts } : {}) });
    if (c.checksumMutation) bytes = mutateBytes(bytes, c.checksumMutation);
    cksum = { type: GSS_CHECKSUM_TYPE, bytes };
  }
  const authorizationData = c.authData === 'random' ? [{ adType: AdType.AD_IF_RELEVANT, adData: randomBytes(20) }, { adType: 128, adData: randomBytes(30) }] : undefined;
  return { token: hostileApReq(t, { cksum, subkey: rawSubkey, seqNumber: c.seqNumber, apOptions: c.apOptions, authorizationData }), subkey };
}

/** KRB-CRED (RFC 4120 5.8.1): EncKrbCredPart under `key` with usage 14, or in the clear as etype 0 (MIT). */
export function krbCred(tickets: Ticket[], infos: KrbCredInfo[], key: KerberosKey | null): Uint8Array {
  const plain = encodeEncKrbCredPart({ ticketInfo: infos });
  return encodeKrbCred({ tickets, encPart: key ? { etype: key.enctype, cipher: encrypt(key, KeyUsage.KRB_CRED_ENCPART, plain) } : { etype: 0, cipher: plain } });
}

// ---- MS-PAC, built field by field (MS-PAC 2.3-2.10) -----------------------------------------------

/** A little-endian byte builder for PAC and NDR structures. */
class Le {
  private readonly b: number[] = [];
  get length(): number {
    return this.b.length;
  }
  u8(v: number): this {
    this.b.push(v & 0xff);
    return this;
  }
  u16(v: number): this {
    return this.u8(v).u8(v >>> 8);
  }
  u32(v: number): this {
    return this.u16(v & 0xffff).u16(v >>> 16);
  }
  u64(v: bigint): this {
    return this.u32(Number(v & 0xffffffffn)).u32(Number((v >> 32n) & 0xffffffffn));
  }
  bytes(x: Uint8Array): this {
    for (const v of x) this.b.push(v);
    return this;
  }
  align(n: number): this {
    while (this.b.length % n) this.b.push(0);
    return this;
  }
  out(): Uint8Array {
    return Uint8Array.from(this.b);
  }
}

const utf16 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf16le'));

/** RPC_SID (MS-DTYP 2.4.2.3): revision 1, sub-authority count, NT authority (5), sub-authorities. */
function rpcSid(w: Le, subs: readonly number[]): void {
  w.u8(1).u8(subs.length).bytes(Uint8Array.from([0, 0, 0, 0, 0, 5]));
  for (const s of subs) w.u32(s);
}

export interface LogonInfoChoice {
  names: string[];
  groups: number[];
  domainSid: number[];
  extraSids: number[][];
  resourceSid: number[] | null;
  resourceGroups: number[];
}

/** KERB_VALIDATION_INFO (MS-PAC 2.5) in NDR type serialization 1 (MS-RPCE 2.2.6): header, then the deferred pointees in order. */
export function logonInfo(c: LogonInfoChoice): Uint8Array {
  const w = new Le();
  w.u8(1).u8(0x10).u16(8).u32(0xcccccccc); // common header
  w.u32(0).u32(0); // private header: object length patched below
  let ref = 0x20000;
  w.u32(ref++);
  for (let i = 0; i < 6; i++) w.u64(BigInt(i) * 10_000_000n);
  const names = [...c.names, '', '', '', '', '', ''].slice(0, 6);
  for (const n of names) w.u16(n.length * 2).u16(n.length * 2).u32(n ? ref++ : 0);
  w.u16(3).u16(0).u32(1105).u32(513).u32(c.groups.length).u32(c.groups.length ? ref++ : 0).u32(0x20).bytes(new Uint8Array(16));
  for (const n of ['DC1', 'EXAMPLE']) w.u16(n.length * 2).u16(n.length * 2).u32(ref++);
  w.u32(ref++); // LogonDomainId
  w.u32(0).u32(0).u32(0x210).u32(0).u64(0n).u64(0n).u32(0).u32(0);
  w.u32(c.extraSids.length).u32(c.extraSids.length ? ref++ : 0).u32(c.resourceSid ? ref++ : 0).u32(c.resourceGroups.length).u32(c.resourceGroups.length ? ref++ : 0);
  const str = (s: string) => {
    if (s) w.align(4).u32(s.length).u32(0).u32(s.length).bytes(utf16(s));
  };
  names.forEach(str);
  if (c.groups.length) {
    w.align(4).u32(c.groups.length);
    for (const g of c.groups) w.u32(g).u32(7);
  }
  str('DC1');
  str('EXAMPLE');
  w.align(4).u32(c.domainSid.length);
  rpcSid(w, c.domainSid);
  if (c.extraSids.length) {
    w.align(4).u32(c.extraSids.length);
    for (let i = 0; i < c.extraSids.length; i++) w.u32(ref++).u32(7);
    for (const s of c.extraSids) {
      w.align(4).u32(s.length);
      rpcSid(w, s);
    }
  }
  if (c.resourceSid) {
    w.align(4).u32(c.resourceSid.length);
    rpcSid(w, c.resourceSid);
  }
  if (c.resourceGroups.length) {
    w.align(4).u32(c.resourceGroups.length);
    for (const g of c.resourceGroups) w.u32(g).u32(7);
  }
  const out = w.out();
  new DataView(out.buffer).setUint32(8, out.length - 16, true);
  return out;
}

/** UPN_DNS_INFO (MS-PAC 2.10), with the S flag's SamName and Sid when `sam` is set. */
export function upnDnsInfo(upn: string, dns: string, sam: { name: string; sid: number[] } | null): Uint8Array {
  const u = utf16(upn);
  const d = utf16(dns);
  const head = sam ? 20 : 12;
  const w = new Le().u16(u.length).u16(head).u16(d.length).u16(head + u.length).u32(sam ? 2 : 0);
  if (sam) {
    const s = utf16(sam.name);
    const sid = new Le();
    rpcSid(sid, sam.sid);
    w.u16(s.length).u16(head + u.length + d.length).u16(sid.length).u16(head + u.length + d.length + s.length);
    return w.bytes(u).bytes(d).bytes(s).bytes(sid.out()).out();
  }
  return w.bytes(u).bytes(d).out();
}

export interface BuiltPac {
  pac: Uint8Array;
  /** The value bytes of the server and KDC signatures (MS-PAC 2.8). */
  serverSig: Range;
  kdcSig: Range;
}

/** PACTYPE with LOGON_INFO, CLIENT_INFO, UPN_DNS_INFO and both signatures; the server signature made with `serviceKey`. */
export function buildPac(serviceKey: KerberosKey, li: LogonInfoChoice = defaultLogon): BuiltPac {
  const macLen = serviceKey.enctype === 20 ? 24 : serviceKey.enctype === 19 ? 16 : 12;
  const cksumType = { 17: 15, 18: 16, 19: 19, 20: 20 }[serviceKey.enctype as 17]!;
  const sig = () => new Le().u32(cksumType).bytes(new Uint8Array(macLen)).out();
  const bufs: Array<[number, Uint8Array]> = [
    [PacBufferType.LOGON_INFO, logonInfo(li)],
    [PacBufferType.CLIENT_INFO, new Le().u64(133_000_000_000_000_000n).u16(10).bytes(utf16('alice')).out()],
    [PacBufferType.UPN_DNS_INFO, upnDnsInfo('alice@example.test', REALM, { name: 'alice', sid: [21, 1, 2, 3, 1105] })],
    [PacBufferType.SERVER_CHECKSUM, sig()],
    [PacBufferType.PRIVSVR_CHECKSUM, sig()],
  ];
  const w = new Le().u32(bufs.length).u32(0);
  let off = 8 + 16 * bufs.length;
  const offsets: number[] = [];
  for (const [type, data] of bufs) {
    w.u32(type).u32(data.length).u64(BigInt(off));
    offsets.push(off);
    off = (off + data.length + 7) & ~7;
  }
  for (const [, data] of bufs) w.align(8).bytes(data);
  w.align(8);
  const pac = w.out();
  const serverAt = offsets[3]! + 4;
  const kdcAt = offsets[4]! + 4;
  pac.set(makeChecksum(serviceKey, KeyUsage.KERB_NON_KERB_CKSUM_SALT, pac), serverAt);
  pac.fill(0xee, kdcAt, kdcAt + macLen); // the KDC signature is over the server one; not checked by a service
  return { pac, serverSig: [serverAt, serverAt + macLen], kdcSig: [kdcAt, kdcAt + macLen] };
}

const defaultLogon: LogonInfoChoice = { names: ['alice', 'Alice Liddell'], groups: [513, 1105], domainSid: [21, 1, 2, 3], extraSids: [[21, 9, 9, 9, 1000]], resourceSid: [21, 4, 5, 6], resourceGroups: [2000] };

const sidArb = fc.array(fc.nat(), { minLength: 0, maxLength: 6 });
export const logonInfoArb: fc.Arbitrary<LogonInfoChoice> = fc.record({
  names: fc.array(fc.string({ maxLength: 12, size: 'max' }), { maxLength: 6 }),
  groups: fc.array(fc.nat(), { maxLength: 5 }),
  domainSid: sidArb,
  extraSids: fc.array(sidArb, { maxLength: 3 }),
  resourceSid: fc.option(sidArb, { nil: null }),
  resourceGroups: fc.array(fc.nat(), { maxLength: 3 }),
});

/** The ticket authorization-data carrying a PAC: AD-IF-RELEVANT { AD-WIN2K-PAC } (MS-PAC 2.1). */
export function pacAuthorizationData(pac: Uint8Array): AuthorizationData {
  return [{ adType: AdType.AD_IF_RELEVANT, adData: encodeAdIfRelevant([{ adType: 128, adData: pac }]) }];
}

// ---- typed errors of the parsers -------------------------------------------------------------------

/**
 * Run a parser on peer input: it returns, or throws an SspiError with a defined SEC_E_* code (one of
 * `allowed` when given); never another exception, and not slowly.
 */
export function expectTyped(where: string, input: Uint8Array, fn: () => unknown, allowed?: readonly number[]): void {
  const t0 = performance.now();
  try {
    fn();
  } catch (e) {
    if (!(e instanceof SspiError)) {
      assert.fail(`${where}: ${(e as Error)?.constructor?.name ?? typeof e} ${(e as Error)?.message ?? String(e)} on ${hex(input)}`);
    }
    assert.ok(SEC_STATUSES.has(e.status) && e.status !== SEC_E_INTERNAL_ERROR, `${where}: ${e.code} on ${hex(input)}`);
    if (allowed) assert.ok(allowed.includes(e.status), `${where}: ${e.code} (expected ${allowed.map(statusName).join(' or ')}) on ${hex(input)}`);
  }
  const ms = performance.now() - t0;
  assert.ok(ms < HANG_MS, `${where}: ${ms.toFixed(0)} ms on ${input.length} bytes`);
}

/** A valid seed, mutated, or random bytes. */
function seeded(seeds: readonly Uint8Array[], maxRandom = 300): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: maxRandom }) },
    { weight: 4, arbitrary: fc.tuple(fc.nat(seeds.length - 1), fc.array(byteMutationArb, { minLength: 1, maxLength: 3 })).map(([i, ms]) => ms.reduce((b, m) => mutateBytes(b, m), seeds[i]!)) },
  );
}

// ---- seeds for the parsers -------------------------------------------------------------------------

const fixtureTokens = (): Uint8Array[] => {
  const raw = JSON.parse(readFileSync(new URL('../fixtures/kerberos-decode/mit-tokens.json', import.meta.url), 'utf8')) as Record<string, string>;
  return Object.entries(raw).filter(([k]) => !['source', 'realm'].includes(k) && !k.endsWith('_exit')).map(([, v]) => Uint8Array.from(Buffer.from(v, 'base64')));
};

function sampleCredential(server: string[], ticket: Uint8Array): Credential {
  return {
    client: { realm: REALM, components: ['alice'], nameType: 1 }, server: { realm: REALM, components: server, nameType: 2 },
    key: { enctype: 18, keyvalue: new Uint8Array(32).fill(7) }, authtime: 1_700_000_000, starttime: 0, endtime: 1_700_036_000, renewTill: 0,
    isSkey: false, ticketFlags: 0x40e00000, addresses: [{ addrType: 2, address: Uint8Array.from([127, 0, 0, 1]) }], authdata: [{ adType: 1, data: Uint8Array.from([0x30, 0]) }],
    ticket, secondTicket: new Uint8Array(0),
  };
}

/** A 0x0501 keytab record list (count includes the realm, no name-type) in either byte order. */
function keytabV1(entries: readonly KeytabEntry[], little: boolean): Uint8Array {
  const parts: number[] = [0x05, 0x01];
  const u16 = (a: number[], v: number) => (little ? a.push(v & 0xff, v >>> 8) : a.push(v >>> 8, v & 0xff));
  const u32 = (a: number[], v: number) => (little ? a.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24) : a.push(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff));
  for (const e of entries) {
    const body: number[] = [];
    const data = (b: Uint8Array) => {
      u16(body, b.length);
      body.push(...b);
    };
    u16(body, e.principal.components.length + 1);
    data(Buffer.from(e.principal.realm));
    for (const c of e.principal.components) data(Buffer.from(c));
    u32(body, e.timestamp);
    body.push(e.kvno8);
    u16(body, e.key.enctype);
    data(e.key.keyvalue);
    u32(parts, body.length);
    parts.push(...body);
  }
  return Uint8Array.from(parts);
}

interface ParserSeeds {
  pacs: Uint8Array[];
  logonInfos: Uint8Array[];
  upns: Uint8Array[];
  checksums: Uint8Array[];
  krbCreds: Uint8Array[];
  krbCredKey: KerberosKey;
  keytabs: Uint8Array[];
  ccaches: Uint8Array[];
  credentials: Uint8Array[];
  principals: Uint8Array[];
  kcmLists: Uint8Array[];
  tokens: Uint8Array[];
  contextData: Uint8Array[];
}

let seedCache: ParserSeeds | null = null;

/** Valid inputs for every parser, made once per process without the world (no LSA needed). */
export function parserSeeds(): ParserSeeds {
  if (seedCache) return seedCache;
  const key18 = randomToKey(18, randomBytes(32));
  const key19 = randomToKey(19, randomBytes(16));
  const fakeWorld = { serviceKeys: new Map([[18, key18], [19, key19]]) } as unknown as World;
  const t = makeTicket(fakeWorld, 18);
  const ticketDer = encodeTicket(t.ticket);
  const pac = buildPac(key18).pac;
  const subkey = randomToKey(18, randomBytes(32));
  const info = credInfo({ keytype: 18, keyLength: 32, pnameType: 1, pname: ['alice'], snameType: 2, sname: ['krbtgt', REALM], flags: 0x60000000, times: [1_700_000_000, 1_800_000_000] });
  const krbCreds = [krbCred([t.ticket], [info], subkey), krbCred([t.ticket], [info], null), krbCred([t.ticket, t.ticket], [info, info], null)];
  const checksums = [
    encodeGssChecksum({ bnd: new Uint8Array(16), flags: 0x3e }),
    encodeGssChecksum({ bnd: randomBytes(16), flags: 0x1003, deleg: krbCreds[0]! }),
    encodeGssChecksum({ bnd: randomBytes(16), flags: 0x23, deleg: krbCreds[1]!, exts: [{ type: 2, data: randomBytes(12) }] }),
    encodeGssChecksum({ bnd: new Uint8Array(16), flags: 0x2, exts: [{ type: 0x7fffffff, data: new Uint8Array(0) }, { type: 1, data: randomBytes(3) }] }),
  ];
  const kt: KeytabEntry[] = [
    { principal: { realm: REALM, components: ['HTTP', 'e18.example.test'], nameType: 2 }, timestamp: 1_700_000_000, kvno: 3, kvno8: 3, key: key18 },
    { principal: { realm: REALM, components: ['host', 'a.example.test'], nameType: 3 }, timestamp: 0, kvno: 300, kvno8: 44, key: key19, flags: 0 },
  ];
  const creds = [sampleCredential(['krbtgt', REALM], ticketDer), sampleCredential(['HTTP', 'e18.example.test'], ticketDer)];
  const cc: Ccache = { version: 0x0504, defaultPrincipal: creds[0]!.client, credentials: creds, kdcOffset: { seconds: -5, microseconds: 12 } };
  const credBytes = creds.map(encodeCcacheCredential);
  const kcmList = (list: Uint8Array[]) => {
    const parts: Buffer[] = [Buffer.alloc(4)];
    parts[0]!.writeUInt32BE(list.length);
    for (const c of list) {
      const len = Buffer.alloc(4);
      len.writeUInt32BE(c.length);
      parts.push(len, Buffer.from(c));
    }
    return new Uint8Array(Buffer.concat(parts));
  };
  const state = (initiator: boolean, key: KerberosKey, sub?: KerberosKey) =>
    createTokenState({ initiator, key, ...(sub ? { acceptorSubkey: sub } : {}), localSeq: 7, remoteSeq: 9, replayDetect: true, sequenceDetect: true, policy: { allowWeak: true } });
  const rc4 = randomToKey(23, randomBytes(16), { allowWeak: true });
  const tokens = [
    ...fixtureTokens(),
    buildApReq({ ticket: t.ticket, sessionKey: t.sessionKey, crealm: REALM, cname: { nameType: 1, nameString: ['alice'] }, gssFlags: 0x3e }).token,
    buildApRep({ sessionKey: t.sessionKey, ctime: secs(Date.now()), cusec: 5, subkey, seqNumber: 77 }),
    buildApRep({ sessionKey: t.sessionKey, ctime: secs(Date.now()), cusec: 5, raw: true }),
    buildKrbErrorToken(34, { realm: REALM, components: ['HTTP', 'e18.example.test'], nameType: 2 }),
    krbCreds[0]!,
    gssWrap(state(true, key18, subkey), randomBytes(20)),
    gssWrap(state(false, key18), randomBytes(20), { conf: false, rrc: 12 }),
    gssGetMic(state(true, key19), randomBytes(5)),
    gssWrap(state(true, rc4), randomBytes(9)),
    gssGetMic(state(false, rc4), randomBytes(9)),
  ];
  const ctx = {
    side: 'acceptor' as const, replayDetect: true, sequenceDetect: true, dceStyle: false, ContextAttributes: 0x11c, sendSeq: 5, recvSeq: 2 ** 33,
    endtime: Date.now() + 3600_000, key: subkey, acceptorSubkey: randomToKey(18, randomBytes(32)), client: `alice@${REALM}`, server: `HTTP/e18.example.test@${REALM}`,
  };
  seedCache = {
    pacs: [pac, buildPac(key19, { names: ['bob'], groups: [], domainSid: [21], extraSids: [], resourceSid: null, resourceGroups: [] }).pac],
    logonInfos: [logonInfo(defaultLogon), logonInfo({ names: [], groups: [1], domainSid: [], extraSids: [[], [1, 2]], resourceSid: null, resourceGroups: [5, 6] })],
    upns: [upnDnsInfo('alice@example.test', REALM, null), upnDnsInfo('a@b', 'B', { name: 'a', sid: [21, 7, 8, 9, 500] })],
    checksums,
    krbCreds,
    krbCredKey: subkey,
    keytabs: [serializeKeytab(kt), keytabV1(kt, true), keytabV1(kt, false)],
    ccaches: [serializeCcache(cc), serializeCcache({ ...cc, kdcOffset: undefined, otherHeaderFields: [{ tag: 9, value: randomBytes(5) }] })],
    credentials: credBytes,
    principals: [encodeCcachePrincipal(creds[0]!.client), encodeCcachePrincipal(creds[0]!.server)],
    kcmLists: [kcmList(credBytes), kcmList([]), new Uint8Array(Buffer.from('KCM:1000:12345\0'))],
    tokens,
    contextData: [packContextData(ctx), packContextData({ ...ctx, side: 'initiator', acceptorSubkey: undefined, dceStyle: true }), packContextData({ ...ctx, key: rc4, acceptorSubkey: undefined, allowWeak: true })],
  };
  return seedCache;
}

// ---- properties --------------------------------------------------------------------------------

export interface ApReqCase {
  user: User;
  enctype: number;
  req: number;
  form: 'framed' | 'bare';
  change: { kind: 'bytes'; mutation: ByteMutation } | { kind: 'rewrite'; rewrite: ApReqRewrite; other: { user: User; enctype: number; req: number } };
}

const reqArb = fc.constantFrom<number>(REQ.mutual, REQ.mutual, REQ.oneLeg, REQ.oneLeg, REQ.mutual | ISC_REQ.DELEGATE);
const otherArb = fc.record({ user: fc.constantFrom<User>('alice', 'bob'), enctype: fc.constantFrom(...AES), req: reqArb });

export const apReqCaseArb: fc.Arbitrary<ApReqCase> = fc.record({
  user: fc.constantFrom<User>('alice', 'bob'),
  enctype: fc.constantFrom(...AES),
  req: reqArb,
  form: fc.constantFrom('framed' as const, 'bare' as const),
  change: fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('bytes' as const), mutation: byteMutationArb }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('rewrite' as const), rewrite: apReqRewriteArb, other: otherArb }) },
  ),
});

/** The AP-REQ property body: returns the verdict for reporting (tests look at it). */
export async function runApReqCase(s: Session, c: ApReqCase): Promise<{ status: number; changed: Uint8Array } | null> {
  const first = await apReqOf(s, c.user, c.enctype, c.req);
  const original = c.form === 'bare' ? copy(unframeApReq(first.token)) : first.token;
  const genuine = [{ token: original, client: `${c.user}@${REALM}` }];
  let changed: Uint8Array;
  if (c.change.kind === 'bytes') changed = mutateBytes(original, c.change.mutation, apReqRegions(original));
  else {
    const o = c.change.other;
    const other = (await apReqOf(s, o.user, o.enctype, o.req)).token;
    genuine.push({ token: other, client: `${o.user}@${REALM}` });
    changed = rewriteApReq(first.token, other, c.change.rewrite);
  }
  if (same(changed, original)) return null;
  const r = await s.accept(null, changed);
  const name = r.status === SEC_E_OK ? await s.clientName(r.ctx!) : null;
  const as = checkAcceptedApReq(genuine, changed, r.status, name);
  // RFC 4120 3.2.3: an accepted authenticator is used up; a refused AP-REQ uses up nothing.
  for (const g of genuine) {
    const again = await s.accept(null, g.token);
    if (as === g) {
      assert.equal(statusName(again.status), 'SEC_E_LOGON_DENIED', `the genuine AP-REQ replayed after its changed copy was accepted: ${hex(changed)}`);
    } else {
      assert.equal(statusName(again.status), 'SEC_E_OK', `a genuine AP-REQ after a changed one got ${statusName(r.status)}: ${hex(changed)}`);
      assert.equal(await s.clientName(again.ctx!), g.client);
    }
  }
  if (as) {
    const f = await s.accept(null, (await apReqOf(s, c.user, c.enctype, c.req)).token);
    assert.equal(statusName(f.status), 'SEC_E_OK', 'a fresh AP-REQ after an accepted one');
  }
  return { status: r.status, changed };
}

export interface MessageCase {
  user: User;
  enctype: number;
  req: number;
  direction: 'c2s' | 's2c';
  op: MessageOp;
  layout: Layout;
  message: Uint8Array;
  change: { kind: 'bytes'; mutation: ByteMutation; target: 'token' | 'message' } | { kind: 'random'; bytes: Uint8Array } | { kind: 'rerotate'; by: number };
}

export const messageCaseArb: fc.Arbitrary<MessageCase> = fc.record({
  user: fc.constantFrom<User>('alice', 'bob'),
  enctype: fc.constantFrom(...AES),
  req: fc.constantFrom<number>(
    REQ.mutual, REQ.oneLeg, REQ.dce,
    ISC_REQ.MUTUAL_AUTH | ISC_REQ.CONFIDENTIALITY | ISC_REQ.INTEGRITY,
    ISC_REQ.MUTUAL_AUTH | ISC_REQ.CONFIDENTIALITY | ISC_REQ.REPLAY_DETECT,
    ISC_REQ.CONFIDENTIALITY | ISC_REQ.SEQUENCE_DETECT,
  ),
  direction: fc.constantFrom('c2s' as const, 's2c' as const),
  op: fc.constantFrom('seal' as const, 'sealNoConf' as const, 'sign' as const),
  layout: fc.constantFrom<Layout>('stream', 'split', 'multi'),
  message: fc.uint8Array({ maxLength: 120, size: 'max' }),
  change: fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('bytes' as const), mutation: byteMutationArb, target: fc.constantFrom('token' as const, 'token' as const, 'message' as const) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('random' as const), bytes: fc.oneof(fc.uint8Array({ maxLength: 120, size: 'max' }), fc.uint8Array({ minLength: 14, maxLength: 120, size: 'max' }).map((b) => Uint8Array.from([0x05, 0x04, ...b.subarray(2)])), fc.uint8Array({ minLength: 14, maxLength: 40, size: 'max' }).map((b) => Uint8Array.from([0x04, 0x04, ...b.subarray(2)]))) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('rerotate' as const), by: fc.nat(0xffff) }) },
  ),
});

/**
 * The Wrap token with its body rotated right by `by` more and RRC raised to match (RFC 4121 4.2.5:
 * RRC only says how the body lies; a receiver must take any value).
 */
export function rerotate(token: Uint8Array, by: number): Uint8Array {
  const body = token.subarray(16);
  if (body.length === 0) return token;
  const n = by % body.length;
  const out = new Uint8Array(token.length);
  out.set(token.subarray(0, 16));
  out.set(body.subarray(body.length - n), 16);
  out.set(body.subarray(0, body.length - n), 16 + n);
  let rrc = ((token[6]! << 8) | token[7]!) + n;
  if (rrc > 0xffff) rrc %= body.length; // any congruent value describes the same layout
  out[6] = rrc >>> 8;
  out[7] = rrc & 0xff;
  return out;
}

export async function runMessageCase(s: Session, c: MessageCase): Promise<void> {
  const w = s.w;
  const p = await establish(s, c.user, c.enctype, c.req);
  const [from, to] = c.direction === 'c2s' ? [p.client, p.server] : [p.server, p.client];
  const detect = (c.req & (ISC_REQ.REPLAY_DETECT | ISC_REQ.SEQUENCE_DETECT)) !== 0;
  const t1 = send(w, from, c.op, c.message);
  const t2 = send(w, from, c.op, Uint8Array.from(c.message, (x) => x ^ 0x5a));
  const layout = c.op === 'sign' ? 'stream' : c.layout;
  let wire = t1.wire;
  let message = c.message;
  if (c.change.kind === 'random') wire = c.change.bytes;
  else if (c.change.kind === 'rerotate') {
    if (c.op === 'sign' || layout !== 'stream') return;
    wire = rerotate(t1.wire, c.change.by);
  } else if (c.change.target === 'message' && c.op === 'sign') message = mutateBytes(c.message, c.change.mutation);
  else wire = mutateBytes(t1.wire, c.change.mutation, [[0, 16], [16, t1.tokenLength], [0, t1.wire.length]]);
  if (same(wire, t1.wire) && same(message, c.message)) return;
  const got = receive(w, to, c.op, wire, layout, t1.tokenLength, message);
  if (c.change.kind === 'rerotate') {
    assert.equal(statusName(got.status), 'SEC_E_OK', `a re-rotated Wrap token (RFC 4121 4.2.5): ${hex(wire)}`);
  } else if (got.status === SEC_E_OK) {
    // RFC 4121 4.2.5: RRC (bytes 6-7) is outside the checksum and the encrypted header copy; nothing else is.
    const pos = changedPositions(t1.wire, wire);
    const onlyRrc = c.op !== 'sign' && pos !== null && pos.every((i) => i === 6 || i === 7);
    assert.ok(same(message, c.message) && onlyRrc, `accepted a changed ${c.op} token: ${hex(wire)} (sent ${hex(t1.wire)})`);
  }
  if (got.status === SEC_E_OK) {
    assert.ok(same(got.data!, c.message), `accepted ${c.op} with different data`);
    assert.equal(got.qop, c.op === 'sealNoConf' ? SECQOP_WRAP_NO_ENCRYPT : 0, 'QOP of an accepted token');
  }
  // The genuine tokens, in order: a refused token must not have moved the window (RFC 4121 4.2.3:
  // the sequence number counts only once the token's integrity is established).
  const g1 = receive(w, to, c.op, t1.wire, layout, t1.tokenLength, c.message);
  if (got.status === SEC_E_OK && detect) assert.equal(statusName(g1.status), 'SEC_E_OUT_OF_SEQUENCE', 'the genuine token after its accepted copy is a replay');
  else {
    assert.equal(statusName(g1.status), 'SEC_E_OK', `the genuine token after a refused one (${statusName(got.status)}): ${hex(wire)}`);
    assert.ok(same(g1.data!, c.message));
  }
  const g2 = receive(w, to, c.op, t2.wire, layout, t2.tokenLength, Uint8Array.from(c.message, (x) => x ^ 0x5a));
  assert.equal(statusName(g2.status), 'SEC_E_OK', 'the next genuine token');
}

/** The properties, by name; each run makes its own contexts in the shared world and deletes them. */
export function kerberosPackageProperties(): CampaignProperty[] {
  const props: CampaignProperty[] = [];
  const add = <T>(name: string, arb: fc.Arbitrary<T>, body: (s: Session, v: T) => Promise<unknown>) =>
    props.push([name, fc.asyncProperty(arb, async (v) => {
      await inSession((s) => body(s, v));
    })]);
  const sync = <T>(name: string, arb: fc.Arbitrary<T>, body: (v: T) => void) => props.push([name, fc.property(arb, (v) => body(v))]);

  add('baseline: an honest handshake (each enctype, one/two/three legs) then sealed messages both ways', fc.tuple(fc.constantFrom<User>('alice', 'bob'), fc.constantFrom(...AES), fc.constantFrom<number>(REQ.mutual, REQ.oneLeg, REQ.dce)), async (s, [user, et, req]) => {
    const p = await establish(s, user, et, req);
    assert.equal(await s.clientName(p.server), `${user}@${REALM}`);
    assertWorkingPair(s.w, p, 'baseline');
  });

  add('AcceptSecurityContext: a changed AP-REQ (framed or bare) is refused unless only clear fields changed, never as another client; a refused one burns nothing', apReqCaseArb, (s, c) => runApReqCase(s, c));

  add('AcceptSecurityContext: random bytes, and random bytes behind AP-REQ framing, give a defined error', fc.oneof(
    fc.uint8Array({ maxLength: 400, size: 'max' }),
    fc.uint8Array({ maxLength: 400, size: 'max' }).map((b) => wrapKrb5Token(Krb5TokId.KRB_AP_REQ, b, KRB5_MECH_OID)),
    fc.uint8Array({ maxLength: 400, size: 'max' }).map((b) => Uint8Array.from([0x6e, 0x82, b.length >> 8, b.length & 0xff, ...b])),
  ), async (s, bytes) => {
    if (bytes.length === 0) return;
    const r = await s.accept(null, bytes);
    assert.ok(r.status !== SEC_E_OK && r.status !== SEC_I_CONTINUE_NEEDED, `accepted random bytes: ${hex(bytes)}`);
  });

  add('InitializeSecurityContext: a changed AP-REP (or a KRB-ERROR) never completes with changed ciphertext; a completion gives working keys', fc.record({
    user: fc.constantFrom<User>('alice', 'bob'), enctype: fc.constantFrom(...AES), mutation: byteMutationArb, genuineAfter: fc.boolean(),
    krbError: fc.option(fc.record({ code: int32, raw: fc.boolean(), mutation: fc.option(byteMutationArb) }), { freq: 5 }),
  }), async (s, c) => {
    const first = await apReqOf(s, c.user, c.enctype, REQ.mutual);
    const acc = await s.accept(null, first.token);
    assert.equal(acc.status, SEC_E_OK);
    const rep = acc.token;
    const cipher = decodeApRep(unframeApRep(rep)).encPart.cipher;
    const at = Buffer.from(rep).indexOf(Buffer.from(cipher));
    let bad = mutateBytes(rep, c.mutation, [[0, at], [at, at + cipher.length], [0, rep.length]]);
    if (c.krbError) {
      // RFC 4121 4.1: the acceptor may answer with a KRB-ERROR (TOK_ID 03 00), framed or, DCE style, raw.
      const framed = buildKrbErrorToken(c.krbError.code, { realm: REALM, components: ['HTTP', hostFor(c.enctype)], nameType: 2 });
      bad = c.krbError.raw ? copy(parseKrb5Token(framed, Krb5TokId.KRB_ERROR).body) : framed;
      if (c.krbError.mutation) bad = mutateBytes(bad, c.krbError.mutation);
    }
    if (same(bad, rep)) return;
    const r = await s.init(c.user, first.ctx, bad, spnFor(c.enctype), REQ.mutual);
    assert.notEqual(r.status, SEC_I_CONTINUE_NEEDED, 'no third leg without DCE style');
    if (r.status === SEC_E_OK) {
      const d = tryDecodeApRep(bad);
      assert.ok(d && same(d.encPart.cipher, cipher), `completed with a changed AP-REP ciphertext: ${hex(bad)}`);
      assertWorkingPair(s.w, { client: first.ctx!, server: acc.ctx! }, 'after a changed AP-REP');
    } else if (c.genuineAfter) {
      // Not required by SSPI (a failed context is the caller's to delete), but whatever happens must be consistent.
      const g = await s.init(c.user, first.ctx, rep, spnFor(c.enctype), REQ.mutual);
      if (g.status === SEC_E_OK) assertWorkingPair(s.w, { client: first.ctx!, server: acc.ctx! }, 'the genuine AP-REP after a refused one');
    }
  });

  add('AcceptSecurityContext: a changed DCE third leg (MS-KILE 3.2.5.2) is refused unless its ciphertext is unchanged; the genuine one still completes', fc.record({
    enctype: fc.constantFrom(...AES), mutation: byteMutationArb,
  }), async (s, c) => {
    const first = await apReqOf(s, 'alice', c.enctype, REQ.dce);
    const acc = await s.accept(null, first.token);
    assert.equal(acc.status, SEC_I_CONTINUE_NEEDED);
    const third = await s.init('alice', first.ctx, acc.token, spnFor(c.enctype), REQ.dce);
    assert.equal(third.status, SEC_E_OK);
    const cipher = decodeApRep(third.token).encPart.cipher;
    const at = Buffer.from(third.token).indexOf(Buffer.from(cipher));
    const bad = mutateBytes(third.token, c.mutation, [[0, at], [at, at + cipher.length]]);
    if (same(bad, third.token)) return;
    const r = await s.accept(acc.ctx, bad);
    assert.notEqual(r.status, SEC_I_CONTINUE_NEEDED);
    if (r.status === SEC_E_OK) {
      const d = tryDecodeApRep(bad);
      assert.ok(d && same(d.encPart.cipher, cipher), `completed with a changed third-leg ciphertext: ${hex(bad)}`);
    } else {
      const g = await s.accept(acc.ctx, third.token);
      assert.equal(statusName(g.status), 'SEC_E_OK', `the genuine third leg after a refused one (${statusName(r.status)})`);
    }
    assertWorkingPair(s.w, { client: first.ctx!, server: acc.ctx! }, 'DCE style');
  });

  add('messages: a changed Wrap/MIC token (any enctype, conf or not, RRC, STREAM or TOKEN+DATA buffers) is never accepted with other data; a refused one leaves the window alone', messageCaseArb, (s, c) => runMessageCase(s, c));

  add('AcceptSecurityContext: authenticated hostile authenticators (0x8003 checksum, KRB-CRED, subkey, seq-number) give defined statuses, as the ticket client', hostileArb, async (s, c) => {
    s.peerFaultIsCallerFault = true; // delegated key types past 16 bits: their own property below
    const t = makeTicket(s.w, c.enctype);
    const { token } = buildHostile(s.w, t, c);
    const r = await s.accept(null, token);
    if (r.status !== SEC_E_OK && r.status !== SEC_I_CONTINUE_NEEDED) return;
    if (r.status === SEC_E_OK) assert.equal(await s.clientName(r.ctx!), `alice@${REALM}`);
    for (const level of [TSLSA_KERB_ATTR.DELEGATED_CCACHE, TSLSA_KERB_ATTR.TICKET_INFO, SECPKG_ATTR.SIZES, SECPKG_ATTR.SESSION_KEY]) {
      const q = await s.w.sspi.QueryContextAttributes(r.ctx!, level);
      assertDefined(s.w, q.status, `QueryContextAttributes(${level})`);
    }
    if (r.status === SEC_E_OK) {
      const tok = outputBuffer(SECBUFFER.TOKEN, 128);
      assertDefined(s.w, s.w.sspi.EncryptMessage(r.ctx!, 0, secBufferDesc(tok, secBuffer(SECBUFFER.DATA, randomBytes(9))), 0), 'EncryptMessage');
      assertDefined(s.w, s.w.sspi.MakeSignature(r.ctx!, 0, secBufferDesc(secBuffer(SECBUFFER.DATA, randomBytes(9)), outputBuffer(SECBUFFER.TOKEN, 128)), 0), 'MakeSignature');
    }
  });

  add('AcceptSecurityContext: an accepted context can protect a message (a malformed authenticator subkey is refused, RFC 4120 5.2.9)', fc.record({
    enctype: fc.constantFrom(...AES), keytype: fc.oneof(fc.constantFrom(17, 18, 19, 20, 23, 16, 1, 999), int32), length: fc.constantFrom(0, 1, 5, 16, 24, 32, 48), mutual: fc.boolean(),
  }), async (s, c) => {
    const t = makeTicket(s.w, c.enctype);
    const token = hostileApReq(t, {
      cksum: { type: GSS_CHECKSUM_TYPE, bytes: encodeGssChecksum({ bnd: new Uint8Array(16), flags: GssFlags.GSS_C_CONF_FLAG | GssFlags.GSS_C_INTEG_FLAG | (c.mutual ? GssFlags.GSS_C_MUTUAL_FLAG : 0) }) },
      subkey: { keytype: c.keytype, keyvalue: randomBytes(c.length) }, seqNumber: 1, apOptions: c.mutual ? ApOptions.MUTUAL_REQUIRED : 0, authorizationData: undefined,
    });
    const r = await s.accept(null, token);
    if (r.status !== SEC_E_OK) return;
    const tok = outputBuffer(SECBUFFER.TOKEN, 128);
    const st = s.w.sspi.EncryptMessage(r.ctx!, 0, secBufferDesc(tok, secBuffer(SECBUFFER.DATA, randomBytes(9))), 0);
    assert.equal(statusName(st), 'SEC_E_OK', `AcceptSecurityContext accepted subkey {keytype ${c.keytype}, ${c.length} bytes} (mutual ${c.mutual}), then EncryptMessage gave ${statusName(st)}: ${hex(token)}`);
  });

  add('messages: a peer with any initial sequence number (RFC 4121 4.2.3: 64-bit SND_SEQ) and its own RRC 0 tokens talks to the acceptor in order; replays refused', fc.record({
    enctype: fc.constantFrom(...AES), subkeyEnctype: fc.constantFrom(...AES), seq: fc.oneof(fc.constantFrom(0, 1, 0x3fffffff, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff), uint32),
    mutual: fc.boolean(), replay: fc.boolean(), sequence: fc.boolean(), count: fc.integer({ min: 1, max: 4 }), conf: fc.boolean(),
  }), async (s, c) => {
    const t = makeTicket(s.w, c.enctype);
    const subkey = randomToKey(c.subkeyEnctype, randomBytes(KEY_BYTES[c.subkeyEnctype]!));
    const flags = GssFlags.GSS_C_CONF_FLAG | GssFlags.GSS_C_INTEG_FLAG | (c.mutual ? GssFlags.GSS_C_MUTUAL_FLAG : 0) | (c.replay ? GssFlags.GSS_C_REPLAY_FLAG : 0) | (c.sequence ? GssFlags.GSS_C_SEQUENCE_FLAG : 0);
    const sent = hostileAuthenticator(t, { cksum: { type: GSS_CHECKSUM_TYPE, bytes: encodeGssChecksum({ bnd: new Uint8Array(16), flags }) }, subkey: { keytype: subkey.enctype, keyvalue: subkey.keyvalue }, seqNumber: c.seq, apOptions: c.mutual ? ApOptions.MUTUAL_REQUIRED : 0, authorizationData: undefined });
    const r = await s.accept(null, sent.token);
    assert.equal(statusName(r.status), 'SEC_E_OK');
    let acceptorSubkey: KerberosKey | undefined;
    let acceptorSeq = c.seq; // without an AP-REP the acceptor numbers from ours, as MIT
    if (c.mutual) {
      const v = verifyApRep(r.token, t.sessionKey, sent);
      acceptorSubkey = v.subkey;
      acceptorSeq = v.seqNumber ?? 0;
    }
    const peer = createTokenState({ initiator: true, key: subkey, ...(acceptorSubkey ? { acceptorSubkey } : {}), localSeq: c.seq, remoteSeq: acceptorSeq, replayDetect: true, sequenceDetect: true });
    const tokens = Array.from({ length: c.count }, (_, i) => {
      const m = randomBytes(i * 7);
      return { m, tok: gssWrap(peer, m, { conf: c.conf }) };
    });
    for (const { m, tok } of tokens) {
      const got = receive(s.w, r.ctx!, c.conf ? 'seal' : 'sealNoConf', tok, 'stream', tok.length);
      assert.equal(statusName(got.status), 'SEC_E_OK', `peer token from initial seq ${c.seq}`);
      assert.ok(same(got.data!, m));
    }
    const replay = receive(s.w, r.ctx!, 'seal', tokens[0]!.tok, 'stream', tokens[0]!.tok.length);
    assert.equal(statusName(replay.status), c.replay || c.sequence ? 'SEC_E_OUT_OF_SEQUENCE' : 'SEC_E_OK', 'a replayed peer token');
    const back = send(s.w, r.ctx!, 'seal', Uint8Array.of(1, 2, 3));
    assert.deepEqual([...gssUnwrap(peer, back.wire).data], [1, 2, 3], 'the acceptor\'s token at the peer');
    const mic = send(s.w, r.ctx!, 'sign', Uint8Array.of(4));
    assert.equal(gssVerifyMic(peer, Uint8Array.of(4), mic.wire), 'GSS_S_COMPLETE');
  });

  add('AcceptSecurityContext: delegated credentials (KRB-CRED, RFC 4120 5.8.1 Int32 fields) are kept or refused as a token error, never SEC_E_INVALID_PARAMETER', fc.record({
    enctype: fc.constantFrom(...AES), info: credInfoArb, encryption: fc.constantFrom('subkey' as const, 'none' as const),
  }), async (s, c) => {
    const t = makeTicket(s.w, c.enctype);
    const choice: HostileChoice = {
      enctype: c.enctype, checksum: 'gss', otherType: 0, flags: GssFlags.GSS_C_CONF_FLAG | GssFlags.GSS_C_INTEG_FLAG, bnd: 'zero',
      deleg: { info: c.info, tickets: 1, encryption: c.encryption, mutation: null }, exts: [], checksumMutation: null, subkey: 'good', seqNumber: 1, apOptions: 0, authData: 'none',
    };
    const { token } = buildHostile(s.w, t, choice);
    const r = await s.accept(null, token);
    // Every parameter of this call is valid: whatever is wrong came from the peer.
    assert.notEqual(statusName(r.status), 'SEC_E_INVALID_PARAMETER', `AcceptSecurityContext blamed the caller for a delegated credential with keytype ${c.info.keytype}: ${hex(token)}`);
    if (r.status !== SEC_E_OK) return;
    const q = await s.w.sspi.QueryContextAttributes(r.ctx!, TSLSA_KERB_ATTR.DELEGATED_CCACHE);
    assert.equal(statusName(q.status), 'SEC_E_OK', 'DELEGATED_CCACHE of an accepted delegation');
    const cc = parseCcache((q.pBuffer as { ccache: Uint8Array }).ccache);
    assert.equal(cc.credentials[0]?.key.enctype, c.info.keytype, 'the delegated key type as sent');
  });

  add('AcceptSecurityContext: a PAC changed outside the KDC signature is refused (MS-PAC 2.8); an unchanged one verifies', fc.record({
    enctype: fc.constantFrom(...AES), logon: fc.option(logonInfoArb, { freq: 3 }), mutation: fc.option(byteMutationArb, { freq: 8 }),
  }), async (s, c) => {
    const key = s.w.serviceKeys.get(c.enctype)!;
    const built = buildPac(key, c.logon ?? defaultLogon);
    // Regions: PACTYPE and its PAC_INFO_BUFFERs, the two signature values, anywhere.
    const pac = c.mutation ? mutateBytes(built.pac, c.mutation, [[0, 8 + 16 * 5], built.serverSig, built.kdcSig, [0, built.pac.length]]) : built.pac;
    const t = makeTicket(s.w, c.enctype, 'alice', pacAuthorizationData(pac));
    const r = await s.accept(null, buildApReq({ ticket: t.ticket, sessionKey: t.sessionKey, crealm: REALM, cname: { nameType: 1, nameString: ['alice'] }, gssFlags: 0x30 }).token);
    const pos = changedPositions(built.pac, pac);
    const onlyKdcSig = pos !== null && pos.every((i) => i >= built.kdcSig[0] && i < built.kdcSig[1]);
    if (onlyKdcSig) {
      assert.equal(statusName(r.status), 'SEC_E_OK', `a PAC changed only in the KDC signature (or not at all): ${hex(pac)}`);
      const q = await s.w.sspi.QueryContextAttributes(r.ctx!, TSLSA_KERB_ATTR.PAC);
      assert.equal(q.status >>> 0, SEC_E_OK);
      assert.equal((q.pBuffer as { verified: boolean }).verified, true);
    } else {
      assert.notEqual(r.status, SEC_E_OK, `accepted a PAC changed outside the KDC signature: ${hex(pac)}`);
    }
  });

  add('ImportSecurityContext: a changed exported context gives a defined status, and so does every message call on it', fc.record({
    enctype: fc.constantFrom(...AES), side: fc.constantFrom('client' as const, 'server' as const), mutation: byteMutationArb,
  }), async (s, c) => {
    const p = await establish(s, 'alice', c.enctype, REQ.mutual);
    const ex = await s.w.sspi.ExportSecurityContext(c.side === 'client' ? p.client : p.server, 0);
    assert.equal(ex.status >>> 0, SEC_E_OK);
    const packed = ex.pPackedContext!;
    const bad = mutateBytes(packed, c.mutation, [[0, 38], [0, packed.length]]); // fixed fields and first key, or anywhere
    const im = await s.w.sspi.ImportSecurityContext('Kerberos', bad);
    assertDefined(s.w, im.status, 'ImportSecurityContext');
    if (im.status >>> 0 !== SEC_E_OK) return;
    const h = s.track(im.phContext)!;
    const peer = c.side === 'client' ? p.server : p.client;
    for (const op of ['seal', 'sealNoConf', 'sign'] as const) {
      const m = randomBytes(11);
      const sent = send(s.w, peer, op, m);
      receive(s.w, h, op, sent.wire, 'stream', sent.tokenLength, m);
      const tok = outputBuffer(SECBUFFER.TOKEN, 128);
      assertDefined(s.w, s.w.sspi.EncryptMessage(h, 0, secBufferDesc(tok, secBuffer(SECBUFFER.DATA, copy(m))), 0), 'EncryptMessage on an imported context');
      assertDefined(s.w, s.w.sspi.MakeSignature(h, 0, secBufferDesc(secBuffer(SECBUFFER.DATA, copy(m)), outputBuffer(SECBUFFER.TOKEN, 128)), 0), 'MakeSignature on an imported context');
    }
  });

  // ---- the parsers, called directly -------------------------------------------------------------
  const seeds = parserSeeds();
  const INVALID = [SEC_E_INVALID_TOKEN];

  sync('MS-PAC: parsePac, parseKerbValidationInfo, parseUpnDnsInfo on changed and random input: only SEC_E_INVALID_TOKEN', fc.oneof(
    seeded(seeds.pacs).map((b) => ['pac', b] as const),
    seeded(seeds.logonInfos).map((b) => ['logon', b] as const),
    seeded(seeds.upns, 80).map((b) => ['upn', b] as const),
  ), ([what, b]) => {
    if (what === 'pac') expectTyped('parsePac', b, () => parsePac(b), INVALID);
    else if (what === 'logon') expectTyped('parseKerbValidationInfo', b, () => parseKerbValidationInfo(b), INVALID);
    else expectTyped('parseUpnDnsInfo', b, () => parseUpnDnsInfo(b), INVALID);
  });

  sync('GSS checksum (RFC 4121 4.1.1) and its KRB-CRED: decodeGssChecksum and delegationToCcache give typed errors only', fc.oneof(
    seeded(seeds.checksums, 120).map((b) => ['cksum', b] as const),
    seeded(seeds.krbCreds, 120).map((b) => ['cred', b] as const),
  ), ([what, b]) => {
    if (what === 'cksum') expectTyped('decodeGssChecksum', b, () => decodeGssChecksum(b), INVALID);
    else {
      const client = { realm: REALM, components: ['alice'], nameType: 1 };
      expectTyped('delegationToCcache', b, () => serializeCcache(delegationToCcache(b, [seeds.krbCredKey], client)), [SEC_E_INVALID_TOKEN, SecurityStatus.SEC_E_MESSAGE_ALTERED, SecurityStatus.SEC_E_KDC_UNKNOWN_ETYPE, SecurityStatus.SEC_E_INVALID_PARAMETER]);
    }
  });

  sync('keytab files (0x0502, 0x0501 in both byte orders): parseKeytab gives only SEC_E_INVALID_TOKEN', fc.tuple(seeded(seeds.keytabs), fc.constantFrom('big' as const, 'little' as const)), ([b, order]) => {
    expectTyped('parseKeytab', b, () => parseKeytab(b, { v1ByteOrder: order }), INVALID);
  });

  sync('ccache files and KCM replies: parseCcache, decodeCcacheCredential/Principal, readKcm* give only SEC_E_INVALID_TOKEN', fc.oneof(
    seeded(seeds.ccaches).map((b) => ['ccache', b] as const),
    seeded(seeds.credentials).map((b) => ['cred', b] as const),
    seeded(seeds.principals, 60).map((b) => ['principal', b] as const),
    seeded(seeds.kcmLists).map((b) => ['kcm', b] as const),
  ), ([what, b]) => {
    if (what === 'ccache') expectTyped('parseCcache', b, () => parseCcache(b), INVALID);
    else if (what === 'cred') expectTyped('decodeCcacheCredential', b, () => decodeCcacheCredential(b), INVALID);
    else if (what === 'principal') expectTyped('decodeCcachePrincipal', b, () => decodeCcachePrincipal(b), INVALID);
    else {
      expectTyped('readKcmCredList', b, () => readKcmCredList(b), INVALID);
      expectTyped('readKcmUuids', b, () => readKcmUuids(b), INVALID);
      expectTyped('readKcmName', b, () => readKcmName(b), INVALID);
    }
  });

  sync('tslsa decode: decodeKerberosToken on changed MIT and tslsa tokens and random bytes gives only SEC_E_INVALID_TOKEN', seeded(seeds.tokens, 400), (b) => {
    expectTyped('decodeKerberosToken', b, () => decodeKerberosToken(b), INVALID);
  });

  sync('ContextData and the RFC 4121 / RFC 4757 token parsers on changed input: only SspiError (the SSPI layer would hide anything else)', fc.record({
    which: fc.nat(seeds.contextData.length - 1), mutation: byteMutationArb, token: fc.nat(), tokenMutation: byteMutationArb,
  }), (c) => {
    const base = seeds.contextData[c.which]!;
    const packed = mutateBytes(base, c.mutation, [[0, 40], [0, base.length]]);
    expectTyped('unpackContextData', packed, () => unpackContextData(packed), INVALID);
    // The user-mode half's view of an intact context, and peer tokens against it.
    const d = unpackContextData(base);
    const rx = createTokenState({ initiator: d.side === 'initiator', key: d.key, ...(d.acceptorSubkey ? { acceptorSubkey: d.acceptorSubkey } : {}), localSeq: d.sendSeq, remoteSeq: d.recvSeq, replayDetect: true, sequenceDetect: false, policy: { allowWeak: true } });
    const tx = createTokenState({ initiator: d.side !== 'initiator', key: d.key, ...(d.acceptorSubkey ? { acceptorSubkey: d.acceptorSubkey } : {}), localSeq: d.recvSeq, remoteSeq: d.sendSeq, replayDetect: true, sequenceDetect: false, policy: { allowWeak: true } });
    const m = randomBytes(c.token % 40);
    const tokens = [gssWrap(tx, m), gssWrap(tx, m, { conf: false, rrc: c.token % 30 }), gssGetMic(tx, m)];
    const i = c.token % tokens.length;
    const bad = mutateBytes(tokens[i]!, c.tokenMutation, [[0, 16], [0, tokens[i]!.length]]);
    if (i < 2) expectTyped('gssUnwrap', bad, () => gssUnwrap(rx, bad));
    else expectTyped('gssVerifyMic', bad, () => gssVerifyMic(rx, m, bad));
  });

  return props;
}

/** The AP-REP inside a framed token (TOK_ID 02 00) or a raw one, as the initiator reads it. */
function unframeApRep(token: Uint8Array): Uint8Array {
  return token[0] === 0x6f ? token : parseKrb5Token(token, Krb5TokId.KRB_AP_REP).body;
}

function tryDecodeApRep(token: Uint8Array): ReturnType<typeof decodeApRep> | null {
  try {
    return decodeApRep(unframeApRep(token));
  } catch {
    return null;
  }
}
