// fast-check generators and properties for the Negotiate package (SPNEGO, RFC 4178 / MS-SPNG) and
// the HTTP sign-on layer (RFC 4559, MS-NTHT), shared by
// test/unit/packages/negotiate/package.fuzz.test.ts (a few seconds) and
// test/fuzz/negotiate-http-campaign.ts (long runs).
//
// The world is one LSA with Negotiate over NTLM (with a real account authority) and over Kerberos
// (an acceptor keytab, and an in-process KDC behind the package's kdcSend hook, so no KDC runs).
//
// What the properties hold:
//   - the SPNEGO codec turns any bytes into a token or SspiError(SEC_E_INVALID_TOKEN), nothing else,
//     and the tokens it writes parse back to the same fields and the same bytes;
//   - every SSPI call returns a SECURITY_STATUS defined in src/sspi/status.ts, never
//     SEC_E_INTERNAL_ERROR (what an exception inside a package becomes), and nothing throws;
//   - a handshake with one leg changed in transit (bytes, DER structure, SPNEGO fields, the NTLM
//     message inside, a reflected MIC, a replayed leg, a leg of another handshake) never completes
//     as anyone but alice, never on another mechanism than the initiator's first choice (RFC 4178
//     5: any other needs the mechListMIC, which covers mechTypes as the initiator sent them), and
//     never leaves the initiator done while the acceptor is not. Over NTLM the mechListMIC is always
//     exchanged (MS-SPNG 3.1.5.1) and NTLM's own MIC covers NEGOTIATE/CHALLENGE/AUTHENTICATE, so
//     there it completes only when the changed leg still carries the same mechTypes,
//     mechToken/responseToken and mechListMIC; negState, reqFlags (MS-SPNG: ignored), negHints and
//     a missing supportedMech are not protected. Over Kerberos the AP-REQ and AP-REP have
//     unauthenticated fields (ap-options, the ticket's clear realm and sname, kvno), so only the
//     identity and the mechanism are asserted, and that a leg of another handshake is refused;
//   - a parked acceptor context (ExportPartialSecurityContext) changed in the store gives a defined
//     error on import or on the next leg, never a fault, and never another identity;
//   - the HTTP authenticator answers any Authorization header, alone or pipelined, with 400 or 401
//     (200 only for a genuine sign-on as alice), never 500, a throw, an unhandled rejection or a
//     hang, in plain and cluster mode (records changed in the shared store, cookies dropped or
//     forged) and over node:http; a connection keeps an identity only after a 200, and a clean
//     sign-on still works afterwards;
//   - parseChallenges (WWW-Authenticate on the client) never throws and returns well-formed
//     challenges, and reads back the challenges a server writes;
//   - the client's reader of a proxy's answer to CONNECT (random bytes, or a 407/200 head with
//     random fields and body, then a close) ends in a rejected Error: never a hang, a throw or a
//     tunnel opened over garbage.
import * as assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as fc from 'fast-check';
import { type ByteMutation, byteMutationArb, mutateBytes } from './bytes.js';
import { Credentials } from '../../src/credentials.js';
import { SecurityContext } from '../../src/context.js';
import { KRB5_MECH_OID, MS_KRB5_MECH_OID, NTLMSSP_MECH_OID, SPNEGO_MECH_OID } from '../../src/der/index.js';
import { type AuthFailure, type Authenticator, createAuthenticator, HANDSHAKE_COOKIE } from '../../src/http/server.js';
import type { HandshakeStore, ParkedHandshake } from '../../src/http/handshakeStore.js';
import { type Challenge, parseChallenges } from '../../src/http/client-challenge.js';
import { openTunnel } from '../../src/http/client-tunnel.js';
import { createLsa, type LsaHost } from '../../src/lsa/host.js';
import { PackedReader, PackedWriter } from '../../src/lsa/packed.js';
import type { SecHandle } from '../../src/lsa/protocol.js';
import { SspiSession, withSession } from './session.js';
import {
  decodeApReq, decodeAsReq, decodeEncTicketPart, decodeTgsReq, encodeAsRep, encodeEncASRepPart, encodeEncTGSRepPart, encodeEncTicketPart, encodeKrbError, encodeTgsRep,
  type AuthorizationData, type KdcReq,
} from '../../src/packages/kerberos/asn1/index.js';
import { decrypt, encrypt, randomToKey, stringToKey } from '../../src/packages/kerberos/crypto/index.js';
import type { KerberosKey } from '../../src/packages/kerberos/crypto/types.js';
import { writeKeytabFile } from '../../src/packages/kerberos/keytab.js';
import { parseKrb5Conf } from '../../src/packages/kerberos/krb5conf.js';
import { kerberosPackage } from '../../src/packages/kerberos/package.js';
import { msv1_0Package } from '../../src/packages/msv1_0/package.js';
import { negotiatePackage } from '../../src/packages/negotiate/package.js';
import {
  encodeMechTypeList, encodeNegTokenInit, encodeNegTokenResp, type NegHints, type NegotiationToken, type NegTokenInit, type NegTokenInitFields, type NegTokenResp, parseNegotiationToken,
} from '../../src/packages/negotiate/spnego.js';
import { NTOWFv1 } from '../../src/packages/ntlm/crypto.js';
import { ntlmPackage } from '../../src/packages/ntlm/package.js';
import type { SecurityFunctionTable } from '../../src/sspi/api.js';
import { bufferBytes, secBuffer, secBufferDesc } from '../../src/sspi/buffers.js';
import { SspiError } from '../../src/sspi/error.js';
import { ASC_REQ, ISC_REQ, SECBUFFER, SECPKG_ATTR, SECPKG_CONTEXT_EXPORT, SECURITY_NATIVE_DREP } from '../../src/sspi/flags.js';
import { SecurityStatus, type Status, statusHex, statusName } from '../../src/sspi/status.js';
import { MemoryAccountStore } from '../../src/store/accounts.js';
import { type Mutation as NtlmMutation, mutate as mutateNtlm, mutationArb as ntlmMutationArb } from './ntlm-properties.js';
import type { CampaignProperty } from './runner.js';

export const DOMAIN = 'EXAMPLE';
export const REALM = 'EXAMPLE.TEST';
export const USER = 'alice';
export const PASSWORD = 'Passw0rd!';
export const SPN = 'HTTP/web.example.test';

const SEC_STATUSES: ReadonlySet<number> = new Set(Object.values(SecurityStatus).map((v) => v >>> 0));
const { SEC_E_OK, SEC_I_CONTINUE_NEEDED, SEC_E_INTERNAL_ERROR, SEC_E_INVALID_TOKEN } = SecurityStatus;

// ---- an in-process KDC for the Kerberos initiator ------------------------------------------------

const KDC_ERR_C_PRINCIPAL_UNKNOWN = 6;
const KDC_ERR_S_PRINCIPAL_UNKNOWN = 7;
const AES256 = 18;

/** Whole seconds: KerberosTime has no fraction. */
const kerberosTime = (ms: number): Date => new Date(Math.floor(ms / 1000) * 1000);

/**
 * Answers AS-REQ for alice@EXAMPLE.TEST (no pre-authentication) and TGS-REQ for the one HTTP
 * service, whose key the acceptor's keytab holds. Anyone else is KDC_ERR_C_PRINCIPAL_UNKNOWN, which
 * is how the NTLM-only initiator (domain EXAMPLE) ends up without a Kerberos credential.
 * `serviceAuthData` goes into the service tickets (a PAC, say); the TGT has none.
 */
export function inProcessKdc(serviceKey: KerberosKey, serviceAuthData?: AuthorizationData) {
  const userKey = stringToKey(AES256, PASSWORD, `${REALM}${USER}`);
  const tgtKey = randomToKey(AES256, crypto.getRandomValues(new Uint8Array(32)));
  const cname = { nameType: 1, nameString: [USER] };
  const krbError = (code: number) => encodeKrbError({ stime: kerberosTime(Date.now()), susec: 0, errorCode: code, realm: REALM, sname: { nameType: 2, nameString: ['krbtgt', REALM] } });
  const issue = (req: KdcReq, as: boolean, replyKey: KerberosKey, ticketKey: KerberosKey, kvno: number, authorizationData?: AuthorizationData) => {
    const session = randomToKey(AES256, crypto.getRandomValues(new Uint8Array(32)));
    const key = { keytype: session.enctype, keyvalue: session.keyvalue };
    const authtime = kerberosTime(Date.now() - 60_000);
    const endtime = kerberosTime(Date.now() + 10 * 3600_000);
    const sname = req.reqBody.sname!;
    // INITIAL on AS replies; nothing else matters to the initiator here.
    const flags = as ? 0x00400000 : 0;
    const encTicket = encodeEncTicketPart({ flags, key, crealm: REALM, cname, transited: { trType: 1, contents: new Uint8Array(0) }, authtime, endtime, ...(authorizationData ? { authorizationData } : {}) });
    const ticket = { realm: REALM, sname, encPart: { etype: ticketKey.enctype, kvno, cipher: encrypt(ticketKey, 2, encTicket) } };
    const part = { key, lastReq: [], nonce: req.reqBody.nonce, flags, authtime, endtime, srealm: REALM, sname };
    // RFC 4120 7.5.1 key usages: 3 (AS-REP enc-part), 8 (TGS-REP enc-part, TGT session key).
    const encPart = { etype: replyKey.enctype, cipher: encrypt(replyKey, as ? 3 : 8, as ? encodeEncASRepPart(part) : encodeEncTGSRepPart(part)) };
    return as ? encodeAsRep({ crealm: REALM, cname, ticket, encPart }) : encodeTgsRep({ crealm: REALM, cname, ticket, encPart });
  };
  return async (realm: string, bytes: Uint8Array): Promise<Uint8Array> => {
    if (bytes[0] === 0x6a) {
      const req = decodeAsReq(bytes);
      if (realm !== REALM || req.reqBody.cname?.nameString.join('/') !== USER) return krbError(KDC_ERR_C_PRINCIPAL_UNKNOWN);
      return issue(req, true, userKey, tgtKey, 1);
    }
    const req = decodeTgsReq(bytes);
    const ap = decodeApReq(req.padata!.find((p) => p.padataType === 1)!.padataValue);
    const tgt = decodeEncTicketPart(decrypt(tgtKey, 2, ap.ticket.encPart.cipher));
    if (req.reqBody.sname?.nameString.join('/') !== SPN) return krbError(KDC_ERR_S_PRINCIPAL_UNKNOWN);
    return issue(req, false, { enctype: tgt.key.keytype, keyvalue: Uint8Array.from(tgt.key.keyvalue) }, serviceKey, 3, serviceAuthData);
  };
}

// ---- the world -----------------------------------------------------------------------------------

/** Which initiator credential: Negotiate that can only do NTLM, or Negotiate with Kerberos first. */
export type Who = 'ntlm' | 'kerberos';

export interface World {
  host: LsaHost;
  sspi: SecurityFunctionTable;
  /** Inbound Negotiate (Kerberos and NTLM) and inbound NTLM. */
  negotiateServer: Credentials;
  ntlmServer: Credentials;
  /** Outbound Negotiate: 'ntlm' as EXAMPLE\alice (the KDC does not know it), 'kerberos' as alice@EXAMPLE.TEST. */
  clients: Record<Who, Credentials>;
  /** Outbound NTLM (raw NTLM, and what the NTLM HTTP scheme uses) and outbound Kerberos (raw AP-REQ). */
  ntlmClient: Credentials;
  kerberosClient: Credentials;
  /** Who the acceptor must report after a handshake with each initiator, and over which package. */
  expected: Record<Who, { name: string; pkg: string }>;
  /** Faults the LSA saw inside packages (exceptions that were not SspiError). */
  faults: string[];
  dir: string;
  /** The key of HTTP/web.example.test: another LSA's Kerberos reaches the same realm with inProcessKdc(serviceKey). */
  serviceKey: KerberosKey;
}

let world: Promise<World> | null = null;

/** The shared world (created once per process). */
export function getWorld(): Promise<World> {
  world ??= (async () => {
    const faults: string[] = [];
    const dir = mkdtempSync(join(tmpdir(), 'tslsa-negofuzz-'));
    const serviceKey = randomToKey(AES256, crypto.getRandomValues(new Uint8Array(32)));
    const keytab = join(dir, 'http.keytab');
    writeKeytabFile(keytab, [{ principal: { realm: REALM, components: SPN.split('/'), nameType: 2 }, timestamp: 0, kvno: 3, kvno8: 3, key: serviceKey }]);
    const krb5Conf = parseKrb5Conf(`[libdefaults]\n default_realm = ${REALM}\n[domain_realm]\n .example.test = ${REALM}\n`);
    // No lockout: the properties send thousands of wrong responses for the same account. The
    // Kerberos initiator's NTLM half logs on as EXAMPLE.TEST\alice, so the store knows both.
    const store = new MemoryAccountStore({ lockout: { threshold: 0 } });
    await store.add({ user: USER, domain: DOMAIN, ntHash: NTOWFv1(PASSWORD) });
    await store.add({ user: USER, domain: REALM, ntHash: NTOWFv1(PASSWORD) });
    const host = await createLsa({
      domainName: DOMAIN,
      packages: [
        negotiatePackage(),
        kerberosPackage({ krb5Conf, keytab, kdcSend: inProcessKdc(serviceKey), env: {}, delegatedCcacheDir: dir }),
        ntlmPackage(),
        msv1_0Package({ store }),
      ],
      onPackageFault: (pkg, entry, error) => faults.push(`${pkg}.${entry}: ${(error as Error)?.stack ?? String(error)}`),
    });
    const sspi = host.sspi();
    const out = (pkg: string, domain: string) => Credentials.acquire(sspi, { package: pkg, use: 'outbound', authData: { User: USER, Domain: domain, Password: PASSWORD } });
    const w: World = {
      host,
      sspi,
      negotiateServer: await Credentials.acquire(sspi, { package: 'Negotiate', use: 'inbound' }),
      ntlmServer: await Credentials.acquire(sspi, { package: 'NTLM', use: 'inbound' }),
      clients: { ntlm: await out('Negotiate', DOMAIN), kerberos: await out('Negotiate', REALM) },
      ntlmClient: await out('NTLM', DOMAIN),
      kerberosClient: await out('Kerberos', REALM),
      expected: { ntlm: { name: `${DOMAIN}\\${USER}`, pkg: 'NTLM' }, kerberos: { name: `${USER}@${REALM}`, pkg: 'Kerberos' } },
      faults,
      dir,
      serviceKey,
    };
    return w;
  })();
  return world;
}

export async function closeWorld(): Promise<void> {
  await closeHttp();
  if (!world) return;
  const w = await world;
  world = null;
  for (const c of [w.negotiateServer, w.ntlmServer, w.clients.ntlm, w.clients.kerberos, w.ntlmClient, w.kerberosClient]) await c.free();
  await w.host.shutdown();
  rmSync(w.dir, { recursive: true, force: true });
}

/** A status that the API may return: defined, and not the mark of a fault inside a package. */
export function assertDefined(w: World, status: Status, where: string): void {
  const s = status >>> 0;
  assert.ok(SEC_STATUSES.has(s), `${where}: ${statusHex(s)} is not a SECURITY_STATUS defined in status.ts`);
  assert.deepEqual(w.faults, [], `${where}: package fault`);
  assert.notEqual(s, SEC_E_INTERNAL_ERROR, `${where}: SEC_E_INTERNAL_ERROR (a fault inside the package)`);
}

// ---- raw SSPI legs -------------------------------------------------------------------------------

export interface Leg {
  status: number;
  ctx: SecHandle | null;
  token: Uint8Array;
}

const ISC_FLAGS = ISC_REQ.ALLOCATE_MEMORY | ISC_REQ.CONFIDENTIALITY | ISC_REQ.INTEGRITY | ISC_REQ.MUTUAL_AUTH;
const ASC_FLAGS = ASC_REQ.ALLOCATE_MEMORY | ASC_REQ.CONFIDENTIALITY | ASC_REQ.INTEGRITY;

/** Contexts made during one property run, deleted afterwards. */
export class Session extends SspiSession<World> {
  async accept(cred: Credentials, ctx: SecHandle | null, token: Uint8Array | null): Promise<Leg> {
    const out = secBufferDesc(secBuffer(SECBUFFER.TOKEN, null));
    const input = token ? secBufferDesc(secBuffer(SECBUFFER.TOKEN, token.slice())) : null;
    const r = await this.w.sspi.AcceptSecurityContext(cred.handle, ctx, input, ASC_FLAGS, SECURITY_NATIVE_DREP, null, out);
    const status = r.status >>> 0;
    assertDefined(this.w, status, 'AcceptSecurityContext');
    return { status, ctx: this.track(r.phNewContext) ?? ctx, token: bufferBytes(out.pBuffers[0]!).slice() };
  }

  async init(cred: Credentials, ctx: SecHandle | null, token: Uint8Array | null): Promise<Leg> {
    const out = secBufferDesc(secBuffer(SECBUFFER.TOKEN, null));
    const input = token ? secBufferDesc(secBuffer(SECBUFFER.TOKEN, token.slice())) : null;
    const r = await this.w.sspi.InitializeSecurityContext(cred.handle, ctx, SPN, ISC_FLAGS, 0, SECURITY_NATIVE_DREP, input, 0, null, out);
    const status = r.status >>> 0;
    assertDefined(this.w, status, 'InitializeSecurityContext');
    return { status, ctx: this.track(r.phNewContext) ?? ctx, token: bufferBytes(out.pBuffers[0]!).slice() };
  }

  /** The client name and the package of an established context. */
  async identity(ctx: SecHandle): Promise<{ name: string; pkg: string }> {
    const names = await this.w.sspi.QueryContextAttributes(ctx, SECPKG_ATTR.NAMES);
    const info = await this.w.sspi.QueryContextAttributes(ctx, SECPKG_ATTR.PACKAGE_INFO);
    assertDefined(this.w, names.status, 'QueryContextAttributes(NAMES)');
    assertDefined(this.w, info.status, 'QueryContextAttributes(PACKAGE_INFO)');
    return { name: (names.pBuffer as { sUserName?: string } | null)?.sUserName ?? '', pkg: (info.pBuffer as { PackageInfo?: { Name?: string } } | null)?.PackageInfo?.Name ?? '' };
  }
}

/** Run `fn` in a session whose contexts are deleted afterwards. */
export async function inSession<T>(fn: (s: Session) => Promise<T>): Promise<T> {
  const w = await getWorld();
  // A fault belongs to the run that caused it: the next run (a shrink step) starts clean.
  w.faults.length = 0;
  return withSession(new Session(w), fn);
}

// ---- mutations of SPNEGO tokens ------------------------------------------------------------------

function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A DER element as a tree, for mutations that keep every length right (X.690 8.1). */
interface Der {
  tag: number;
  children: Der[] | null;
  content: Uint8Array;
}

/** Walks well-formed DER; null where it is not (then only byte mutations apply). */
function derTree(b: Uint8Array): Der[] | null {
  const out: Der[] = [];
  let p = 0;
  while (p < b.length) {
    const tag = b[p++]!;
    if ((tag & 0x1f) === 0x1f || p >= b.length) return null;
    let len = b[p++]!;
    if (len & 0x80) {
      const n = len & 0x7f;
      if (n === 0 || n > 3 || p + n > b.length) return null;
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + b[p++]!;
    }
    if (p + len > b.length) return null;
    const content = b.subarray(p, p + len);
    p += len;
    out.push({ tag, content, children: tag & 0x20 ? derTree(content) : null });
  }
  return out;
}

function derHeader(tag: number, len: number): Uint8Array {
  if (len < 0x80) return Uint8Array.of(tag, len);
  const octets: number[] = [];
  for (let v = len; v > 0; v = Math.floor(v / 256)) octets.unshift(v & 0xff);
  return Uint8Array.of(tag, 0x80 | octets.length, ...octets);
}

function derBytes(nodes: Der[]): Uint8Array {
  return concatBytes(
    ...nodes.map((n) => {
      const content = n.children ? derBytes(n.children) : n.content;
      return concatBytes(derHeader(n.tag, content.length), content);
    }),
  );
}

/** Every node in document order, with the list that holds it. */
function derNodes(nodes: Der[], out: Array<{ list: Der[]; index: number }> = []): Array<{ list: Der[]; index: number }> {
  nodes.forEach((n, index) => {
    out.push({ list: nodes, index });
    if (n.children) derNodes(n.children, out);
  });
  return out;
}

export type TreeMutation =
  | { kind: 'drop'; node: number }
  | { kind: 'duplicate'; node: number }
  | { kind: 'swapNext'; node: number }
  | { kind: 'retag'; node: number; tag: number }
  /** New content for a primitive element (an OID, an ENUMERATED, an OCTET STRING...). */
  | { kind: 'content'; node: number; bytes: Uint8Array }
  /** A length octet that disagrees with the content: non-minimal, indefinite, too long or short. */
  | { kind: 'badLength'; node: number; form: 'nonMinimal' | 'indefinite' | 'plus' | 'minus' | 'huge' };

const INTERESTING_TAGS = [0x30, 0x31, 0x60, 0x6e, 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0x04, 0x06, 0x0a, 0x02, 0x03, 0x1b, 0x05, 0x01, 0x24];

export const treeMutationArb: fc.Arbitrary<TreeMutation> = fc.oneof(
  fc.record({ kind: fc.constant('drop' as const), node: fc.nat() }),
  fc.record({ kind: fc.constant('duplicate' as const), node: fc.nat() }),
  fc.record({ kind: fc.constant('swapNext' as const), node: fc.nat() }),
  fc.record({ kind: fc.constant('retag' as const), node: fc.nat(), tag: fc.oneof(fc.constantFrom(...INTERESTING_TAGS), fc.integer({ min: 0, max: 255 })) }),
  fc.record({
    kind: fc.constant('content' as const),
    node: fc.nat(),
    bytes: fc.oneof(
      fc.uint8Array({ maxLength: 12, size: 'max' }),
      // ENUMERATED/INTEGER edge values, OID edge encodings
      fc.constantFrom(Uint8Array.of(), Uint8Array.of(0), Uint8Array.of(4), Uint8Array.of(0xff), Uint8Array.of(0, 1), Uint8Array.of(0x80), Uint8Array.of(0x2b, 0x80, 1), Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f)),
    ),
  }),
  fc.record({ kind: fc.constant('badLength' as const), node: fc.nat(), form: fc.constantFrom('nonMinimal' as const, 'indefinite' as const, 'plus' as const, 'minus' as const, 'huge' as const) }),
);

export function mutateTree(token: Uint8Array, m: TreeMutation): Uint8Array {
  const tree = derTree(token);
  if (!tree || !tree.length) return token;
  const all = derNodes(tree);
  const { list, index } = all[m.node % all.length]!;
  const n = list[index]!;
  switch (m.kind) {
    case 'drop':
      list.splice(index, 1);
      break;
    case 'duplicate':
      list.splice(index, 0, { ...n });
      break;
    case 'swapNext':
      if (index + 1 < list.length) [list[index], list[index + 1]] = [list[index + 1]!, n];
      break;
    case 'retag':
      list[index] = { ...n, tag: m.tag, children: m.tag & 0x20 ? n.children ?? derTree(n.content) : null, content: n.children ? derBytes(n.children) : n.content };
      break;
    case 'content':
      list[index] = { ...n, children: null, content: m.bytes };
      break;
    case 'badLength': {
      // Serialize the element by hand with the wrong length, then its parents around it as content.
      const content = n.children ? derBytes(n.children) : n.content;
      const len = content.length;
      const header =
        m.form === 'nonMinimal' ? Uint8Array.of(n.tag, 0x82, len >> 8, len & 0xff)
        : m.form === 'indefinite' ? Uint8Array.of(n.tag, 0x80)
        : m.form === 'huge' ? Uint8Array.of(n.tag, 0x84, 0xff, 0xff, 0xff, 0xf0)
        : derHeader(n.tag, Math.max(0, len + (m.form === 'plus' ? 1 : -1)));
      list[index] = { tag: -1, children: null, content: concatBytes(header, content) };
      break;
    }
  }
  return derBytesRaw(tree);
}

/** derBytes, where tag -1 marks bytes spliced in as they are. */
function derBytesRaw(nodes: Der[]): Uint8Array {
  return concatBytes(
    ...nodes.map((n) => {
      if (n.tag < 0) return n.content;
      const content = n.children ? derBytesRaw(n.children) : n.content;
      return concatBytes(derHeader(n.tag, content.length), content);
    }),
  );
}

/** A dotted OID: the ones that matter to Negotiate, and arbitrary valid ones. */
export const oidArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(NTLMSSP_MECH_OID, KRB5_MECH_OID, MS_KRB5_MECH_OID, SPNEGO_MECH_OID, '1.2.840.113554.1.2.2.3', '1.3.6.1.4.1.311.2.2.30', '1.2.3.4'),
  fc
    .tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 39 }), fc.array(fc.oneof(fc.nat(200), fc.nat(), fc.constant(2 ** 53 - 1)), { maxLength: 8 }))
    .map(([a, b, rest]) => [a, b, ...rest].join('.')),
);

/** A change of one SPNEGO field, written back with our encoder (so the DER stays valid). */
export type FieldEdit =
  | { f: 'mechTypes'; op: 'drop' | 'swap' | 'prepend' | 'append' | 'replace' | 'clear'; index: number; oid: string }
  /** mechToken / responseToken: dropped, empty, replaced by `bytes`, or changed by `m`. */
  | { f: 'token'; op: 'drop' | 'empty' | 'replace' | 'bytes'; bytes: Uint8Array; m: ByteMutation }
  | { f: 'mechListMIC'; op: 'drop' | 'replace' | 'bytes'; bytes: Uint8Array; m: ByteMutation }
  | { f: 'negState'; value: number | undefined }
  | { f: 'supportedMech'; oid: string | undefined }
  | { f: 'reqFlags'; value: number | undefined }
  | { f: 'negHints'; hints: NegHints | undefined }
  /** The other CHOICE: a NegTokenInit's fields sent as a NegTokenResp and the reverse. */
  | { f: 'kind' };

const negHintsArb: fc.Arbitrary<NegHints> = fc.record(
  { hintName: fc.oneof(fc.constant('not_defined_in_RFC4178@please_ignore'), fc.string({ maxLength: 40, size: 'max' })), hintAddress: fc.uint8Array({ maxLength: 16, size: 'max' }) },
  { requiredKeys: [] },
);

export const fieldEditArb: fc.Arbitrary<FieldEdit> = fc.oneof(
  fc.record({ f: fc.constant('mechTypes' as const), op: fc.constantFrom('drop' as const, 'swap' as const, 'prepend' as const, 'append' as const, 'replace' as const, 'clear' as const), index: fc.nat(), oid: oidArb }),
  fc.record({ f: fc.constant('token' as const), op: fc.constantFrom('drop' as const, 'empty' as const, 'replace' as const, 'bytes' as const), bytes: fc.uint8Array({ maxLength: 64, size: 'max' }), m: byteMutationArb }),
  fc.record({ f: fc.constant('mechListMIC' as const), op: fc.constantFrom('drop' as const, 'replace' as const, 'bytes' as const), bytes: fc.uint8Array({ maxLength: 32, size: 'max' }), m: byteMutationArb }),
  fc.record({ f: fc.constant('negState' as const), value: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }) }),
  fc.record({ f: fc.constant('supportedMech' as const), oid: fc.option(oidArb, { nil: undefined }) }),
  fc.record({ f: fc.constant('reqFlags' as const), value: fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }) }),
  fc.record({ f: fc.constant('negHints' as const), hints: fc.option(negHintsArb, { nil: undefined }) }),
  fc.constant({ f: 'kind' as const }),
);

function initFields(t: NegTokenInit): NegTokenInitFields {
  return {
    mechTypes: t.mechTypes,
    ...(t.reqFlags !== undefined ? { reqFlags: t.reqFlags } : {}),
    ...(t.mechToken ? { mechToken: t.mechToken } : {}),
    ...(t.negHints ? { negHints: t.negHints } : {}),
    ...(t.mechListMIC ? { mechListMIC: t.mechListMIC } : {}),
  };
}

/** Write a token back in the framing it came in (an initial token is GSS-framed, a NegTokenResp bare). */
function encodeToken(t: NegotiationToken): Uint8Array {
  if (t.kind === 'init') return encodeNegTokenInit(initFields(t));
  const { kind: _k, ...rest } = t;
  return encodeNegTokenResp(rest);
}

function editBytes(op: 'drop' | 'empty' | 'replace' | 'bytes', old: Uint8Array | undefined, bytes: Uint8Array, m: ByteMutation): Uint8Array | undefined {
  if (op === 'drop') return undefined;
  if (op === 'empty') return new Uint8Array(0);
  if (op === 'replace') return bytes;
  return mutateBytes(old ?? bytes, m);
}

export function editField(token: Uint8Array, e: FieldEdit): Uint8Array {
  let t: NegotiationToken;
  try {
    t = parseNegotiationToken(token);
  } catch {
    return token;
  }
  const list = t.kind === 'init' ? [...t.mechTypes] : [];
  switch (e.f) {
    case 'mechTypes': {
      if (t.kind !== 'init') return token;
      const i = list.length ? e.index % list.length : 0;
      if (e.op === 'drop') list.splice(i, 1);
      else if (e.op === 'swap' && list.length > 1) [list[i], list[(i + 1) % list.length]] = [list[(i + 1) % list.length]!, list[i]!];
      else if (e.op === 'prepend') list.unshift(e.oid);
      else if (e.op === 'append') list.push(e.oid);
      else if (e.op === 'replace') list[i] = e.oid;
      else if (e.op === 'clear') list.length = 0;
      return encodeToken({ ...t, mechTypes: list });
    }
    case 'token':
      if (t.kind === 'init') {
        const mechToken = editBytes(e.op, t.mechToken, e.bytes, e.m);
        const { mechToken: _old, ...rest } = t;
        return encodeToken(mechToken ? { ...rest, mechToken } : rest);
      } else {
        const responseToken = editBytes(e.op, t.responseToken, e.bytes, e.m);
        const { responseToken: _old, ...rest } = t;
        return encodeToken(responseToken ? { ...rest, responseToken } : rest);
      }
    case 'mechListMIC': {
      const mechListMIC = editBytes(e.op, t.mechListMIC, e.bytes, e.m);
      const { mechListMIC: _old, ...rest } = t;
      return encodeToken(mechListMIC ? { ...rest, mechListMIC } : rest);
    }
    case 'negState': {
      if (t.kind !== 'resp') return token;
      const { negState: _old, ...rest } = t;
      return encodeNegTokenResp(e.value === undefined ? rest : { ...rest, negState: e.value as 0 });
    }
    case 'supportedMech': {
      if (t.kind !== 'resp') return token;
      const { supportedMech: _old, ...rest } = t;
      return encodeToken(e.oid === undefined ? rest : { ...rest, supportedMech: e.oid });
    }
    case 'reqFlags': {
      if (t.kind !== 'init') return token;
      const { reqFlags: _old, ...rest } = t;
      return encodeToken(e.value === undefined ? rest : { ...rest, reqFlags: e.value });
    }
    case 'negHints': {
      if (t.kind !== 'init') return token;
      const { negHints: _old, ...rest } = t;
      return encodeToken(e.hints === undefined ? rest : { ...rest, negHints: e.hints });
    }
    case 'kind':
      if (t.kind === 'init') return encodeNegTokenResp({ ...(t.mechToken ? { responseToken: t.mechToken } : {}), ...(t.mechListMIC ? { mechListMIC: t.mechListMIC } : {}) });
      return encodeNegTokenInit({ mechTypes: t.supportedMech ? [t.supportedMech] : [], ...(t.responseToken ? { mechToken: t.responseToken } : {}), ...(t.mechListMIC ? { mechListMIC: t.mechListMIC } : {}) });
  }
}

/** Any change in transit: raw bytes, DER structure, one SPNEGO field, or the NTLM message inside. */
export type SpnegoMutation =
  | { kind: 'bytes'; m: ByteMutation }
  | { kind: 'tree'; m: TreeMutation }
  | { kind: 'field'; m: FieldEdit }
  /** Several fields at once (e.g. another supportedMech and no responseToken: a forced mechanism switch). */
  | { kind: 'fields'; m: FieldEdit[] }
  | { kind: 'ntlm'; m: NtlmMutation };

export const spnegoMutationArb: fc.Arbitrary<SpnegoMutation> = fc.oneof(
  { weight: 2, arbitrary: byteMutationArb.map((m) => ({ kind: 'bytes' as const, m })) },
  { weight: 2, arbitrary: treeMutationArb.map((m) => ({ kind: 'tree' as const, m })) },
  { weight: 3, arbitrary: fieldEditArb.map((m) => ({ kind: 'field' as const, m })) },
  { weight: 1, arbitrary: fc.array(fieldEditArb, { minLength: 2, maxLength: 3 }).map((m) => ({ kind: 'fields' as const, m })) },
  { weight: 2, arbitrary: ntlmMutationArb.map((m) => ({ kind: 'ntlm' as const, m })) },
);

/** Apply a mutation; the result may equal the input (the caller then has nothing to assert). */
export function mutateSpnego(token: Uint8Array, m: SpnegoMutation): Uint8Array {
  switch (m.kind) {
    case 'bytes':
      return mutateBytes(token, m.m);
    case 'tree':
      return mutateTree(token, m.m);
    case 'field':
      return editField(token, m.m);
    case 'fields':
      return m.m.reduce(editField, token);
    case 'ntlm': {
      // The NTLM message inside (mechToken / responseToken), changed with the NTLM mutator.
      let t: NegotiationToken;
      try {
        t = parseNegotiationToken(token);
      } catch {
        return token;
      }
      const inner = t.kind === 'init' ? t.mechToken : t.responseToken;
      const type = inner && inner.length >= 12 ? inner[8]! : 0;
      if (!inner || (type !== 1 && type !== 2 && type !== 3)) return token;
      let bad: Uint8Array;
      try {
        bad = mutateNtlm(inner, type, m.m);
      } catch {
        return token;
      }
      return encodeToken(t.kind === 'init' ? { ...t, mechToken: bad } : { ...t, responseToken: bad });
    }
  }
}

const hex = (b: Uint8Array | undefined): string => (b ? Buffer.from(b).toString('hex') : '');
const same = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * What the MICs protect in an SPNEGO(NTLM) leg: mechTypes as sent and the NTLM message (NTLM's MIC),
 * and a NegTokenResp's mechListMIC. Two legs with the same key may both complete a handshake.
 */
export function coveredKey(token: Uint8Array): string {
  let t: NegotiationToken;
  try {
    t = parseNegotiationToken(token);
  } catch {
    return `unparseable:${hex(token)}`;
  }
  return t.kind === 'init' ? `init|${hex(t.mechTypesDer)}|${hex(t.mechToken)}` : `resp|${hex(t.responseToken)}|${hex(t.mechListMIC)}`;
}

/**
 * How a changed leg differs in what the MICs protect: not at all, only by bytes after an intact
 * mechListMIC (the NTLM signature is its first 16 bytes, MS-NLMP 2.2.2.9; see the property on
 * trailing bytes), or in a protected part.
 */
export function coveredChange(original: Uint8Array, sent: Uint8Array): 'none' | 'mic-trailing' | 'protected' {
  const a = coveredKey(original);
  const b = coveredKey(sent);
  if (a === b) return 'none';
  try {
    const o = parseNegotiationToken(original);
    const n = parseNegotiationToken(sent);
    if (o.kind === 'resp' && n.kind === 'resp' && o.mechListMIC && n.mechListMIC && n.mechListMIC.length > o.mechListMIC.length) {
      const head = n.mechListMIC.subarray(0, o.mechListMIC.length);
      if (same(head, o.mechListMIC) && hex(o.responseToken) === hex(n.responseToken)) return 'mic-trailing';
    }
  } catch {
    // one of them is no SPNEGO token: a protected change
  }
  return 'protected';
}

// ---- SPNEGO-shaped input -------------------------------------------------------------------------

interface RandomDer {
  tag: number;
  children?: RandomDer[];
  content?: Uint8Array;
}

const randomDer: fc.Arbitrary<RandomDer> = fc.letrec<{ node: RandomDer; leaf: RandomDer; inner: RandomDer }>((tie) => ({
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, tie('leaf'), tie('inner')),
  leaf: fc.record({
    tag: fc.constantFrom(0x04, 0x06, 0x0a, 0x03, 0x1b, 0x02, 0x05, 0x01, 0x30),
    content: fc.oneof(
      fc.uint8Array({ maxLength: 24, size: 'max' }),
      // a valid mechanism OID or ContextFlags content now and then
      fc.constantFrom(Uint8Array.of(0x2b, 6, 1, 4, 1, 0x82, 0x37, 2, 2, 10), Uint8Array.of(0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 1, 2, 2), Uint8Array.of(1, 0x7e), Uint8Array.of(0)),
    ),
  }),
  inner: fc.record({ tag: fc.constantFrom(0x30, 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5), children: fc.array(tie('node'), { maxLength: 5 }) }),
})).node;

function randomDerBytes(n: RandomDer): Uint8Array {
  const content = n.children ? concatBytes(...n.children.map(randomDerBytes)) : n.content ?? new Uint8Array(0);
  return concatBytes(derHeader(n.tag, content.length), content);
}

const SPNEGO_OID_TLV = Uint8Array.of(0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02);

/** Random bytes, random DER trees as NegotiationTokens, GSS-framed ones, and NTLMSSP-looking ones. */
export const spnegoishBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 200, size: 'max' }),
  fc.tuple(fc.constantFrom(0xa0, 0xa1), fc.array(randomDer, { maxLength: 5 })).map(([tag, kids]) => randomDerBytes({ tag, children: [{ tag: 0x30, children: kids }] })),
  fc.tuple(fc.constantFrom(0xa0, 0xa1), fc.array(randomDer, { maxLength: 5 })).map(([tag, kids]) => {
    const inner = randomDerBytes({ tag, children: [{ tag: 0x30, children: kids }] });
    return randomDerBytes({ tag: 0x60, content: concatBytes(SPNEGO_OID_TLV, inner) });
  }),
  fc.uint8Array({ maxLength: 120, size: 'max' }).map((rest) => randomDerBytes({ tag: 0x60, content: concatBytes(SPNEGO_OID_TLV, rest) })),
  fc.tuple(fc.constantFrom(1, 2, 3), fc.uint8Array({ maxLength: 120, size: 'max' })).map(([type, rest]) => concatBytes(Buffer.from('NTLMSSP\0', 'latin1'), Uint8Array.of(type, 0, 0, 0), rest)),
);

// ---- handshakes with a leg changed in transit ----------------------------------------------------

/** What an attacker on the wire does to one leg. */
export type LegMutation =
  | SpnegoMutation
  /** The mechListMIC the other side sent last, put into this leg (a reflected MIC). */
  | { kind: 'reflectMic' }
  /** An earlier leg of this handshake, sent again in place of this one. */
  | { kind: 'replay'; pick: number }
  /** The same leg of another, completed handshake between the same parties. */
  | { kind: 'splice' }
  /** Something else entirely (random or SPNEGO-shaped bytes). */
  | { kind: 'random'; bytes: Uint8Array };

export const legMutationArb: fc.Arbitrary<LegMutation> = fc.oneof(
  { weight: 12, arbitrary: spnegoMutationArb },
  { weight: 1, arbitrary: fc.constant({ kind: 'reflectMic' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('replay' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'splice' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('random' as const), bytes: spnegoishBytes }) },
);

export interface SentLeg {
  from: 'client' | 'server';
  original: Uint8Array;
  sent: Uint8Array;
}

export interface HandshakeResult {
  who: Who;
  legs: SentLeg[];
  clientStatus: number | null;
  serverStatus: number | null;
  client: SecHandle | null;
  server: SecHandle | null;
  /** The changed leg: whether what the MICs protect changed, and whether the acceptor had already finished. */
  changed: { leg: number; from: 'client' | 'server'; covered: boolean; micTrailing: boolean; serverDoneBefore: boolean; mutation: LegMutation } | null;
}

const isError = (s: number | null): boolean => s !== null && (s | 0) < 0;

export interface HandshakeOptions {
  /** The acceptor speaks first (an empty first leg gives MS-SPNG's NegTokenInit2). */
  serverInitiated?: boolean;
  tamper?: { leg: number; mutation: LegMutation; only?: 'client' | 'server' };
  /** Tokens of a finished handshake, for 'splice'. */
  donor?: SentLeg[];
}

function lastMic(legs: SentLeg[], from: 'client' | 'server'): Uint8Array | undefined {
  for (let i = legs.length - 1; i >= 0; i--) {
    if (legs[i]!.from !== from) continue;
    try {
      const t = parseNegotiationToken(legs[i]!.sent);
      if (t.mechListMIC) return t.mechListMIC;
    } catch {
      // not SPNEGO
    }
  }
  return undefined;
}

function applyLegMutation(token: Uint8Array, m: LegMutation, from: 'client' | 'server', legs: SentLeg[], leg: number, donor: SentLeg[] | undefined): Uint8Array {
  switch (m.kind) {
    case 'reflectMic': {
      const mic = lastMic(legs, from === 'client' ? 'server' : 'client');
      return mic ? editField(token, { f: 'mechListMIC', op: 'replace', bytes: mic, m: { kind: 'truncate', to: 0 } }) : token;
    }
    case 'replay':
      return legs.length ? legs[m.pick % legs.length]!.sent.slice() : token;
    case 'splice':
      return donor?.[leg]?.from === from ? donor[leg]!.sent.slice() : token;
    case 'random':
      return m.bytes;
    default:
      return mutateSpnego(token, m);
  }
}

/**
 * One Negotiate handshake between `who`'s initiator and the Negotiate acceptor, each token passing
 * through `tamper`. Stops at the first failure (after the initiator has read a reject token).
 */
export async function handshake(s: Session, who: Who, o: HandshakeOptions = {}): Promise<HandshakeResult> {
  const w = s.w;
  const cred = w.clients[who];
  const legs: SentLeg[] = [];
  const r: HandshakeResult = { who, legs, clientStatus: null, serverStatus: null, client: null, server: null, changed: null };
  const send = (from: 'client' | 'server', token: Uint8Array): Uint8Array => {
    const leg = legs.length;
    let sent = token;
    const t = o.tamper;
    if (t && t.leg === leg && (!t.only || t.only === from)) {
      sent = applyLegMutation(token, t.mutation, from, legs, leg, o.donor);
      if (!same(sent, token)) {
        // The hint of a server-initiated exchange is read by no one (our initiator starts afresh).
        const hint = o.serverInitiated && leg === 0;
        const change = hint ? 'none' : coveredChange(token, sent);
        r.changed = { leg, from, covered: change === 'protected', micTrailing: change === 'mic-trailing', serverDoneBefore: r.serverStatus === SEC_E_OK, mutation: t.mutation };
      }
    }
    legs.push({ from, original: token, sent });
    return sent;
  };

  let hint: Uint8Array | null = null;
  if (o.serverInitiated) {
    const h = await s.accept(w.negotiateServer, null, new Uint8Array(0));
    r.serverStatus = h.status;
    r.server = h.ctx;
    assert.equal(h.status, SEC_I_CONTINUE_NEEDED, 'NegTokenInit2');
    hint = send('server', h.token);
  }
  const c = await s.init(cred, null, hint);
  r.clientStatus = c.status;
  r.client = c.ctx;
  if (c.status !== SEC_I_CONTINUE_NEEDED) return r;
  let toServer = c.token;
  for (let i = 0; i < 6; i++) {
    const a = await s.accept(w.negotiateServer, r.server, send('client', toServer));
    r.serverStatus = a.status;
    r.server = a.ctx ?? r.server;
    if (!a.token.length) break;
    if (r.clientStatus === SEC_E_OK) break;
    const b = await s.init(cred, r.client, send('server', a.token));
    r.clientStatus = b.status;
    r.client = b.ctx ?? r.client;
    if (isError(a.status) || isError(b.status) || a.status === SEC_E_OK || !b.token.length) break;
    toServer = b.token;
  }
  return r;
}

/**
 * What must hold at the end of a handshake in which one leg may have changed: only alice, only
 * over the initiator's first choice, the initiator never done unless the acceptor is, and with
 * a changed protected field (see coveredKey) no completion at all.
 */
export async function assertHandshake(s: Session, r: HandshakeResult, where: string): Promise<void> {
  const want = s.w.expected[r.who];
  const what = `${where}: ${r.changed ? `after ${JSON.stringify(r.changed, bytesAsHex)}` : 'unchanged'}`;
  if (r.serverStatus === SEC_E_OK) assert.deepEqual(await s.identity(r.server!), want, `acceptor identity ${what}`);
  if (r.clientStatus === SEC_E_OK) {
    assert.equal((await s.identity(r.client!)).pkg, want.pkg, `initiator package ${what}`);
    assert.equal(r.serverStatus, SEC_E_OK, `the initiator completed, the acceptor did not (${statusName(r.serverStatus ?? 0)}) ${what}`);
  }
  const strict = r.changed?.covered && (r.who === 'ntlm' || r.changed.mutation.kind === 'splice');
  if (strict) {
    assert.notEqual(r.clientStatus, SEC_E_OK, `initiator completed ${what}`);
    if (!r.changed!.serverDoneBefore) assert.notEqual(r.serverStatus, SEC_E_OK, `acceptor completed ${what}`);
  }
}

/** JSON.stringify replacer: byte arrays as hex (short), so failures print readably. */
export function bytesAsHex(_k: string, v: unknown): unknown {
  if (v instanceof Uint8Array) return `hex:${hex(v)}`;
  return v;
}

/** An honest handshake still completes (nothing a changed leg did has broken the acceptor). */
async function assertStillServes(s: Session, who: Who): Promise<void> {
  const r = await handshake(s, who);
  assert.equal(r.serverStatus, SEC_E_OK, `a fresh ${who} handshake: acceptor ${statusName(r.serverStatus ?? 0)}`);
  assert.equal(r.clientStatus, SEC_E_OK, `a fresh ${who} handshake: initiator ${statusName(r.clientStatus ?? 0)}`);
  await assertHandshake(s, r, 'fresh handshake');
}

// ---- parked acceptor contexts (ExportPartialSecurityContext) ------------------------------------

/** The LSA's record around a package's state (src/sspi/api.ts), and Negotiate's state inside it. */
interface PartialRecord {
  version: number;
  side: number;
  pkg: string;
  inner: Uint8Array;
  nego: { version: number; bits: number; mechName: string; mechOid: string; mechTypesDer: Uint8Array; inner: Uint8Array } | null;
}

function readPartial(b: Uint8Array): PartialRecord {
  const rd = new PackedReader(b, 'test');
  const r: PartialRecord = { version: rd.u8(), side: rd.u8(), pkg: rd.text(), inner: rd.bytes(), nego: null };
  rd.end();
  if (r.pkg === 'Negotiate') {
    const n = new PackedReader(r.inner, 'test');
    r.nego = { version: n.u8(), bits: n.u8(), mechName: n.text(), mechOid: n.text(), mechTypesDer: n.bytes(), inner: n.bytes() };
    n.end();
  }
  return r;
}

function writePartial(r: PartialRecord): Uint8Array {
  const inner = r.nego
    ? new PackedWriter().u8(r.nego.version).u8(r.nego.bits).text(r.nego.mechName).text(r.nego.mechOid).bytes(r.nego.mechTypesDer).bytes(r.nego.inner).finish()
    : r.inner;
  return new PackedWriter().u8(r.version).u8(r.side).text(r.pkg).bytes(inner).finish();
}

/** A change to a parked record as a shared store (Redis) could hand it back. */
export type PartialMutation =
  | { at: 'bytes'; m: ByteMutation }
  | { at: 'lsa'; version: number | null; side: number | null; pkg: string | null }
  | { at: 'negotiate'; field: 'version' | 'bits'; value: number }
  | { at: 'negotiate'; field: 'mechName' | 'mechOid'; value: string }
  | { at: 'negotiate'; field: 'mechTypesDer'; value: Uint8Array }
  /** The package's own state (NTLM's parked CHALLENGE), changed or emptied. */
  | { at: 'inner'; m: ByteMutation | null }
  /** NTLM's expiry (an f64 of Unix ms, +Infinity without a context lifetime) set to an edge value. */
  | { at: 'ntlmExpiry'; value: number };

const smallText = fc.oneof(fc.constantFrom('', 'NTLM', 'ntlm', 'Kerberos', 'KERBEROS', 'Negotiate', 'Schannel', 'NTLM\0', 'é'), fc.string({ maxLength: 12, size: 'max' }));

export const partialMutationArb: fc.Arbitrary<PartialMutation> = fc.oneof(
  fc.record({ at: fc.constant('bytes' as const), m: byteMutationArb }),
  fc.record({ at: fc.constant('lsa' as const), version: fc.option(fc.constantFrom(0, 2, 255)), side: fc.option(fc.constantFrom(0, 1, 3, 255)), pkg: fc.option(smallText) }),
  fc.record({ at: fc.constant('negotiate' as const), field: fc.constantFrom('version' as const, 'bits' as const), value: fc.oneof(fc.integer({ min: 0, max: 15 }), fc.integer({ min: 0, max: 255 })) }),
  fc.record({ at: fc.constant('negotiate' as const), field: fc.constantFrom('mechName' as const, 'mechOid' as const), value: fc.oneof(smallText, oidArb) }),
  fc.record({
    at: fc.constant('negotiate' as const),
    field: fc.constant('mechTypesDer' as const),
    value: fc.oneof(fc.uint8Array({ maxLength: 40, size: 'max' }), fc.array(oidArb, { maxLength: 4 }).map((l) => encodeMechTypeList(l))),
  }),
  fc.record({ at: fc.constant('inner' as const), m: fc.option(byteMutationArb) }),
  fc.record({
    at: fc.constant('ntlmExpiry' as const),
    value: fc.oneof(fc.constantFrom(Infinity, -Infinity, NaN, 0, -1, 1, 8.64e15, 8.64e15 + 1, 1e300, Number.MAX_VALUE, Number.MIN_VALUE), fc.double()),
  }),
);

export function mutatePartial(packed: Uint8Array, m: PartialMutation): Uint8Array {
  if (m.at === 'bytes') return mutateBytes(packed, m.m);
  const r = readPartial(packed);
  if (m.at === 'lsa') {
    if (m.version !== null) r.version = m.version;
    if (m.side !== null) r.side = m.side;
    if (m.pkg !== null) r.pkg = m.pkg;
    // The package's bytes stay as they were: a renamed record carries the other package's state.
    return writePartial({ ...r, nego: null });
  }
  if (m.at === 'inner') {
    if (r.nego) r.nego.inner = m.m ? mutateBytes(r.nego.inner, m.m) : new Uint8Array(0);
    else r.inner = m.m ? mutateBytes(r.inner, m.m) : new Uint8Array(0);
    return writePartial(r);
  }
  if (m.at === 'ntlmExpiry') {
    // NTLM's state (src/packages/ntlm/package.ts ExportLsaModeContext): u8 version, u8 side,
    // u32 request flags, u8 datagram, then the expiry.
    const state = (r.nego ? r.nego.inner : r.inner).slice();
    if (state.length < 15) return packed;
    new DataView(state.buffer).setFloat64(7, m.value);
    if (r.nego) r.nego.inner = state;
    else r.inner = state;
    return writePartial(r);
  }
  if (!r.nego) return packed;
  switch (m.field) {
    case 'version':
    case 'bits':
      r.nego[m.field] = m.value;
      break;
    case 'mechName':
    case 'mechOid':
      r.nego[m.field] = m.value;
      break;
    case 'mechTypesDer':
      r.nego.mechTypesDer = m.value;
      break;
  }
  return writePartial(r);
}

export type PartialSeed = 'negotiate-ntlm' | 'negotiate-hint' | 'ntlm';

export interface Parked {
  packed: Uint8Array;
  /** The credential that parked it, and the initiator that continues. */
  server: Credentials;
  client: Credentials;
  clientCtx: SecHandle | null;
  /** The initiator's next token. */
  next: Uint8Array;
  expected: { name: string; pkg: string };
}

/** Start a handshake, park the acceptor's half (DELETE_OLD, as the HTTP server does) and return it. */
export async function park(s: Session, seed: PartialSeed, who: Who): Promise<Parked> {
  const w = s.w;
  const exportOf = async (ctx: SecHandle | null): Promise<Uint8Array> => {
    const r = await w.sspi.ExportPartialSecurityContext(ctx!, SECPKG_CONTEXT_EXPORT.DELETE_OLD);
    assert.equal(statusName(r.status), 'SEC_E_OK', `ExportPartialSecurityContext after ${seed}`);
    return r.pPackedContext!;
  };
  if (seed === 'negotiate-hint') {
    const h = await s.accept(w.negotiateServer, null, new Uint8Array(0));
    const packed = await exportOf(h.ctx);
    const c = await s.init(w.clients[who], null, h.token);
    return { packed, server: w.negotiateServer, client: w.clients[who], clientCtx: c.ctx, next: c.token, expected: w.expected[who] };
  }
  const [server, client] = seed === 'ntlm' ? [w.ntlmServer, w.ntlmClient] : [w.negotiateServer, w.clients.ntlm];
  const c0 = await s.init(client, null, null);
  const s0 = await s.accept(server, null, c0.token);
  assert.equal(s0.status, SEC_I_CONTINUE_NEEDED);
  const packed = await exportOf(s0.ctx);
  const c1 = await s.init(client, c0.ctx, s0.token);
  return { packed, server, client, clientCtx: c1.ctx, next: c1.token, expected: w.expected.ntlm };
}

// ---- the HTTP authenticator ----------------------------------------------------------------------

/** Unhandled rejections seen while the properties run (an HTTP handler's promise nobody awaited). */
export const rejections: unknown[] = [];
let watching = false;
function watchRejections(): void {
  if (watching) return;
  watching = true;
  process.on('unhandledRejection', (e) => rejections.push(e));
}

/** Let pending rejections surface, then insist there were none. */
async function assertNoRejection(where: string): Promise<void> {
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(rejections.map((e) => (e instanceof Error ? e.stack : String(e))), [], `${where}: unhandled rejection`);
}

/** Resolves with `p`, or fails the run when it takes longer than `ms` (a hang). */
async function deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** What the authenticator needs of a socket: an identity for its connection map, and 'close'. */
class FakeSocket extends EventEmitter {
  readonly encrypted = false;
  readonly remoteAddress = '127.0.0.1';
}

/** A ServerResponse that refuses what node:http refuses (headers after they were sent, two ends). */
class FakeResponse {
  headersSent = false;
  ended = false;
  statusCode = 200;
  readonly headers: Record<string, string | string[]> = {};

  setHeader(name: string, value: string | string[]): this {
    if (this.headersSent) throw Object.assign(new Error('Cannot set headers after they are sent'), { code: 'ERR_HTTP_HEADERS_SENT' });
    this.headers[name.toLowerCase()] = value;
    return this;
  }

  writeHead(status: number, headers?: Record<string, string | string[]>): this {
    if (this.headersSent) throw Object.assign(new Error('writeHead after the headers were sent'), { code: 'ERR_HTTP_HEADERS_SENT' });
    this.statusCode = status;
    for (const [k, v] of Object.entries(headers ?? {})) this.headers[k.toLowerCase()] = v;
    this.headersSent = true;
    return this;
  }

  end(_body?: string): this {
    if (this.ended) throw Object.assign(new Error('end() twice'), { code: 'ERR_STREAM_WRITE_AFTER_END' });
    this.headersSent = true;
    this.ended = true;
    return this;
  }
}

/** One answer of the server, however it travelled. */
export interface HttpReply {
  status: number;
  wwwAuthenticate: string[];
  setCookie: string[];
  identity: { name: string; package: string } | null;
}

/** A connection to the authenticator: fake req/res, or a keep-alive node:http client. */
interface Transport {
  send(authorization: string | undefined, cookie: string | null): Promise<HttpReply | 'refused-by-client'>;
  close(): Promise<void>;
  /** The authenticator keeps a connection's identity (not in cluster mode, its default). */
  persists: boolean;
}

/** Authenticators over a shared store: by default they keep no identity on a connection. */
const clusterAuthenticators = new WeakSet<Authenticator>();

const list = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

function fakeTransport(auth: Authenticator): Transport {
  const socket = new FakeSocket();
  return {
    persists: !clusterAuthenticators.has(auth),
    async send(authorization, cookie) {
      const headers: Record<string, string> = {};
      if (authorization !== undefined) headers.authorization = authorization;
      if (cookie) headers.cookie = `${HANDSHAKE_COOKIE}=${cookie}`;
      const req = { headers, socket, method: 'GET', url: '/' } as unknown as IncomingMessage;
      const res = new FakeResponse();
      const id = await deadline(auth.authenticate(req, res as unknown as ServerResponse), 5000, 'authenticate()');
      if (id) {
        assert.equal(res.ended, false, 'the authenticator ended a response it also authenticated');
        res.writeHead(200);
        res.end();
      } else {
        assert.equal(res.ended, true, 'authenticate() gave null without answering');
      }
      return { status: res.statusCode, wwwAuthenticate: list(res.headers['www-authenticate']), setCookie: list(res.headers['set-cookie']), identity: id ? { name: id.name, package: id.package } : null };
    },
    async close() {
      socket.emit('close');
    },
  };
}

/** A shared (cluster-mode) store in memory that can change what it hands back, as a tampered Redis would. */
class TamperStore implements HandshakeStore {
  readonly shared = true;
  tamper: PartialMutation | null = null;
  private readonly entries = new Map<string, { h: ParkedHandshake; timer: NodeJS.Timeout }>();

  async park(key: string, h: ParkedHandshake, ttlMs: number): Promise<void> {
    assert.ok(h.context instanceof Uint8Array, 'a shared store is handed bytes');
    await this.discard(key);
    const timer = setTimeout(() => void this.discard(key), Math.max(0, ttlMs));
    timer.unref();
    this.entries.set(key, { h: { ...h, context: h.context.slice() }, timer });
  }

  async take(key: string): Promise<ParkedHandshake | null> {
    const e = this.entries.get(key);
    if (!e) return null;
    this.entries.delete(key);
    clearTimeout(e.timer);
    const bytes = e.h.context as Uint8Array;
    let context = bytes;
    if (this.tamper) {
      try {
        context = mutatePartial(bytes, this.tamper);
      } catch {
        // not a record readPartial understands: only raw byte changes apply
      }
    }
    return { ...e.h, context };
  }

  async discard(key: string): Promise<void> {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    clearTimeout(e.timer);
  }

  async size(): Promise<number> {
    return this.entries.size;
  }

  async close(): Promise<void> {
    for (const k of [...this.entries.keys()]) await this.discard(k);
  }
}

interface Http {
  /** The first refusals `plain` reported since signOnOverHttp began (status names and reasons). */
  failures: AuthFailure[];
  plain: Authenticator;
  cluster: Authenticator;
  store: TamperStore;
  /** A node:http server in front of `plain`'s twin. */
  url: string;
  server: import('node:http').Server;
  real: Authenticator;
}

let http: Promise<Http> | null = null;

async function getHttp(): Promise<Http> {
  http ??= (async () => {
    watchRejections();
    const w = await getWorld();
    const store = new TamperStore();
    const h = { failures: [] as AuthFailure[] };
    const plain = createAuthenticator({ host: w.host, onFailure: (_req, f) => void (h.failures.length < 16 && h.failures.push(f)) });
    const cluster = createAuthenticator({ host: w.host, store });
    clusterAuthenticators.add(cluster);
    const real = createAuthenticator({ host: w.host });
    const { createServer } = await import('node:http');
    const server = createServer({ maxHeaderSize: 256 * 1024 }, (req, res) => {
      void real.authenticate(req, res).then((id) => {
        if (!id) return;
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ name: id.name, package: id.package }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    // Its requests hold the process while they run; the listener alone must not (a test file
    // that leaves it open would never exit).
    server.unref();
    const port = (server.address() as import('node:net').AddressInfo).port;
    return Object.assign(h, { plain, cluster, store, url: `http://127.0.0.1:${port}`, server, real });
  })();
  return http;
}

// ---- a proxy that answers CONNECT with whatever the property gives, then closes ----------------

interface ConnectPeer {
  port: number;
  answer: Buffer;
  close(): Promise<void>;
}

let connectPeer: Promise<ConnectPeer> | null = null;

function getConnectPeer(): Promise<ConnectPeer> {
  connectPeer ??= (async () => {
    const peer = { port: 0, answer: Buffer.alloc(0), close: async () => undefined } as ConnectPeer;
    const server = net.createServer((s) => {
      s.on('error', () => undefined);
      s.once('data', () => s.end(peer.answer));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    server.unref();
    peer.port = (server.address() as net.AddressInfo).port;
    peer.close = () => new Promise<void>((r) => server.close(() => r()));
    return peer;
  })();
  return connectPeer;
}

async function closeConnectPeer(): Promise<void> {
  if (!connectPeer) return;
  const p = await connectPeer;
  connectPeer = null;
  await p.close();
}

const connectFieldArb = fc.string({ unit: fc.constantFrom(...'NTLMNegotiate ,=+/AZaz09:-close'.split('')), maxLength: 80, size: 'max' });
const connectAnswerArb: fc.Arbitrary<Buffer> = fc.oneof(
  fc
    .tuple(
      fc.constantFrom('HTTP/1.1 407 Proxy Authentication Required', 'HTTP/1.1 200 Connection Established', 'HTTP/1.0 407', 'HTTP/1.1 502 Bad Gateway', 'HTTP/2 200', 'HTTP/1.1 4070 x'),
      fc.array(fc.tuple(fc.constantFrom('Proxy-Authenticate', 'Content-Length', 'Connection', 'Proxy-Connection', 'X'), connectFieldArb), { maxLength: 6, size: 'max' }),
      fc.uint8Array({ maxLength: 300, size: 'max' }),
    )
    .map(([status, fields, body]) => Buffer.concat([Buffer.from(`${status}\r\n${fields.map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`, 'latin1'), body])),
  fc.uint8Array({ maxLength: 600, size: 'max' }).map((b) => Buffer.from(b)),
);

async function closeHttp(): Promise<void> {
  await closeConnectPeer();
  if (!http) return;
  const h = await http;
  http = null;
  h.server.closeAllConnections();
  await new Promise<void>((r) => h.server.close(() => r()));
  for (const a of [h.plain, h.cluster, h.real]) await a.close();
  await h.store.close();
}

/** A keep-alive connection to the node:http server (a fresh agent: one socket, reused). */
async function realTransport(): Promise<Transport> {
  const { url } = await getHttp();
  const { Agent, request } = await import('node:http');
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  return {
    persists: true,
    send(authorization, cookie) {
      return deadline(
        new Promise<HttpReply | 'refused-by-client'>((resolve, reject) => {
          const headers: Record<string, string> = {};
          if (authorization !== undefined) headers.Authorization = authorization;
          if (cookie) headers.Cookie = `${HANDSHAKE_COOKIE}=${cookie}`;
          let req;
          try {
            req = request(url, { agent, headers }, (res) => {
              const chunks: Buffer[] = [];
              res.on('data', (c: Buffer) => chunks.push(c));
              res.on('error', reject);
              res.on('end', () => {
                const body = Buffer.concat(chunks).toString('utf8');
                const status = res.statusCode ?? 0;
                resolve({
                  status,
                  wwwAuthenticate: list(res.headers['www-authenticate']),
                  setCookie: list(res.headers['set-cookie']),
                  identity: status === 200 ? (JSON.parse(body) as { name: string; package: string }) : null,
                });
              });
            });
          } catch (e) {
            // node:http itself refuses some header values before sending them.
            const code = (e as { code?: string }).code;
            if (code === 'ERR_INVALID_CHAR' || code === 'ERR_HTTP_INVALID_HEADER_VALUE') return resolve('refused-by-client');
            return reject(e);
          }
          req.on('error', reject);
          req.end();
        }),
        5000,
        'the node:http server',
      );
    },
    async close() {
      agent.destroy();
    },
  };
}

/** The challenge token of a 401/200 for `scheme`, or null. */
function challengeToken(r: HttpReply, scheme: string): Uint8Array | null {
  for (const v of r.wwwAuthenticate) {
    const m = /^(\S+) ([A-Za-z0-9+/]+=*)$/.exec(v);
    if (m && m[1]!.toLowerCase() === scheme.toLowerCase()) return new Uint8Array(Buffer.from(m[2]!, 'base64'));
  }
  return null;
}

/** The handshake cookie a reply sets: an id, null when it clears it, undefined when it says nothing. */
function cookieOf(r: HttpReply): string | null | undefined {
  for (const c of r.setCookie) {
    const m = new RegExp(`^${HANDSHAKE_COOKIE}=([^;]*)`).exec(c);
    if (m) return m[1] || null;
  }
  return undefined;
}

/** Any reply: a status this layer documents for client input, with the headers that go with it. */
function assertReply(r: HttpReply, where: string): void {
  assert.ok([200, 400, 401].includes(r.status), `${where}: HTTP ${r.status}`);
  if (r.status === 401) assert.ok(r.wwwAuthenticate.length > 0, `${where}: 401 without WWW-Authenticate`);
}

/** Who may sign on over HTTP: the Negotiate initiators, raw NTLM (under either scheme) and raw Kerberos. */
export type HttpWho = Who | 'raw-ntlm' | 'raw-kerberos';

function httpCredential(w: World, who: HttpWho): Credentials {
  return who === 'raw-ntlm' ? w.ntlmClient : who === 'raw-kerberos' ? w.kerberosClient : w.clients[who];
}

/** How a sign-on over HTTP is disturbed: a token on the wire, the parked record, or the cookie. */
export interface HttpPlan {
  who: HttpWho;
  scheme: 'Negotiate' | 'NTLM';
  tamper: { leg: number; mutation: LegMutation } | null;
  store: PartialMutation | null;
  cookie: 'keep' | 'drop' | 'forge';
}

const expectedHttp = (w: World, who: HttpWho) => (who === 'raw-ntlm' ? w.expected.ntlm : who === 'raw-kerberos' ? w.expected.kerberos : w.expected[who]);

/** A mutation applied to whatever the token is: SPNEGO, or raw NTLM (then the NTLM mutator). */
function mutateHttpToken(token: Uint8Array, m: LegMutation, from: 'client' | 'server', legs: SentLeg[], leg: number): Uint8Array {
  const raw = token.length >= 12 && Buffer.from(token.subarray(0, 8)).toString('latin1') === 'NTLMSSP\0';
  if (raw && m.kind === 'ntlm') {
    try {
      return mutateNtlm(token, token[8] as 1 | 2 | 3, m.m);
    } catch {
      return token;
    }
  }
  return applyLegMutation(token, m, from, legs, leg, undefined);
}

/**
 * A sign-on over `t` as `plan.who`, a token changed on the wire and/or the parked record changed in
 * the store. Every reply must be one the layer documents; a 200 only for alice, over the expected
 * package; and over NTLM a changed protected part never ends in 200.
 */
async function httpSignOn(s: Session, t: Transport, plan: HttpPlan, where: string): Promise<HttpReply> {
  const w = s.w;
  const cred = httpCredential(w, plan.who);
  const legs: SentLeg[] = [];
  let changedCovered = false;
  const send = (from: 'client' | 'server', token: Uint8Array): Uint8Array => {
    const leg = legs.length;
    let sent = token;
    if (plan.tamper && plan.tamper.leg === leg) {
      sent = mutateHttpToken(token, plan.tamper.mutation, from, legs, leg);
      const raw = plan.who === 'raw-ntlm';
      if (!same(sent, token) && (raw || plan.who === 'ntlm')) changedCovered ||= raw ? true : coveredChange(token, sent) === 'protected';
    }
    legs.push({ from, original: token, sent });
    return sent;
  };
  let c = await s.init(cred, null, null);
  let cookie: string | null = null;
  let last: HttpReply | null = null;
  // A 401 challenge went out on the connection (every leg here is on one).
  let challenged = false;
  for (let i = 0; i < 5 && c.token.length; i++) {
    const sent = send('client', c.token);
    const r = await t.send(`${plan.scheme} ${Buffer.from(sent).toString('base64')}`, cookie);
    assert.notEqual(r, 'refused-by-client');
    last = r as HttpReply;
    assertReply(last, where);
    challenged ||= last.status === 401;
    const set = cookieOf(last);
    if (set !== undefined) cookie = set;
    if (plan.cookie === 'drop') cookie = null;
    else if (plan.cookie === 'forge' && cookie) cookie = 'AAAAAAAAAAAAAAAAAAAAAA';
    if (last.status === 200) {
      assert.deepEqual(last.identity, { name: expectedHttp(w, plan.who).name, package: expectedHttp(w, plan.who).pkg }, `${where}: identity`);
      assert.ok(!changedCovered, `${where}: HTTP 200 after a protected part changed (${JSON.stringify(plan, bytesAsHex)})`);
    }
    const back = challengeToken(last, plan.scheme);
    if (!back || last.status === 400) break;
    c = await s.init(cred, c.ctx, send('server', back));
    // RFC 4559 5: the token on the 200 completes the initiator (mutual authentication).
    if (last.status === 200 && !plan.tamper) assert.equal(statusName(c.status), 'SEC_E_OK', `${where}: the final token of a 200`);
    if (last.status === 200 || isError(c.status)) break;
  }
  // The connection keeps an identity only after a 200 (IIS's NTLM persistence) on a connection
  // that carried a 401 challenge (a single preemptive Kerberos leg keeps none), and never in
  // cluster mode (a balancer may share the connection between clients); a refused attempt leaves
  // it anonymous.
  const after = await t.send(undefined, cookie);
  assert.notEqual(after, 'refused-by-client');
  const persisted = after as HttpReply;
  if (last!.status === 200 && t.persists && challenged) assert.deepEqual(persisted.identity, last!.identity, `${where}: the next request on the connection`);
  else assert.equal(persisted.status, 401, `${where}: a request without Authorization after a refused or unchallenged sign-on`);
  return last!;
}

/**
 * One sign-on through the in-process authenticator on a new connection (for tests): the last reply,
 * and the refusals the authenticator reported on the way.
 */
export async function signOnOverHttp(s: Session, plan: HttpPlan): Promise<{ reply: HttpReply; failures: AuthFailure[] }> {
  const h = await getHttp();
  h.failures = [];
  const t = fakeTransport(h.plain);
  try {
    return { reply: await httpSignOn(s, t, plan, 'sign-on'), failures: h.failures };
  } finally {
    await t.close();
  }
}

/**
 * On one new connection: a bare request first when `challengeFirst` (its 401), a Negotiate sign-on
 * as `who`, then a request without Authorization. The replies of the sign-on's last leg and of that
 * request (for tests of which connections keep an identity).
 */
export async function signOnThenBare(s: Session, who: Who, challengeFirst: boolean): Promise<{ first: HttpReply | null; signedOn: HttpReply; bare: HttpReply }> {
  const t = fakeTransport((await getHttp()).plain);
  try {
    const first = challengeFirst ? ((await t.send(undefined, null)) as HttpReply) : null;
    let c = await s.init(s.w.clients[who], null, null);
    let last: HttpReply | null = null;
    for (let i = 0; i < 5 && c.token.length; i++) {
      last = (await t.send(`Negotiate ${Buffer.from(c.token).toString('base64')}`, null)) as HttpReply;
      const back = challengeToken(last, 'Negotiate');
      if (!back || last.status !== 401) break;
      c = await s.init(s.w.clients[who], c.ctx, back);
    }
    return { first, signedOn: last!, bare: (await t.send(undefined, null)) as HttpReply };
  } finally {
    await t.close();
  }
}

/** One Authorization header value through the in-process authenticator on a new connection (for tests). */
export async function sendAuthorization(value: string): Promise<HttpReply> {
  const t = fakeTransport((await getHttp()).plain);
  try {
    return (await t.send(value, null)) as HttpReply;
  } finally {
    await t.close();
  }
}

/** After whatever happened: a clean sign-on on a new connection still gets 200 as alice. */
async function assertHttpServes(s: Session, auth: Authenticator | 'real', who: HttpWho, scheme: 'Negotiate' | 'NTLM'): Promise<void> {
  const t = auth === 'real' ? await realTransport() : fakeTransport(auth);
  try {
    const r = await httpSignOn(s, t, { who, scheme, tamper: null, store: null, cookie: 'keep' }, 'fresh sign-on');
    assert.equal(r.status, 200, `a fresh ${who} sign-on under ${scheme}`);
  } finally {
    await t.close();
  }
}

// ---- generators for the HTTP properties ----------------------------------------------------------

const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((n) => String.fromCharCode(n)), maxLength: 200, size: 'max' });
const schemeArb = fc.oneof(fc.constantFrom('Negotiate', 'NTLM', 'negotiate', 'ntlm', 'NEGOTIATE', 'Ntlm', 'Kerberos', 'Basic', 'Bearer', 'Negotiate,', 'NTLM:', '', 'Nego tiate'), printable.map((p) => p.slice(0, 12)));
const sepArb = fc.constantFrom(' ', '  ', '\t', '', ' \t ', '\u00a0', '   ');
const trailerArb = fc.constantFrom('', ' ', '\t', ',', ', NTLM', ' x', '=', '==', '\r\n', '\u0000');
const encodingArb = fc.constantFrom('base64' as const, 'base64-nopad' as const, 'base64url' as const, 'hex' as const, 'base64-space' as const);

/** One Authorization header value to try: free text, or a scheme with a token built at run time. */
export type HeaderCase =
  | { kind: 'text'; value: string }
  | { kind: 'huge'; scheme: string; n: number; base64: boolean }
  | {
      kind: 'token';
      scheme: string;
      sep: string;
      trailer: string;
      encoding: 'base64' | 'base64-nopad' | 'base64url' | 'hex' | 'base64-space';
      /** Random bytes, or a fresh first token of one of our initiators (then maybe changed). */
      source: HttpWho | 'random';
      bytes: Uint8Array;
      mutation: LegMutation | null;
    };

export const headerCaseArb: fc.Arbitrary<HeaderCase> = fc.oneof(
  fc.record({ kind: fc.constant('text' as const), value: fc.oneof(printable, fc.string({ unit: 'binary', maxLength: 200, size: 'max' })) }),
  fc.record({
    kind: fc.constant('huge' as const),
    scheme: fc.constantFrom('Negotiate', 'NTLM', 'Basic'),
    // around the default limits: maxTokenBytes 65 536, the header ceil(65536/3)*4 + 64
    n: fc.oneof(fc.constantFrom(65_535, 65_536, 65_537, 87_380, 87_448, 87_449, 87_512, 87_513, 200_000), fc.integer({ min: 60_000, max: 200_000 })),
    base64: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant('token' as const),
    scheme: schemeArb,
    sep: sepArb,
    trailer: trailerArb,
    encoding: encodingArb,
    source: fc.constantFrom('random' as const, 'ntlm' as const, 'kerberos' as const, 'raw-ntlm' as const, 'raw-kerberos' as const),
    bytes: spnegoishBytes,
    mutation: fc.option(legMutationArb, { freq: 2 }),
  }),
);

function encodeToken64(b: Uint8Array, e: Extract<HeaderCase, { kind: 'token' }>['encoding']): string {
  const b64 = Buffer.from(b).toString('base64');
  switch (e) {
    case 'base64':
      return b64;
    case 'base64-nopad':
      return b64.replace(/=+$/, '');
    case 'base64url':
      return Buffer.from(b).toString('base64url');
    case 'hex':
      return Buffer.from(b).toString('hex');
    case 'base64-space':
      return b64.replace(/(.{16})/g, '$1 ');
  }
}

/** The header value of a case, and who a 200 may name (only a fresh first token can sign on in one leg). */
async function headerValue(s: Session, h: HeaderCase): Promise<{ value: string; who: HttpWho | null }> {
  switch (h.kind) {
    case 'text':
      return { value: h.value, who: null };
    case 'huge':
      return { value: `${h.scheme} ${h.base64 ? Buffer.alloc(Math.floor((h.n * 3) / 4), 1).toString('base64') : 'A'.repeat(h.n)}`, who: null };
    case 'token': {
      let bytes = h.bytes;
      if (h.source !== 'random') {
        const cred = httpCredential(s.w, h.source);
        bytes = (await s.init(cred, null, null)).token;
        if (h.mutation) bytes = mutateHttpToken(bytes, h.mutation, 'client', [], 0);
      }
      return { value: `${h.scheme}${h.sep}${encodeToken64(bytes, h.encoding)}${h.trailer}`, who: h.source === 'random' ? null : h.source };
    }
  }
}

/** Send one header on a new connection; 400/401, or 200 for a genuine one-leg sign-on. */
async function tryHeader(s: Session, t: Transport, h: HeaderCase): Promise<void> {
  const v = await headerValue(s, h);
  checkHeaderReply(s, v, await t.send(v.value, null));
}

function checkHeaderReply(s: Session, { value, who }: { value: string; who: HttpWho | null }, r: HttpReply | 'refused-by-client'): void {
  if (r === 'refused-by-client') return;
  const where = `Authorization: ${JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}... (${value.length})` : value)}`;
  assertReply(r, where);
  if (r.status === 200) {
    assert.ok(who, `${where}: HTTP 200 for a header that is no sign-on`);
    const want = expectedHttp(s.w, who);
    assert.deepEqual(r.identity, { name: want.name, package: want.pkg }, `${where}: identity`);
  }
}

const httpWhoArb = fc.constantFrom('ntlm' as const, 'kerberos' as const, 'raw-ntlm' as const, 'raw-kerberos' as const);

export const httpPlanArb: fc.Arbitrary<HttpPlan> = fc
  .record({
    who: httpWhoArb,
    ntlmScheme: fc.boolean(),
    tamper: fc.option(fc.record({ leg: fc.nat(3), mutation: legMutationArb }), { freq: 4 }),
    store: fc.option(partialMutationArb, { freq: 4 }),
    cookie: fc.constantFrom('keep' as const, 'keep' as const, 'keep' as const, 'drop' as const, 'forge' as const),
  })
  .map(({ who, ntlmScheme, ...rest }) => ({ who, scheme: who === 'raw-ntlm' && ntlmScheme ? ('NTLM' as const) : ('Negotiate' as const), ...rest }));

// ---- WWW-Authenticate (client side) --------------------------------------------------------------

const TCHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const tokenArb = fc.string({ unit: fc.constantFrom(...'!#$%&\'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'.split('')), minLength: 1, maxLength: 12, size: 'max' });
const quotedArb = fc.string({ unit: fc.constantFrom(...'ab ,=;\\"\t'.split('')), maxLength: 12, size: 'max' }).map((v) => `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`);

/** A challenge as a server writes it (RFC 9110 11.6.1), with what the client must read from it. */
interface WrittenChallenge {
  text: string;
  scheme: string;
  token: Uint8Array | null;
}

const challengeArb = (equals: readonly string[]): fc.Arbitrary<WrittenChallenge> => fc.oneof(
  tokenArb.map((scheme) => ({ text: scheme, scheme, token: null })),
  fc.tuple(tokenArb, fc.uint8Array({ minLength: 1, maxLength: 120, size: 'max' }), fc.boolean()).map(([scheme, b, pad]) => {
    const t = Buffer.from(b).toString('base64');
    return { text: `${scheme} ${pad ? t : t.replace(/=+$/, '')}`, scheme, token: b };
  }),
  fc.tuple(tokenArb, fc.array(fc.tuple(tokenArb, fc.oneof(tokenArb, quotedArb)), { minLength: 1, maxLength: 3 }), fc.constantFrom(...equals)).map(([scheme, params, eq]) => ({
    text: `${scheme} ${params.map(([n, v]) => `${n}${eq}${v}`).join(', ')}`,
    scheme,
    token: null,
  })),
);

/** Header values that look like challenge lists: tokens, token68s, params, quotes, commas. */
const challengeishArb: fc.Arbitrary<string> = fc
  .array(fc.oneof(tokenArb, quotedArb, fc.constantFrom(',', ' ', '=', '==', '"', '\\', '\t', 'Negotiate', 'NTLM', 'YWJj', 'YWJj=', 'Y', '-_', '\u00e9', '\u0000')), { maxLength: 30, size: 'max' })
  .map((parts) => parts.join(''));

// ---- properties ----------------------------------------------------------------------------------

/** Parse; a failure must be SEC_E_INVALID_TOKEN, and a token must be one we could have written. */
function parseChecked(bytes: Uint8Array): NegotiationToken | null {
  let t: NegotiationToken;
  try {
    t = parseNegotiationToken(bytes);
  } catch (e) {
    assert.ok(e instanceof SspiError, `parseNegotiationToken threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    assert.equal(statusName(e.status), 'SEC_E_INVALID_TOKEN', e.message);
    return null;
  }
  if (t.kind === 'init') {
    // The mechListMIC input is the one DER encoding of the list (strict DER has no other).
    if (t.mechTypesDer.length) assert.equal(hex(t.mechTypesDer), hex(encodeMechTypeList(t.mechTypes)), 'mechTypesDer is not the DER of mechTypes');
    else assert.ok(t.negHints && t.mechTypes.length === 0, 'a NegTokenInit without mechTypes that is no NegTokenInit2');
  }
  let again: NegotiationToken;
  try {
    again = parseNegotiationToken(encodeToken(t));
  } catch (e) {
    assert.fail(`a parsed token does not survive being written and read again: ${e instanceof Error ? e.message : String(e)} (${JSON.stringify(t, bytesAsHex)})`);
  }
  // Our encoder always writes mechTypes: a NegTokenInit2 without them comes back with an empty list.
  const noList = (x: NegotiationToken) => (x.kind === 'init' && !x.mechTypes.length ? { ...x, mechTypesDer: undefined } : x);
  assert.equal(canon(noList(again)), canon(noList(t)), 'written and read again, the token changed');
  return t;
}

/** A stable text form of a token for comparisons (sorted keys, bytes as hex). */
function canon(v: unknown): string {
  const sort = (x: unknown): unknown => {
    if (x instanceof Uint8Array) return `hex:${hex(x)}`;
    if (Array.isArray(x)) return x.map(sort);
    if (x && typeof x === 'object') return Object.fromEntries(Object.entries(x).filter(([, y]) => y !== undefined).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, y]) => [k, sort(y)]));
    return x;
  };
  return JSON.stringify(sort(v));
}

const wellFormedHints: fc.Arbitrary<NegHints> = fc.record(
  { hintName: fc.oneof(fc.constant('not_defined_in_RFC4178@please_ignore'), fc.string({ unit: 'grapheme', maxLength: 40, size: 'max' })), hintAddress: fc.uint8Array({ maxLength: 16, size: 'max' }) },
  { requiredKeys: [] },
);
const bigOrSmallBytes = fc.oneof({ weight: 9, arbitrary: fc.uint8Array({ maxLength: 300, size: 'max' }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 70_000 }).map((n) => new Uint8Array(n).fill(0x5a)) });

const initFieldsArb: fc.Arbitrary<NegTokenInitFields> = fc.record(
  { mechTypes: fc.array(oidArb, { maxLength: 5 }), reqFlags: fc.integer({ min: 0, max: 255 }), mechToken: bigOrSmallBytes, negHints: wellFormedHints, mechListMIC: fc.uint8Array({ maxLength: 40, size: 'max' }) },
  { requiredKeys: ['mechTypes'] },
);
const respFieldsArb: fc.Arbitrary<Omit<NegTokenResp, 'kind'>> = fc.record(
  { negState: fc.constantFrom(0 as const, 1 as const, 2 as const, 3 as const), supportedMech: oidArb, responseToken: bigOrSmallBytes, mechListMIC: fc.uint8Array({ maxLength: 40, size: 'max' }) },
  { requiredKeys: [] },
);
const validTokenArb: fc.Arbitrary<Uint8Array> = fc.oneof(initFieldsArb.map(encodeNegTokenInit), respFieldsArb.map(encodeNegTokenResp));

/** The properties, by name; each run makes its own contexts in the shared world and deletes them. */
export function negotiateHttpProperties(): CampaignProperty[] {
  const props: CampaignProperty[] = [];
  const add = <T>(name: string, arb: fc.Arbitrary<T>, body: (s: Session, v: T) => Promise<void>) =>
    props.push([name, fc.asyncProperty(arb, (v) => inSession((s) => body(s, v)))]);
  const addSync = <T>(name: string, arb: fc.Arbitrary<T>, body: (v: T) => void) => props.push([name, fc.property(arb, (v) => body(v))]);
  const whoArb = fc.constantFrom('ntlm' as const, 'kerberos' as const);

  // -- the codec

  addSync('SPNEGO codec: any bytes give a token or SEC_E_INVALID_TOKEN', spnegoishBytes, (b) => void parseChecked(b));

  addSync(
    'SPNEGO codec: changed NegTokenInit / NegTokenInit2 / NegTokenResp give a token or SEC_E_INVALID_TOKEN',
    fc.tuple(validTokenArb, fc.array(spnegoMutationArb, { minLength: 1, maxLength: 3 })),
    ([token, ms]) => void parseChecked(ms.reduce((t, m) => mutateSpnego(t, m), token)),
  );

  addSync('SPNEGO codec: written tokens read back to the same fields and bytes', fc.oneof(initFieldsArb.map((f) => ({ init: f })), respFieldsArb.map((f) => ({ resp: f }))), (v) => {
    const bytes = 'init' in v ? encodeNegTokenInit(v.init) : encodeNegTokenResp(v.resp);
    const t = parseChecked(bytes);
    assert.ok(t, 'our own token does not parse');
    const want = 'init' in v ? { kind: 'init', ...v.init, mechTypesDer: encodeMechTypeList(v.init.mechTypes) } : { kind: 'resp', ...v.resp };
    assert.equal(canon(t), canon(want));
    assert.equal(hex(encodeToken(t)), hex(bytes), 'written again, other bytes');
  });

  addSync('SPNEGO encoders: a value DER cannot carry is SEC_E_INVALID_PARAMETER', fc.tuple(fc.oneof(oidArb, fc.string({ maxLength: 30, size: 'max' }), fc.constantFrom('1', '3.1', '1.40', '1.2.9007199254740992', '')), fc.boolean()), ([oid, init]) => {
    try {
      if (init) parseChecked(encodeNegTokenInit({ mechTypes: [NTLMSSP_MECH_OID, oid] }));
      else parseChecked(encodeNegTokenResp({ supportedMech: oid }));
    } catch (e) {
      assert.ok(e instanceof SspiError, `threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
      assert.equal(statusName(e.status), 'SEC_E_INVALID_PARAMETER', e.message);
    }
  });

  // -- the acceptor and the initiator through SSPI

  add('Negotiate: an honest handshake completes (baseline)', fc.tuple(whoArb, fc.boolean()), async (s, [who, serverInitiated]) => {
    const r = await handshake(s, who, { serverInitiated });
    assert.equal(statusName(r.serverStatus ?? 0), 'SEC_E_OK');
    assert.equal(statusName(r.clientStatus ?? 0), 'SEC_E_OK');
    await assertHandshake(s, r, 'baseline');
  });

  add('AcceptSecurityContext (Negotiate): any first token gives CONTINUE_NEEDED or a defined error, never a completion', spnegoishBytes, async (s, bytes) => {
    const r = await s.accept(s.w.negotiateServer, null, bytes);
    assert.notEqual(r.status, SEC_E_OK, 'a one-leg logon from random bytes');
    if (r.status === SEC_I_CONTINUE_NEEDED && !(bytes.length >= 8 && Buffer.from(bytes.subarray(0, 8)).toString('latin1') === 'NTLMSSP\0')) parseChecked(r.token);
  });

  const clientLeg = (who: Who, si: boolean, k: number) => (si ? 1 : 0) + 2 * (k % (who === 'ntlm' ? 2 : 1));
  const serverLeg = (who: Who, si: boolean, k: number) => {
    const n = (who === 'ntlm' ? 2 : 1) + (si ? 1 : 0);
    return (si ? 0 : 1) + 2 * (k % n);
  };
  const tamperArb = fc.record({ who: whoArb, serverInitiated: fc.boolean(), k: fc.nat(2), mutation: legMutationArb });
  const donorFor = async (s: Session, who: Who, serverInitiated: boolean, m: LegMutation) => (m.kind === 'splice' ? (await handshake(s, who, { serverInitiated })).legs : undefined);

  add(
    'AcceptSecurityContext (Negotiate): a client leg changed in transit completes only as alice over the first choice (NTLM: never once a MIC-protected part changed); a fresh handshake still works',
    tamperArb,
    async (s, v) => {
      const donor = await donorFor(s, v.who, v.serverInitiated, v.mutation);
      const r = await handshake(s, v.who, { serverInitiated: v.serverInitiated, tamper: { leg: clientLeg(v.who, v.serverInitiated, v.k), mutation: v.mutation, only: 'client' }, ...(donor ? { donor } : {}) });
      await assertHandshake(s, r, 'acceptor');
      await assertStillServes(s, v.who);
    },
  );

  add(
    'InitializeSecurityContext (Negotiate): a changed NegTokenInit2 hint, CHALLENGE, AP-REP or accept-completed/mechListMIC gives a defined status, never a false completion',
    tamperArb,
    async (s, v) => {
      const donor = await donorFor(s, v.who, v.serverInitiated, v.mutation);
      const r = await handshake(s, v.who, { serverInitiated: v.serverInitiated, tamper: { leg: serverLeg(v.who, v.serverInitiated, v.k), mutation: v.mutation, only: 'server' }, ...(donor ? { donor } : {}) });
      await assertHandshake(s, r, 'initiator');
    },
  );

  add(
    'Negotiate over NTLM: a mechListMIC with bytes after the 16-byte signature is refused on either side (it is exactly the GSS MIC token, RFC 4178 4.2.1)',
    fc.record({ side: fc.constantFrom('acceptor' as const, 'initiator' as const), serverInitiated: fc.boolean(), extra: fc.uint8Array({ minLength: 1, maxLength: 16, size: 'max' }) }),
    async (s, v) => {
      // The NTLM flow: [hint], NegTokenInit, CHALLENGE, AUTHENTICATE + MIC, accept-completed + MIC.
      const leg = (v.serverInitiated ? 1 : 0) + (v.side === 'acceptor' ? 2 : 3);
      const r = await handshake(s, 'ntlm', { serverInitiated: v.serverInitiated, tamper: { leg, mutation: { kind: 'field', m: { f: 'mechListMIC', op: 'bytes', bytes: new Uint8Array(0), m: { kind: 'append', bytes: v.extra } } } } });
      assert.ok(r.changed?.micTrailing, 'the change landed on the mechListMIC');
      const status = v.side === 'acceptor' ? r.serverStatus : r.clientStatus;
      assert.notEqual(statusName(status ?? 0), 'SEC_E_OK', `the ${v.side} took a mechListMIC with ${v.extra.length} trailing bytes`);
    },
  );

  add(
    'ImportPartialSecurityContext: a parked Negotiate/NTLM record changed in the store gives a defined error, never a fault or another identity',
    fc.record({ seed: fc.constantFrom('negotiate-ntlm' as const, 'negotiate-hint' as const, 'ntlm' as const), who: whoArb, mutation: fc.option(partialMutationArb, { freq: 8 }), cred: fc.constantFrom('same' as const, 'same' as const, 'same' as const, 'other' as const, 'outbound' as const) }),
    async (s, v) => {
      const w = s.w;
      const p = await park(s, v.seed, v.who);
      const bad = v.mutation ? mutatePartial(p.packed, v.mutation) : p.packed;
      const cred = v.cred === 'same' ? p.server : v.cred === 'outbound' ? p.client : p.server === w.ntlmServer ? w.negotiateServer : w.ntlmServer;
      const im = await w.sspi.ImportPartialSecurityContext(cred.handle, bad);
      assertDefined(w, im.status, 'ImportPartialSecurityContext');
      if (isError(im.status)) {
        assert.equal(im.phContext, null, 'a failed import returned a handle');
        return;
      }
      let server = s.track(im.phContext);
      let toServer = p.next;
      let client = p.clientCtx;
      let last = SEC_I_CONTINUE_NEEDED as number;
      for (let i = 0; i < 4 && toServer.length; i++) {
        const a = await s.accept(cred, server, toServer);
        last = a.status;
        server = a.ctx ?? server;
        if (isError(a.status) || !a.token.length || a.status === SEC_E_OK) break;
        const b = await s.init(p.client, client, a.token);
        client = b.ctx ?? client;
        if (isError(b.status)) break;
        toServer = b.token;
      }
      if (last === SEC_E_OK) assert.deepEqual(await s.identity(server!), p.expected, `identity after ${JSON.stringify(v, bytesAsHex)}`);
      else if (!v.mutation && v.cred === 'same') assert.fail(`an unchanged record did not complete: ${statusName(last)}`);
    },
  );

  // -- HTTP

  add(
    'HTTP authenticator: any Authorization header gets 400 or 401 (200 only for a genuine one-leg sign-on), never 500, a throw or a hang; sign-on still works',
    fc.tuple(headerCaseArb, fc.nat(7)),
    async (s, [h, check]) => {
      const { plain } = await getHttp();
      const t = fakeTransport(plain);
      try {
        await tryHeader(s, t, h);
      } finally {
        await t.close();
      }
      if (check === 0) await assertHttpServes(s, plain, 'ntlm', 'Negotiate');
      await assertNoRejection('HTTP header');
    },
  );

  add(
    'HTTP authenticator: concurrent requests on one connection (pipelined legs) are each answered 400 or 401 (or 200 for a genuine sign-on), never 500 or a hang',
    fc.array(headerCaseArb, { minLength: 2, maxLength: 4 }),
    async (s, cases) => {
      const { plain } = await getHttp();
      const t = fakeTransport(plain);
      try {
        const values: Array<{ value: string; who: HttpWho | null }> = [];
        for (const h of cases) values.push(await headerValue(s, h));
        const replies = await Promise.all(values.map((v) => t.send(v.value, null)));
        replies.forEach((r, i) => checkHeaderReply(s, values[i]!, r));
      } finally {
        await t.close();
      }
      await assertNoRejection('concurrent requests');
    },
  );

  add(
    'HTTP authenticator: a sign-on with a token changed on the wire gets 400 or 401, never 500, a hang, or 200 once a MIC-protected part changed',
    fc.tuple(httpPlanArb.map((p) => ({ ...p, store: null, cookie: 'keep' as const })), fc.nat(3)),
    async (s, [plan, check]) => {
      const { plain } = await getHttp();
      const t = fakeTransport(plain);
      try {
        await httpSignOn(s, t, plan, 'HTTP sign-on');
      } finally {
        await t.close();
      }
      if (check === 0) await assertHttpServes(s, plain, plan.who, plan.scheme);
      await assertNoRejection('HTTP sign-on');
    },
  );

  const cluster = async (s: Session, plan: HttpPlan) => {
    const h = await getHttp();
    const t = fakeTransport(h.cluster);
    h.store.tamper = plan.store;
    try {
      await httpSignOn(s, t, plan, 'cluster sign-on');
    } finally {
      h.store.tamper = null;
      await t.close();
    }
    await assertHttpServes(s, h.cluster, plan.who, plan.scheme);
    await assertNoRejection('cluster sign-on');
  };

  add(
    'HTTP cluster mode: a sign-on with a token changed on the wire, or its handshake cookie dropped or forged, gets 400 or 401, never 500 or 503',
    httpPlanArb.map((p) => ({ ...p, store: null })),
    cluster,
  );

  add(
    'HTTP cluster mode: a handshake whose parked record changed in the shared store gets 400 or 401 and no package faults, never 500 or 503',
    // Kerberos finishes in one leg: only the NTLM flows park anything.
    fc.tuple(httpPlanArb, partialMutationArb).map(([p, store]) => ({ ...p, who: p.who === 'kerberos' ? ('ntlm' as const) : p.who === 'raw-kerberos' ? ('raw-ntlm' as const) : p.who, store })),
    cluster,
  );

  add(
    'HTTP over node:http: hostile headers and changed sign-ons on a keep-alive connection get 400 or 401; a clean sign-on on a new connection still gets 200',
    fc.oneof(headerCaseArb.map((h) => ({ header: h })), httpPlanArb.map((p) => ({ plan: { ...p, store: null, cookie: 'keep' as const } }))),
    async (s, v) => {
      const t = await realTransport();
      try {
        if ('header' in v) await tryHeader(s, t, v.header);
        else await httpSignOn(s, t, v.plan, 'node:http sign-on');
      } finally {
        await t.close();
      }
      await assertHttpServes(s, 'real', 'ntlm', 'Negotiate');
      await assertNoRejection('node:http');
    },
  );

  // -- the client's challenge parsing

  addSync(
    'parseChallenges (WWW-Authenticate / Proxy-Authenticate): any value gives well-formed challenges, never a throw',
    fc.oneof(
      fc.string({ unit: 'binary', maxLength: 300, size: 'max' }),
      challengeishArb,
      fc.array(fc.oneof(challengeishArb, fc.string({ maxLength: 40, size: 'max' })), { maxLength: 4 }),
      fc.tuple(challengeishArb, fc.integer({ min: 1000, max: 20_000 })).map(([p, n]) => (p || 'a,').repeat(Math.ceil(n / Math.max(1, p.length)))),
    ),
    (value) => {
      let out: Challenge[];
      const t0 = performance.now();
      try {
        out = parseChallenges(value);
      } catch (e) {
        assert.ok(e instanceof SspiError, `parseChallenges threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
        return;
      }
      assert.ok(performance.now() - t0 < 2000, 'parseChallenges is not linear in its input');
      for (const c of out) {
        assert.match(c.scheme, TCHAR, 'a scheme that is no token');
        if (c.token !== null) {
          assert.ok(c.token instanceof Uint8Array && c.token.length > 0, 'an empty token');
          const text = Buffer.from(c.token).toString('base64');
          assert.ok(list(value).some((v) => v.includes(text.replace(/=+$/, ''))), 'a token that is not in the header');
        }
      }
    },
  );

  const readBack = ([challenges, comma, split]: [WrittenChallenge[], string, boolean]) => {
    const value = split ? challenges.map((c) => c.text) : challenges.map((c) => c.text).join(comma);
    const got = parseChallenges(value).map((c) => ({ scheme: c.scheme, token: c.token ? hex(c.token) : null }));
    assert.deepEqual(got, challenges.map((c) => ({ scheme: c.scheme, token: c.token ? hex(c.token) : null })), JSON.stringify(value));
  };
  const commaArb = fc.constantFrom(', ', ',', ' , ', ',\t');

  addSync(
    'parseChallenges: the challenges a server writes (token68, auth-params, OWS around commas) read back (RFC 9110 11.6.1)',
    fc.tuple(fc.array(challengeArb(['=']), { minLength: 1, maxLength: 4 }), commaArb, fc.boolean()),
    readBack,
  );

  // auth-param = token BWS "=" BWS ( token / quoted-string ), RFC 9110 11.2: a recipient must accept the BWS.
  addSync(
    'parseChallenges: auth-params with whitespace around "=" (BWS) are read as parameters, not as challenges',
    fc.tuple(fc.array(challengeArb([' = ', ' =', '= ']), { minLength: 1, maxLength: 4 }), commaArb, fc.boolean()),
    readBack,
  );

  // -- the client's side of a proxy: its reader of the answer to CONNECT

  props.push([
    'HTTP client: any answer to CONNECT ends in a rejected Error, never a hang, a throw or a tunnel over garbage',
    fc.asyncProperty(connectAnswerArb, async (answer) => {
      const w = await getWorld();
      const peer = await getConnectPeer();
      peer.answer = answer;
      const dial = () =>
        new Promise<net.Socket>((resolve, reject) => {
          const sock = net.connect(peer.port, '127.0.0.1', () => resolve(sock));
          sock.once('error', reject);
        });
      const offers = (v: string | string[] | undefined) => parseChallenges(v).filter((c) => c.scheme.toLowerCase() === 'ntlm').map(() => ({ scheme: 'NTLM' }));
      const start = async () => {
        const ctx = SecurityContext.client(w.ntlmClient, { target: 'HTTP/proxy.example.test' });
        return { ctx, token: await ctx.step() };
      };
      await assert.rejects(openTunnel(dial, new URL('https://origin.example.test/'), { rejectUnauthorized: false }, { offers, start, known: null, maxLegs: 3 }, 2000), (e: unknown) => e instanceof Error);
    }),
  ]);

  return props;
}
