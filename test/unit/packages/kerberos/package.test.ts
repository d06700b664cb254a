// The Kerberos package on the LSA contract: initiator and acceptor in one LSA, tickets from an
// in-process fake KDC (through the package's kdcSend hook) and an acceptor keytab written here.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fc from 'fast-check';
import { mkdtempSync, readdirSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Credentials } from '../../../../src/credentials.js';
import { SecurityContext } from '../../../../src/context.js';
import { createLsa, type LsaHost } from '../../../../src/lsa/host.js';
import {
  decodeApReq, decodeAsReq, decodeAuthenticator, decodeEncTicketPart, decodeTgsReq,
  encodeAsRep, encodeEncASRepPart, encodeEncTGSRepPart, encodeEncTicketPart, encodeKrbError, encodeTgsRep,
  type KdcReq, type Ticket,
} from '../../../../src/packages/kerberos/asn1/index.js';
import { decrypt, encrypt, randomToKey, stringToKey } from '../../../../src/packages/kerberos/crypto/index.js';
import type { KerberosKey } from '../../../../src/packages/kerberos/crypto/types.js';
import { type KeytabEntry, writeKeytabFile } from '../../../../src/packages/kerberos/keytab.js';
import { parseKrb5Conf } from '../../../../src/packages/kerberos/krb5conf.js';
import { parseCcache } from '../../../../src/packages/kerberos/ccache.js';
import { Krb5TokId, parseKrb5Token } from '../../../../src/der/gss.js';
import { MemoryReplayCache, type ReplayCache } from '../../../../src/packages/kerberos/replay.js';
import { kerberosPackage, targetPrincipal, TSLSA_KERB_ATTR, type KerberosConfig } from '../../../../src/packages/kerberos/package.js';
import { packContextData, unpackContextData } from '../../../../src/packages/kerberos/contextData.js';
import { kerberosUserModeTable } from '../../../../src/packages/kerberos/usermode.js';
import { builtinPackages } from '../../../../src/packages/index.js';
import { SspiError } from '../../../../src/sspi/error.js';
import { SecurityStatus } from '../../../../src/sspi/status.js';
import { ISC_REQ, ISC_RET, ASC_RET, SECBUFFER, SECPKG_ATTR, SECPKG_CRED, SECURITY_NATIVE_DREP, SECQOP_WRAP_NO_ENCRYPT } from '../../../../src/sspi/flags.js';
import { outputBuffer, secBuffer, secBufferDesc, bufferBytes } from '../../../../src/sspi/buffers.js';

const REALM = 'EXAMPLE.TEST';
const PASSWORD = 'Alice-Passw0rd';
const SPN = 'HTTP/web.example.test';
const krb5 = parseKrb5Conf(`[libdefaults]
 default_realm = ${REALM}
 permitted_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha256-128
[domain_realm]
 .example.test = ${REALM}
`);
const sec = (ms: number): Date => new Date(Math.floor(ms / 1000) * 1000);
const code = (status: number) => (e: unknown): boolean => SspiError.is(e, status);
const enc = new TextEncoder();

interface FakeKdcOptions {
  /** Service ticket kvno (the keytab holds kvno 3). */
  kvno?: number;
  /** Service ticket end time, ms from now. */
  lifetimeMs?: number;
  /** Session key enctype of service tickets. */
  sessionEnctype?: number;
  /** An AD-WIN2K-PAC element to put in service tickets, as given (signed or not). */
  pac?: Uint8Array;
}

/** A KDC for alice@EXAMPLE.TEST (no pre-authentication), krbtgt and two HTTP services. */
function fakeKdc(o: FakeKdcOptions = {}) {
  const userKey = stringToKey(18, PASSWORD, `${REALM}alice`);
  const tgtKey = randomToKey(18, randomBytes(32));
  const svcKeys: Record<string, KerberosKey> = {
    'web.example.test': randomToKey(18, randomBytes(32)),
    'other.example.test': randomToKey(18, randomBytes(32)),
  };
  const log: KdcReq[] = [];
  let issuedKvno = o.kvno ?? 3; // rotate() moves it on
  const cname = { nameType: 1, nameString: ['alice'] };
  const issue = (req: KdcReq, replyKey: KerberosKey, ticketKey: KerberosKey, kvno: number, tgs: boolean, flags: number, lifetimeMs: number, etype: number, pac?: Uint8Array) => {
    const sk = randomToKey(etype, randomBytes(etype === 19 || etype === 23 ? 16 : 32), { allowWeak: true });
    const now = Date.now();
    const sname = req.reqBody.sname!;
    const authtime = sec(now - 60_000);
    const endtime = sec(now + lifetimeMs);
    const encTicket = encodeEncTicketPart({
      flags, key: { keytype: sk.enctype, keyvalue: sk.keyvalue }, crealm: REALM, cname,
      transited: { trType: 1, contents: new Uint8Array(0) }, authtime, endtime,
      ...(pac ? { authorizationData: [{ adType: 128, adData: pac }] } : {}),
    });
    const ticket: Ticket = { realm: REALM, sname, encPart: { etype: ticketKey.enctype, kvno, cipher: encrypt(ticketKey, 2, encTicket) } };
    const part = { key: { keytype: sk.enctype, keyvalue: sk.keyvalue }, lastReq: [], nonce: req.reqBody.nonce, flags, authtime, endtime, srealm: REALM, sname };
    const rep = { crealm: REALM, cname, ticket, encPart: { etype: replyKey.enctype, cipher: encrypt(replyKey, tgs ? 8 : 3, tgs ? encodeEncTGSRepPart(part) : encodeEncASRepPart(part)) } };
    return tgs ? encodeTgsRep(rep) : encodeAsRep(rep);
  };
  const err = (c: number) => encodeKrbError({ stime: sec(Date.now()), susec: 0, errorCode: c, realm: REALM, sname: { nameType: 2, nameString: ['krbtgt', REALM] } });
  const send = async (_realm: string, bytes: Uint8Array): Promise<Uint8Array> => {
    if (bytes[0] === 0x6a) {
      const req = decodeAsReq(bytes);
      log.push(req);
      if (req.reqBody.cname!.nameString[0] !== 'alice') return err(6);
      // FORWARDABLE when asked (KDC option bit 1 = 0x40000000), INITIAL, PRE-AUTHENT not claimed.
      const flags = (req.reqBody.kdcOptions & 0x40000000) | 0x00400000;
      return issue(req, userKey, tgtKey, 1, false, flags, 10 * 3600_000, 18);
    }
    const req = decodeTgsReq(bytes);
    log.push(req);
    const ap = decodeApReq(req.padata!.find((p) => p.padataType === 1)!.padataValue);
    const tkt = decodeEncTicketPart(decrypt(tgtKey, 2, ap.ticket.encPart.cipher));
    const skey = { enctype: tkt.key.keytype, keyvalue: Uint8Array.from(tkt.key.keyvalue) };
    decodeAuthenticator(decrypt(skey, 7, ap.authenticator.cipher));
    const sname = req.reqBody.sname!.nameString;
    if (sname[0] === 'krbtgt') {
      // A forwarded TGT (RFC 4120 2.6): only from a forwardable one.
      if (!(tkt.flags & 0x40000000)) return err(13);
      return issue(req, skey, tgtKey, 1, true, 0x40000000 | 0x20000000, 10 * 3600_000, 18);
    }
    const key = sname[0] === 'HTTP' ? svcKeys[sname[1]!] : undefined;
    if (!key) return err(7);
    // The realm trusts web.example.test for delegation (OK-AS-DELEGATE), not other.example.test.
    const okAsDelegate = sname[1] === 'web.example.test' ? 0x00040000 : 0;
    return issue(req, skey, key, issuedKvno, true, okAsDelegate, o.lifetimeMs ?? 3600_000, o.sessionEnctype ?? 18, o.pac);
  };
  const entry = (host: string, key: KerberosKey, kvno: number): KeytabEntry => ({
    principal: { realm: REALM, components: ['HTTP', host], nameType: 2 }, timestamp: 0, kvno, kvno8: kvno, key,
  });
  const keytab: KeytabEntry[] = Object.entries(svcKeys).map(([host, key]) => entry(host, key, 3));
  /** A new key for web.example.test at the next kvno; returns the keytab with the old and new keys. */
  const rotate = (): KeytabEntry[] => {
    const old = entry('web.example.test', svcKeys['web.example.test']!, issuedKvno);
    svcKeys['web.example.test'] = randomToKey(18, randomBytes(32));
    issuedKvno++;
    return [old, entry('web.example.test', svcKeys['web.example.test'], issuedKvno)];
  };
  return { send, log, keytab, rotate };
}

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Setup {
  host: LsaHost;
  dir: string;
  keytabPath: string;
  kdc: ReturnType<typeof fakeKdc>;
}

async function setup(o: { kdc?: FakeKdcOptions; config?: KerberosConfig } = {}): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'tslsa-kpkg-'));
  dirs.push(dir);
  const kdc = fakeKdc(o.kdc);
  const keytabPath = join(dir, 'http.keytab');
  writeKeytabFile(keytabPath, kdc.keytab);
  const host = await createLsa({
    packages: [kerberosPackage({ krb5Conf: krb5, keytab: keytabPath, kdcSend: kdc.send, delegatedCcacheDir: dir, env: {}, ...o.config })],
  });
  return { host, dir, keytabPath, kdc };
}

async function clientCred(s: Setup, authData: Record<string, unknown> = { User: 'alice', Domain: 'example.test', Password: PASSWORD }): Promise<Credentials> {
  return Credentials.acquire(s.host.sspi(), { package: 'Kerberos', use: 'outbound', authData } as Parameters<typeof Credentials.acquire>[1]);
}

async function serverCred(s: Setup, principal?: string): Promise<Credentials> {
  return Credentials.acquire(s.host.sspi(), { package: 'Kerberos', use: 'inbound', ...(principal ? { principal } : {}) });
}

/** Runs the legs until both sides are complete; returns the tokens exchanged. */
async function handshake(client: SecurityContext, server: SecurityContext): Promise<Uint8Array[]> {
  const tokens: Uint8Array[] = [];
  let t = await client.step();
  for (let i = 0; i < 4 && t; i++) {
    tokens.push(t);
    const r = await server.step(t);
    if (!r) break;
    tokens.push(r);
    t = await client.step(r);
    if (t && server.complete) throw new Error('initiator sent a token after the acceptor finished');
  }
  assert.ok(client.complete, 'initiator complete');
  assert.ok(server.complete, 'acceptor complete');
  return tokens;
}

async function pair(s: Setup, flags: string[], target = SPN, serverFlags: string[] = []) {
  const client = SecurityContext.client(await clientCred(s), { target, flags });
  const server = SecurityContext.server(await serverCred(s), { flags: serverFlags });
  return { client, server };
}

function messagesBothWays(client: SecurityContext, server: SecurityContext): void {
  for (const [from, to] of [[client, server], [server, client]] as const) {
    for (const n of [0, 1, 16, 1000]) {
      const m = randomBytes(n);
      const w = from.wrap(m);
      assert.deepEqual(Buffer.from(to.unwrap(w).message), m);
      const s = from.wrap(m, { encrypt: false });
      const u = to.unwrap(s);
      assert.equal(u.encrypted, false);
      assert.deepEqual(Buffer.from(u.message), m);
      to.verify(m, from.sign(m));
    }
  }
}

describe('Kerberos package: registration and names', () => {
  test('builtinPackages lists Kerberos with its SecPkgInfo', async () => {
    const host = await createLsa({ packages: await builtinPackages() });
    const r = await host.sspi().EnumerateSecurityPackages();
    const k = r.ppPackageInfo.find((p) => p.Name === 'Kerberos');
    assert.ok(k, 'Kerberos is loaded');
    assert.equal(k.wRPCID, 16);
    assert.equal(k.cbMaxToken, 48000);
    assert.ok(r.ppPackageInfo.some((p) => p.Name === 'NTLM'));
  });

  test('target names: SPN, host-based, principal', () => {
    assert.deepEqual(targetPrincipal('HTTP/web.example.test', krb5, 'X'), { realm: REALM, components: ['HTTP', 'web.example.test'], nameType: 2 });
    assert.deepEqual(targetPrincipal('HTTP@Web.Example.Test', krb5, 'X'), { realm: REALM, components: ['HTTP', 'web.example.test'], nameType: 3 });
    assert.deepEqual(targetPrincipal('bob@OTHER.TEST', krb5, 'X').realm, 'OTHER.TEST');
    assert.deepEqual(targetPrincipal('HTTP/h.elsewhere@B.TEST', krb5, 'X').realm, 'B.TEST');
    assert.throws(() => targetPrincipal('  ', krb5, 'X'), code(SecurityStatus.SEC_E_TARGET_UNKNOWN));
  });

  test('context data round trip and strict parse', () => {
    const d = {
      side: 'acceptor' as const, replayDetect: true, sequenceDetect: false, dceStyle: true, ContextAttributes: 0x1234, sendSeq: 2 ** 40, recvSeq: 7,
      endtime: 1_700_000_000_000, key: { enctype: 18, keyvalue: new Uint8Array(32).fill(1) }, acceptorSubkey: { enctype: 18, keyvalue: new Uint8Array(32).fill(2) },
      client: 'alice@EXAMPLE.TEST', server: 'HTTP/web@EXAMPLE.TEST',
    };
    const b = packContextData(d);
    assert.deepEqual(unpackContextData(b), d);
    for (const cut of [0, 10, 31, b.length - 1]) assert.throws(() => unpackContextData(b.subarray(0, cut)), code(SecurityStatus.SEC_E_INVALID_TOKEN));
    const bad = b.slice();
    bad[0] = 9;
    assert.throws(() => unpackContextData(bad), code(SecurityStatus.SEC_E_INVALID_TOKEN));
  });
});

describe('Kerberos package: credentials', () => {
  test('password credentials: AS exchange; wrong password and unknown user refused', async () => {
    const s = await setup();
    const c = await clientCred(s);
    assert.equal(await c.userName(), `alice@${REALM}`);
    await assert.rejects(clientCred(s, { User: 'alice', Domain: REALM, Password: 'wrong' }), code(SecurityStatus.SEC_E_LOGON_DENIED));
    await assert.rejects(clientCred(s, { User: 'mallory', Domain: REALM, Password: PASSWORD }), (e: unknown) => e instanceof SspiError && e.status !== SecurityStatus.SEC_E_OK);
  });

  test('no auth data and no ccache: SEC_E_NO_CREDENTIALS; missing acceptor keytab too', async () => {
    const s = await setup({ config: { env: { KRB5CCNAME: 'FILE:/nonexistent/tslsa-cc' } } });
    const r = await s.host.sspi().AcquireCredentialsHandle(null, 'Kerberos', SECPKG_CRED.OUTBOUND, null, null);
    assert.equal(r.status, SecurityStatus.SEC_E_NO_CREDENTIALS);
    const r2 = await s.host.sspi().AcquireCredentialsHandle(null, 'Kerberos', SECPKG_CRED.INBOUND, null, { keytab: '/nonexistent/keytab' });
    assert.equal(r2.status, SecurityStatus.SEC_E_NO_CREDENTIALS);
    const r3 = await s.host.sspi().AcquireCredentialsHandle('HTTP/nothere.example.test', 'Kerberos', SECPKG_CRED.INBOUND, null, null);
    assert.equal(r3.status, SecurityStatus.SEC_E_NO_CREDENTIALS);
  });

  test('a broken krb5.conf does not stop the LSA loading; credentials report it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tslsa-kpkg-'));
    dirs.push(dir);
    const bad = join(dir, 'krb5.conf');
    writeFileSync(bad, '[libdefaults\n default_realm = X\n');
    const host = await createLsa({ packages: [kerberosPackage({ krb5Conf: bad, env: {} })] });
    const sspi = host.sspi();
    assert.ok((await sspi.EnumerateSecurityPackages()).ppPackageInfo.some((p) => p.Name === 'Kerberos'));
    const r = await sspi.AcquireCredentialsHandle(null, 'Kerberos', SECPKG_CRED.OUTBOUND, null, { User: 'alice', Domain: REALM, Password: PASSWORD });
    assert.equal(r.status, SecurityStatus.SEC_E_INVALID_PARAMETER);
  });

  test('unreachable KDC: SEC_E_NO_AUTHENTICATING_AUTHORITY within the timeout', async () => {
    const conf = parseKrb5Conf(`[libdefaults]\n default_realm = ${REALM}\n[realms]\n ${REALM} = {\n  kdc = 127.0.0.1:1\n }\n`);
    const dir = mkdtempSync(join(tmpdir(), 'tslsa-kpkg-'));
    dirs.push(dir);
    const host = await createLsa({ packages: [kerberosPackage({ krb5Conf: conf, kdcTimeoutMs: 1500, env: {} })] });
    const t0 = Date.now();
    const r = await host.sspi().AcquireCredentialsHandle(null, 'Kerberos', SECPKG_CRED.OUTBOUND, null, { User: 'alice', Domain: REALM, Password: PASSWORD });
    assert.equal(r.status, SecurityStatus.SEC_E_NO_AUTHENTICATING_AUTHORITY);
    assert.ok(Date.now() - t0 < 5000);
  });
});

describe('Kerberos package: handshakes and messages', () => {
  test('mutual authentication: AP-REQ, AP-REP, flags, names, sizes, wrap/MIC both ways', async () => {
    const s = await setup();
    const { client, server } = await pair(s, ['MUTUAL_AUTH', 'CONFIDENTIALITY', 'INTEGRITY', 'REPLAY_DETECT', 'SEQUENCE_DETECT']);
    const tokens = await handshake(client, server);
    assert.equal(tokens.length, 2);
    assert.equal(tokens[0]![0], 0x60);
    assert.ok(client.has(ISC_RET.MUTUAL_AUTH) && client.has(ISC_RET.CONFIDENTIALITY) && client.has(ISC_RET.SEQUENCE_DETECT));
    assert.ok(server.has(ASC_RET.MUTUAL_AUTH) && server.has(ASC_RET.REPLAY_DETECT));
    const names = await server.query<{ sUserName: string }>(SECPKG_ATTR.NAMES);
    assert.equal(names.sUserName, `alice@${REALM}`);
    const native = await client.query<{ sClientName: string; sServerName: string }>(SECPKG_ATTR.NATIVE_NAMES);
    assert.deepEqual(native, { sClientName: `alice@${REALM}`, sServerName: `${SPN}@${REALM}` });
    const sizes = await client.query<{ cbMaxSignature: number; cbSecurityTrailer: number; cbMaxToken: number }>(SECPKG_ATTR.SIZES);
    assert.deepEqual([sizes.cbMaxToken, sizes.cbMaxSignature, sizes.cbSecurityTrailer], [48000, 28, 60]);
    const ck = await client.query<{ SessionKey: Uint8Array }>(SECPKG_ATTR.SESSION_KEY);
    const sk = await server.query<{ SessionKey: Uint8Array }>(SECPKG_ATTR.SESSION_KEY);
    assert.deepEqual(ck.SessionKey, sk.SessionKey);
    const life = await server.query<{ tsExpiry: bigint }>(SECPKG_ATTR.LIFESPAN);
    assert.equal(typeof life.tsExpiry, 'bigint');
    const info = await server.query<{ user: string; kvno: number }>(TSLSA_KERB_ATTR.TICKET_INFO);
    assert.equal(info.user, 'alice');
    assert.equal(info.kvno, 3);
    messagesBothWays(client, server);
    // One credential: the service ticket comes from the TGS once, then from its cache.
    const cred = await clientCred(s);
    const before = s.kdc.log.length;
    for (let i = 0; i < 2; i++) {
      const c = SecurityContext.client(cred, { target: SPN, flags: ['MUTUAL_AUTH'] });
      await handshake(c, SecurityContext.server(await serverCred(s), {}));
    }
    assert.equal(s.kdc.log.length, before + 1, 'one TGS exchange for two contexts');
  });

  test('EncryptMessage layout: TOKEN holds header+tail (RRC 28), DATA encrypted in place; tampering → SEC_E_MESSAGE_ALTERED; replay → SEC_E_OUT_OF_SEQUENCE', async () => {
    const s = await setup();
    const { client, server } = await pair(s, ['MUTUAL_AUTH', 'CONFIDENTIALITY', 'REPLAY_DETECT', 'SEQUENCE_DETECT']);
    await handshake(client, server);
    const sspi = client.sspi;
    const msg = enc.encode('attack at dawn, bring snacks');
    const data = secBuffer(SECBUFFER.DATA, msg.slice());
    const tok = outputBuffer(SECBUFFER.TOKEN, 60);
    assert.equal(sspi.EncryptMessage(client.contextHandle!, 0, secBufferDesc(tok, data), 0), SecurityStatus.SEC_E_OK);
    const t = bufferBytes(tok);
    assert.equal(t.length, 60);
    assert.equal((t[6]! << 8) | t[7]!, 28, 'RRC 28');
    assert.notDeepEqual(bufferBytes(data), msg);
    // DecryptMessage over TOKEN + DATA, in place.
    const d2 = secBuffer(SECBUFFER.DATA, bufferBytes(data).slice());
    const r = server.sspi.DecryptMessage(server.contextHandle!, secBufferDesc(secBuffer(SECBUFFER.TOKEN, t.slice()), d2), 0);
    assert.equal(r.status, SecurityStatus.SEC_E_OK);
    assert.deepEqual(bufferBytes(d2), msg);
    // The same token again: a replay.
    const d3 = secBuffer(SECBUFFER.DATA, bufferBytes(data).slice());
    assert.equal(server.sspi.DecryptMessage(server.contextHandle!, secBufferDesc(secBuffer(SECBUFFER.TOKEN, t.slice()), d3), 0).status, SecurityStatus.SEC_E_OUT_OF_SEQUENCE);
    // Tampered Wrap and MIC tokens.
    const w = client.wrap(msg);
    for (const at of [20, w.length - 1]) {
      const bad = w.slice();
      bad[at]! ^= 1;
      assert.throws(() => server.unwrap(bad), code(SecurityStatus.SEC_E_MESSAGE_ALTERED));
    }
    assert.deepEqual(Buffer.from(server.unwrap(w).message), Buffer.from(msg));
    const mic = client.sign(msg);
    assert.throws(() => server.verify(enc.encode('attack at dusk, bring snacks'), mic), code(SecurityStatus.SEC_E_MESSAGE_ALTERED));
    // A failed check records nothing: the genuine token still verifies, in sequence.
    server.verify(msg, mic);
    // Sign-only wrap: TOKEN 28 bytes (header + checksum, RRC 12), DATA left in the clear.
    const dat = secBuffer(SECBUFFER.DATA, msg.slice());
    const tk = outputBuffer(SECBUFFER.TOKEN, 60);
    assert.equal(sspi.EncryptMessage(client.contextHandle!, SECQOP_WRAP_NO_ENCRYPT, secBufferDesc(tk, dat), 0), SecurityStatus.SEC_E_OK);
    assert.equal(tk.cbBuffer, 28);
    assert.deepEqual(bufferBytes(dat), msg);
    const rr = server.sspi.DecryptMessage(server.contextHandle!, secBufferDesc(secBuffer(SECBUFFER.TOKEN, bufferBytes(tk).slice()), secBuffer(SECBUFFER.DATA, msg.slice())), 0);
    assert.equal(rr.status, SecurityStatus.SEC_E_OK);
    assert.equal(rr.pfQOP, SECQOP_WRAP_NO_ENCRYPT);
    // A too-small TOKEN buffer.
    assert.equal(sspi.EncryptMessage(client.contextHandle!, 0, secBufferDesc(outputBuffer(SECBUFFER.TOKEN, 10), secBuffer(SECBUFFER.DATA, msg.slice())), 0), SecurityStatus.SEC_E_BUFFER_TOO_SMALL);
  });

  test('no mutual authentication: one leg, SEC_E_OK at once, tokens still flow both ways', async () => {
    const s = await setup();
    const { client, server } = await pair(s, ['CONFIDENTIALITY', 'INTEGRITY']);
    const tokens = await handshake(client, server);
    assert.equal(tokens.length, 1);
    assert.ok(!client.has(ISC_RET.MUTUAL_AUTH));
    messagesBothWays(client, server);
  });

  test('DCE style: three legs (raw AP-REP both ways), then messages', async () => {
    const s = await setup();
    const cred = await clientCred(s);
    const client = SecurityContext.client(cred, { target: SPN, flags: ['MUTUAL_AUTH', 'USE_DCE_STYLE', 'CONFIDENTIALITY'] });
    const server = SecurityContext.server(await serverCred(s), {});
    const t1 = (await client.step())!;
    const t2 = (await server.step(t1))!;
    assert.equal(server.complete, false);
    assert.equal(t2[0], 0x6f, 'raw AP-REP');
    const t3 = (await client.step(t2))!;
    assert.ok(client.complete);
    assert.equal(t3[0], 0x6f);
    assert.equal(await server.step(t3), null);
    assert.ok(server.complete);
    assert.ok(client.has(ISC_RET.USED_DCE_STYLE));
    // Freeing the credential empties and zeroes its ticket cache; the context keeps its own keys.
    await cred.free();
    messagesBothWays(client, server);
  });

  test('delegation: the acceptor gets a ccache with a forwarded TGT it can use', async () => {
    const s = await setup();
    const { client, server } = await pair(s, ['MUTUAL_AUTH', 'DELEGATE']);
    await handshake(client, server);
    assert.ok(client.has(ISC_RET.DELEGATE));
    assert.ok(server.has(ASC_RET.DELEGATE));
    const d = await server.query<{ name: string; principal: string; ccache: Uint8Array }>(TSLSA_KERB_ATTR.DELEGATED_CCACHE);
    assert.equal(d.principal, `alice@${REALM}`);
    const cc = parseCcache(d.ccache);
    assert.deepEqual(cc.credentials[0]!.server.components, ['krbtgt', REALM]);
    assert.ok(cc.credentials[0]!.ticketFlags & 0x20000000, 'FORWARDED');
    assert.ok(d.name.startsWith('FILE:') && existsSync(d.name.slice(5)));
    // Use the delegated TGT: a new initiator from that ccache reaches the service.
    const fwd = await clientCred(s, { ccache: d.name });
    const c2 = SecurityContext.client(fwd, { target: 'HTTP@other.example.test', flags: ['MUTUAL_AUTH'] });
    const s2 = SecurityContext.server(await serverCred(s), {});
    await handshake(c2, s2);
    await server.delete();
    assert.ok(!existsSync(d.name.slice(5)), 'the delegated ccache goes with the context');
    // Without DELEGATE, nothing is delegated.
    const p = await pair(s, ['MUTUAL_AUTH']);
    await handshake(p.client, p.server);
    await assert.rejects(p.server.query(TSLSA_KERB_ATTR.DELEGATED_CCACHE), code(SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION));
  });

  test('delegation follows OK-AS-DELEGATE as Windows does (MS-KILE 3.2.5.1); `delegation: always` as MIT\'s GSS_C_DELEG_FLAG', async () => {
    // other.example.test's ticket is not OK-AS-DELEGATE: DELEGATE asked, the context goes on without.
    const s = await setup();
    const p = await pair(s, ['MUTUAL_AUTH', 'DELEGATE'], 'HTTP/other.example.test');
    await handshake(p.client, p.server);
    assert.ok(!p.client.has(ISC_RET.DELEGATE) && !p.server.has(ASC_RET.DELEGATE));
    assert.ok(!s.kdc.log.some((r) => r.reqBody.sname?.nameString[0] === 'krbtgt' && r.reqBody.kdcOptions & 0x20000000), 'no forwarded TGT was asked for');
    const always = await setup({ config: { delegation: 'always' } });
    const q = await pair(always, ['MUTUAL_AUTH', 'DELEGATE'], 'HTTP/other.example.test');
    await handshake(q.client, q.server);
    assert.ok(q.client.has(ISC_RET.DELEGATE) && q.server.has(ASC_RET.DELEGATE));
    assert.equal((await q.server.query<{ principal: string }>(TSLSA_KERB_ATTR.DELEGATED_CCACHE)).principal, `alice@${REALM}`);
    await assert.rejects(createLsa({ packages: [kerberosPackage({ krb5Conf: parseKrb5Conf(''), env: {}, delegation: 'sometimes' as 'always' })] }).then((h) => h.shutdown()));
  });

  test('channel bindings: matching pass, different refused with SEC_E_BAD_BINDINGS', async () => {
    const s = await setup();
    const cb = { applicationData: enc.encode('tls-server-end-point:abc') };
    const ok = { client: SecurityContext.client(await clientCred(s), { target: SPN, flags: ['MUTUAL_AUTH'], channelBindings: cb }), server: SecurityContext.server(await serverCred(s), { channelBindings: cb }) };
    await handshake(ok.client, ok.server);
    const c = SecurityContext.client(await clientCred(s), { target: SPN, flags: ['MUTUAL_AUTH'], channelBindings: cb });
    const sv = SecurityContext.server(await serverCred(s), { channelBindings: { applicationData: enc.encode('tls-server-end-point:xyz') } });
    await assert.rejects(sv.step((await c.step())!), code(SecurityStatus.SEC_E_BAD_BINDINGS));
  });

  test('export and import of an established context keep the sequence numbers', async () => {
    const s = await setup();
    const { client, server } = await pair(s, ['MUTUAL_AUTH', 'CONFIDENTIALITY', 'SEQUENCE_DETECT']);
    await handshake(client, server);
    server.unwrap(client.wrap(enc.encode('one')));
    const packed = await server.export();
    const imported = await SecurityContext.import(server.sspi, 'Kerberos', packed);
    assert.equal(new TextDecoder().decode(imported.unwrap(client.wrap(enc.encode('two'))).message), 'two');
  });
});

describe('Kerberos package: rc4-hmac sessions (RFC 4757 tokens in the user-mode half)', () => {
  const weak = parseKrb5Conf(`[libdefaults]
 default_realm = ${REALM}
 allow_weak_crypto = true
 permitted_enctypes = aes256-cts-hmac-sha1-96 arcfour-hmac
[domain_realm]
 .example.test = ${REALM}
`);

  test('handshake with an rc4 session key; wrap/MIC both ways; sizes; MIT-style RFC 1964 tokens', async () => {
    const s = await setup({ kdc: { sessionEnctype: 23 }, config: { krb5Conf: weak } });
    const { client, server } = await pair(s, ['MUTUAL_AUTH', 'CONFIDENTIALITY', 'INTEGRITY', 'REPLAY_DETECT', 'SEQUENCE_DETECT']);
    await handshake(client, server);
    const info = await client.query<{ enctype: number }>(TSLSA_KERB_ATTR.TICKET_INFO);
    assert.equal(info.enctype, 23);
    const sizes = await client.query<{ cbMaxSignature: number; cbSecurityTrailer: number; cbBlockSize: number }>(SECPKG_ATTR.SIZES);
    assert.deepEqual([sizes.cbMaxSignature, sizes.cbSecurityTrailer, sizes.cbBlockSize], [37, 48, 1]);
    messagesBothWays(client, server);
    const mic = client.sign(enc.encode('x'));
    assert.equal(mic.length, 37);
    assert.equal(Buffer.from(mic.subarray(13, 15)).toString('hex'), '0101', 'RFC 1964 MIC TOK_ID');
    server.verify(enc.encode('x'), mic);
    const w = client.wrap(enc.encode('hello'));
    assert.equal(w[0], 0x60);
    assert.equal(Buffer.from(w.subarray(13, 19)).toString('hex'), '020111001000', 'sealed RC4 Wrap header');
    assert.equal(w.length, 45 + 5 + 1);
    server.unwrap(w);
    const ki = await client.query<{ EncryptAlgorithm: number }>(SECPKG_ATTR.KEY_INFO);
    assert.equal(ki.EncryptAlgorithm, 23);
  });

  test('EncryptMessage layout: TOKEN = framing+header+confounder, DATA in place, PADDING one byte; tamper/replay refused', async () => {
    const s = await setup({ kdc: { sessionEnctype: 23 }, config: { krb5Conf: weak } });
    const { client, server } = await pair(s, ['MUTUAL_AUTH', 'CONFIDENTIALITY', 'REPLAY_DETECT']);
    await handshake(client, server);
    const msg = enc.encode('attack at dawn, bring snacks');
    const data = secBuffer(SECBUFFER.DATA, msg.slice());
    const tok = outputBuffer(SECBUFFER.TOKEN, 48);
    const pad = outputBuffer(SECBUFFER.PADDING, 1);
    assert.equal(client.sspi.EncryptMessage(client.contextHandle!, 0, secBufferDesc(tok, data, pad), 0), SecurityStatus.SEC_E_OK);
    assert.equal(tok.cbBuffer, 45);
    assert.equal(pad.cbBuffer, 1);
    assert.notDeepEqual(bufferBytes(data), msg);
    const parts = () => secBufferDesc(secBuffer(SECBUFFER.TOKEN, bufferBytes(tok).slice()), secBuffer(SECBUFFER.DATA, bufferBytes(data).slice()), secBuffer(SECBUFFER.PADDING, bufferBytes(pad).slice()));
    const d1 = parts();
    assert.equal(server.sspi.DecryptMessage(server.contextHandle!, d1, 0).status, SecurityStatus.SEC_E_OK);
    assert.deepEqual(bufferBytes(d1.pBuffers[1]!), msg);
    assert.equal(server.sspi.DecryptMessage(server.contextHandle!, parts(), 0).status, SecurityStatus.SEC_E_OUT_OF_SEQUENCE);
    const bad = client.wrap(msg);
    bad[bad.length - 3]! ^= 1;
    assert.throws(() => server.unwrap(bad), code(SecurityStatus.SEC_E_MESSAGE_ALTERED));
    // No PADDING buffer, or a TOKEN too small for the framing: SEC_E_BUFFER_TOO_SMALL.
    assert.equal(client.sspi.EncryptMessage(client.contextHandle!, 0, secBufferDesc(outputBuffer(SECBUFFER.TOKEN, 48), secBuffer(SECBUFFER.DATA, msg.slice())), 0), SecurityStatus.SEC_E_BUFFER_TOO_SMALL);
    assert.equal(client.sspi.EncryptMessage(client.contextHandle!, 0, secBufferDesc(outputBuffer(SECBUFFER.TOKEN, 44), secBuffer(SECBUFFER.DATA, msg.slice()), outputBuffer(SECBUFFER.PADDING, 1)), 0), SecurityStatus.SEC_E_BUFFER_TOO_SMALL);
    // Sign-only: DATA stays in the clear, SEAL_ALG FF FF.
    const clear = secBuffer(SECBUFFER.DATA, msg.slice());
    const t2 = outputBuffer(SECBUFFER.TOKEN, 48);
    assert.equal(client.sspi.EncryptMessage(client.contextHandle!, SECQOP_WRAP_NO_ENCRYPT, secBufferDesc(t2, clear, outputBuffer(SECBUFFER.PADDING, 1)), 0), SecurityStatus.SEC_E_OK);
    assert.deepEqual(bufferBytes(clear), msg);
    assert.equal(Buffer.from(bufferBytes(t2).subarray(17, 19)).toString('hex'), 'ffff');
  });

  test('the weak-crypto gate: an rc4 context without the policy flag runs no tokens; export/import keeps the flag', async () => {
    const table = kerberosUserModeTable();
    const d = {
      side: 'initiator' as const, replayDetect: false, sequenceDetect: false, dceStyle: false, ContextAttributes: 0, sendSeq: 1, recvSeq: 1,
      endtime: Date.now() + 3600_000, key: { enctype: 23, keyvalue: new Uint8Array(16).fill(7) }, client: 'a@R', server: 'b/c@R',
    };
    assert.equal(table.InitUserModeContext!(1n, packContextData(d)), SecurityStatus.SEC_E_OK);
    const sig = () => secBufferDesc(secBuffer(SECBUFFER.DATA, enc.encode('m')), outputBuffer(SECBUFFER.TOKEN, 64));
    assert.equal(table.MakeSignature!(1n, 0, sig(), 0), SecurityStatus.SEC_E_ALGORITHM_MISMATCH);
    assert.equal(table.InitUserModeContext!(2n, packContextData({ ...d, allowWeak: true })), SecurityStatus.SEC_E_OK);
    assert.equal(table.MakeSignature!(2n, 0, sig(), 0), SecurityStatus.SEC_E_OK);
    const ex = await table.ExportContext!(2n, 0);
    assert.equal(unpackContextData(ex.PackedContext!).allowWeak, true);
    assert.equal(unpackContextData(ex.PackedContext!).sendSeq, 2);
    // DCE style has no rc4 layout here.
    assert.equal(table.InitUserModeContext!(3n, packContextData({ ...d, allowWeak: true, dceStyle: true })), SecurityStatus.SEC_E_OK);
    const dce = secBufferDesc(outputBuffer(SECBUFFER.TOKEN, 64), secBuffer(SECBUFFER.DATA, enc.encode('m')), outputBuffer(SECBUFFER.PADDING, 1));
    assert.equal(table.SealMessage!(3n, 0, dce, 0), SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION);
  });
});

describe('Kerberos package: refusals', () => {
  async function firstLeg(s: Setup, flags = ['MUTUAL_AUTH'], target = SPN): Promise<Uint8Array> {
    const c = SecurityContext.client(await clientCred(s), { target, flags });
    return (await c.step())!;
  }

  /** AcceptSecurityContext on one token with an output buffer, to see the KRB-ERROR. */
  async function accept(s: Setup, token: Uint8Array, principal?: string): Promise<{ status: number; out: Uint8Array }> {
    const cred = await serverCred(s, principal);
    const out = outputBuffer(SECBUFFER.TOKEN, 4096);
    const r = await cred.sspi.AcceptSecurityContext(cred.handle, null, secBufferDesc(secBuffer(SECBUFFER.TOKEN, token)), 0, SECURITY_NATIVE_DREP, null, secBufferDesc(out));
    return { status: r.status, out: bufferBytes(out) };
  }

  test('replayed AP-REQ → SEC_E_LOGON_DENIED (KRB_AP_ERR_REPEAT) with a KRB-ERROR token', async () => {
    const s = await setup();
    const t = await firstLeg(s);
    assert.equal((await accept(s, t)).status, SecurityStatus.SEC_E_OK);
    const again = await accept(s, t);
    assert.equal(again.status, SecurityStatus.SEC_E_LOGON_DENIED);
    assert.equal(again.out[0], 0x60, 'a framed KRB-ERROR');
  });

  /** A replay cache that answers later, as Redis does: a MemoryReplayCache behind a timer, or a failure. */
  function laterCache(): { cache: ReplayCache; fail: (why: Error | null) => void; asked: () => number } {
    const inner = new MemoryReplayCache();
    let failure: Error | null = null;
    let n = 0;
    const cache: ReplayCache = {
      checkAndStore(key, expiresAt) {
        n++;
        return new Promise((resolve, reject) => setTimeout(() => (failure ? reject(failure) : resolve(inner.checkAndStore(key, expiresAt) as boolean)), 5));
      },
    };
    return { cache, fail: (e) => (failure = e), asked: () => n };
  }

  test('a replay cache that answers later (Redis): fresh → AP-REP; replay → KRB_AP_ERR_REPEAT with a KRB-ERROR and nothing kept; a failed cache refuses', async () => {
    const later = laterCache();
    const s = await setup({ config: { replayCache: later.cache } });
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown): void => void unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const t = await firstLeg(s, ['MUTUAL_AUTH', 'DELEGATE']);
      const ok = await accept(s, t);
      assert.equal(ok.status, SecurityStatus.SEC_E_OK);
      assert.equal(parseKrb5Token(ok.out).tokId, Krb5TokId.KRB_AP_REP, 'an AP-REP');
      const saved = readdirSync(s.dir).filter((f) => f.startsWith('krb5cc_tslsa_')).length;
      assert.equal(saved, 1, 'the delegated credentials of the fresh AP-REQ');
      // The same AP-REQ again, refused once the cache has answered.
      const again = await accept(s, t);
      assert.equal(again.status, SecurityStatus.SEC_E_LOGON_DENIED);
      assert.equal(parseKrb5Token(again.out).tokId, Krb5TokId.KRB_ERROR, 'a KRB-ERROR, not an AP-REP');
      assert.equal(readdirSync(s.dir).filter((f) => f.startsWith('krb5cc_tslsa_')).length, saved, 'a replay saves no delegated credentials');
      // The cache cannot answer: the AP-REQ fails, never passes unchecked.
      later.fail(new SspiError(SecurityStatus.SEC_E_INTERNAL_ERROR, 'replay cache: unavailable'));
      const down = await accept(s, await firstLeg(s));
      assert.equal(down.status, SecurityStatus.SEC_E_INTERNAL_ERROR);
      assert.equal(later.asked(), 3, 'every AP-REQ asked the cache');
      await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  test('a ticket whose PAC does not parse → SEC_E_LOGON_DENIED (MS-PAC 2.8), and its delegated credentials are not saved', async () => {
    const s = await setup({ kdc: { pac: Uint8Array.of(4, 0, 0, 0, 0, 0, 0, 0, 0xff) } });
    const t = await firstLeg(s, ['MUTUAL_AUTH', 'DELEGATE']);
    const r = await accept(s, t);
    assert.equal(r.status, SecurityStatus.SEC_E_LOGON_DENIED);
    assert.deepEqual(readdirSync(s.dir).filter((f) => f.startsWith('krb5cc_tslsa_')), []);
    // The same client without the PAC problem is accepted, delegation and all.
    const ok = await setup();
    assert.equal((await accept(ok, await firstLeg(ok, ['MUTUAL_AUTH', 'DELEGATE']))).status, SecurityStatus.SEC_E_OK);
    assert.equal(readdirSync(ok.dir).filter((f) => f.startsWith('krb5cc_tslsa_')).length, 1);
  });

  test('an AP-REQ that does not fit the caller\'s buffer → SEC_E_BUFFER_TOO_SMALL, no context; the credential and its ticket still work', async () => {
    const s = await setup();
    const cred = await clientCred(s);
    const small = outputBuffer(SECBUFFER.TOKEN, 10);
    const r = await cred.sspi.InitializeSecurityContext(cred.handle, null, SPN, ISC_REQ.MUTUAL_AUTH | ISC_REQ.DELEGATE, 0, SECURITY_NATIVE_DREP, null, 0, null, secBufferDesc(small));
    assert.equal(r.status, SecurityStatus.SEC_E_BUFFER_TOO_SMALL);
    assert.equal(r.phNewContext ?? null, null);
    // The failed attempt zeroed its own key copies, not the cached ticket's key: the next AP-REQ is good.
    const tgs = s.kdc.log.length;
    const client = SecurityContext.client(cred, { target: SPN, flags: ['MUTUAL_AUTH'] });
    const server = SecurityContext.server(await serverCred(s), {});
    await handshake(client, server);
    assert.equal(s.kdc.log.length, tgs, 'the cached service ticket was used');
    messagesBothWays(client, server);
  });

  test('a rotated service key (new kvno): one inbound handle reads the keytab again, and a ticket under the old key still opens', async () => {
    const s = await setup();
    const inbound = await serverCred(s);
    const early = await clientCred(s); // keeps its kvno 3 service ticket
    const session = async (client: Credentials): Promise<void> => {
      const c = SecurityContext.client(client, { target: SPN, flags: ['MUTUAL_AUTH', 'CONFIDENTIALITY', 'INTEGRITY'] });
      const v = SecurityContext.server(inbound, {});
      await handshake(c, v);
      messagesBothWays(c, v);
    };
    await session(early);
    writeKeytabFile(s.keytabPath, s.kdc.rotate());
    await session(await clientCred(s)); // kvno 4: not in the handle's keytab until it reads it again
    await session(early); // kvno 3 again, under the re-read keytab's copy of the old key
  });

  test('clock skew → SEC_E_TIME_SKEW, and the initiator maps the KRB-ERROR the same way', async () => {
    const s = await setup({ config: { now: () => new Date(Date.now() + 20 * 60_000) } });
    const c = SecurityContext.client(await clientCred(s), { target: SPN, flags: ['MUTUAL_AUTH'] });
    const t = (await c.step())!;
    const r = await accept(s, t);
    assert.equal(r.status, SecurityStatus.SEC_E_TIME_SKEW);
    await assert.rejects(c.step(r.out), code(SecurityStatus.SEC_E_TIME_SKEW));
  });

  test('wrong SPN → SEC_E_WRONG_PRINCIPAL; wrong kvno → SEC_E_WRONG_PRINCIPAL; unknown service → SEC_E_TARGET_UNKNOWN', async () => {
    const s = await setup();
    assert.equal((await accept(s, await firstLeg(s), `HTTP/other.example.test@${REALM}`)).status, SecurityStatus.SEC_E_WRONG_PRINCIPAL);
    const k = await setup({ kdc: { kvno: 4 } });
    assert.equal((await accept(k, await firstLeg(k))).status, SecurityStatus.SEC_E_WRONG_PRINCIPAL);
    await assert.rejects(firstLeg(s, ['MUTUAL_AUTH'], 'HTTP/unknown.example.test'), code(SecurityStatus.SEC_E_TARGET_UNKNOWN));
  });

  test('expired ticket → SEC_E_CONTEXT_EXPIRED', async () => {
    const s = await setup({ kdc: { lifetimeMs: -3600_000 } });
    assert.equal((await accept(s, await firstLeg(s))).status, SecurityStatus.SEC_E_CONTEXT_EXPIRED);
  });

  test('garbage and tampered AP-REQs are typed errors, never crashes', async () => {
    const s = await setup();
    const t = await firstLeg(s);
    for (const bad of [new Uint8Array([1, 2, 3]), t.subarray(0, 40), Uint8Array.from(t, (b, i) => (i === t.length - 5 ? b ^ 0x40 : b))]) {
      const r = await accept(s, bad);
      assert.ok((r.status | 0) < 0 && r.status !== SecurityStatus.SEC_E_INTERNAL_ERROR, `0x${r.status.toString(16)}`);
    }
    // A bad AP-REP at the initiator.
    const c = SecurityContext.client(await clientCred(s), { target: SPN, flags: ['MUTUAL_AUTH'] });
    await c.step();
    await assert.rejects(c.step(new Uint8Array([0x6f, 0x03, 0x30, 0x01, 0x00])), (e: unknown) => e instanceof SspiError);
  });

  test('fuzz: random and mutated tokens to AcceptSecurityContext, DecryptMessage, VerifySignature and the AP-REP leg give SSPI errors only', async () => {
    const s = await setup();
    const { client, server } = await pair(s, ['MUTUAL_AUTH', 'CONFIDENTIALITY', 'REPLAY_DETECT']);
    await handshake(client, server);
    const apReq = await firstLeg(s);
    const wrapTok = client.wrap(enc.encode('fuzz me'));
    const mutate = (base: Uint8Array) => fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 1, max: 255 }), fc.nat(base.length)).map(([i, x, cut]) => {
      const b = base.slice(0, Math.max(1, cut));
      if (i < b.length) b[i]! ^= x;
      return b;
    });
    const anyToken = fc.oneof(fc.uint8Array({ maxLength: 300, size: 'max' }), mutate(apReq), mutate(wrapTok));
    await fc.assert(fc.asyncProperty(anyToken, async (t) => {
      const hex = Buffer.from(t).toString('hex');
      const r = await accept(s, t);
      assert.ok(((r.status | 0) < 0 && r.status !== SecurityStatus.SEC_E_INTERNAL_ERROR) || r.status === SecurityStatus.SEC_E_OK, `accept 0x${r.status.toString(16)} ${hex}`);
      const d = server.sspi.DecryptMessage(server.contextHandle!, secBufferDesc(secBuffer(SECBUFFER.STREAM, t.slice()), secBuffer(SECBUFFER.DATA, null)), 0);
      assert.ok((d.status | 0) < 0 && d.status !== SecurityStatus.SEC_E_INTERNAL_ERROR, `decrypt 0x${d.status.toString(16)} ${hex}`);
      const v = server.sspi.VerifySignature(server.contextHandle!, secBufferDesc(secBuffer(SECBUFFER.DATA, enc.encode('m')), secBuffer(SECBUFFER.TOKEN, t.slice())), 0);
      assert.ok((v.status | 0) < 0 && v.status !== SecurityStatus.SEC_E_INTERNAL_ERROR, `verify 0x${v.status.toString(16)} ${hex}`);
      const c = SecurityContext.client(await clientCred(s), { target: SPN, flags: ['MUTUAL_AUTH'] });
      await c.step();
      await assert.rejects(c.step(t.length ? t : new Uint8Array([0])), (e: unknown) => {
        assert.ok(e instanceof SspiError && e.status !== SecurityStatus.SEC_E_INTERNAL_ERROR, `AP-REP leg ${String(e)} ${hex}`);
        return true;
      });
    }), { numRuns: Number(process.env.KPKG_FUZZ_RUNS ?? 150) });
  });

  test('an initiator call with ISC_REQ flags on inbound-only credentials: SEC_E_NO_CREDENTIALS', async () => {
    const s = await setup();
    const cred = await serverCred(s);
    const r = await cred.sspi.InitializeSecurityContext(cred.handle, null, SPN, ISC_REQ.MUTUAL_AUTH, 0, SECURITY_NATIVE_DREP, null, 0, null, secBufferDesc(outputBuffer(SECBUFFER.TOKEN, 100)));
    assert.equal(r.status, SecurityStatus.SEC_E_NO_CREDENTIALS);
  });
});
