// RFC 4757 7 tokens (rc4-hmac sessions) against MIT krb5 at the token level: our Wrap/MIC with an
// rc4-hmac ticket driving MIT gss-server, and MIT gss-client (rc4 ticket in its ccache) driving our
// acceptor side; then the same through SSPI (the Kerberos package's user-mode half runs the RFC 4757
// tokens). A missing MIT binary fails these tests (createRealm / runGssServer / runGssClient).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createRealm, type Realm } from './lib/realm.js';
import {
  GssSampleClient, GssSampleServerSide, endClientRun, endServerSession, readOpeningToken, runGssClient, runGssServer,
  TOKEN_CONTEXT, TOKEN_CONTEXT_NEXT, TOKEN_DATA, TOKEN_ENCRYPTED, TOKEN_MIC, TOKEN_NOOP, TOKEN_SEND_MIC, TOKEN_WRAPPED,
} from './lib/gss-sample.js';
import { mitServiceTicket } from './lib/mit-tickets.js';
import type { Credential } from '../../src/packages/kerberos/ccache.js';
import { readKeytabFile, formatPrincipal } from '../../src/packages/kerberos/keytab.js';
import { MemoryReplayCache } from '../../src/packages/kerberos/replay.js';
import { acceptApReq, buildApRep, buildApReq, generateSeqNumber, verifyApRep } from '../../src/packages/kerberos/gss/apreq.js';
import { GssFlags } from '../../src/packages/kerberos/gss/checksum.js';
import { createTokenState } from '../../src/packages/kerberos/gss/tokens.js';
import { gssGetMic, gssUnwrap, gssVerifyMic, gssWrap } from '../../src/packages/kerberos/gss/rc4tokens.js';
import { Credentials } from '../../src/credentials.js';
import { SecurityContext } from '../../src/context.js';
import { createLsa } from '../../src/lsa/host.js';
import { kerberosPackage, TSLSA_KERB_ATTR } from '../../src/packages/kerberos/package.js';
import { ASC_RET, ISC_RET, SECPKG_ATTR } from '../../src/sspi/flags.js';
import { runClientSession, runServerSession } from './lib/sspi-gss.js';

const T = { timeout: 60_000 };
const WEAK = { allowWeak: true };
const FLAGS = GssFlags.GSS_C_MUTUAL_FLAG | GssFlags.GSS_C_REPLAY_FLAG | GssFlags.GSS_C_SEQUENCE_FLAG | GssFlags.GSS_C_CONF_FLAG | GssFlags.GSS_C_INTEG_FLAG;
const enc = (s: string) => new TextEncoder().encode(s);

describe('RFC 4757 rc4-hmac GSS tokens against MIT', () => {
  let setup: Promise<Realm> | undefined;
  const r = (): Promise<Realm> => (setup ??= createRealm());
  after(async () => {
    if (setup) await (await setup.catch(() => undefined))?.stop();
  });

  async function rc4Ticket(realm: Realm, cc: string): Promise<Credential> {
    const cred = await mitServiceTicket(realm, cc, 'arcfour-hmac');
    assert.equal(cred.key.enctype, 23, 'the service ticket has an rc4-hmac session key');
    return cred;
  }

  test('our initiator with an rc4-hmac session drives MIT gss-server: sealed Wrap, MIT MIC back', T, async () => {
    const realm = await r();
    const cred = await rc4Ticket(realm, join(realm.dir, 'rc4-init.cc'));
    const server = await runGssServer(realm);
    try {
      const c = await GssSampleClient.connect(server.port);
      const req = buildApReq({
        ticket: cred.ticket, sessionKey: cred.key, crealm: cred.client.realm,
        cname: { nameType: cred.client.nameType, nameString: cred.client.components }, gssFlags: FLAGS, policy: WEAK,
      });
      c.sendToken(TOKEN_NOOP | TOKEN_CONTEXT_NEXT);
      c.sendToken(TOKEN_CONTEXT, req.token);
      const rep = await c.readToken();
      assert.equal(rep.flags, TOKEN_CONTEXT);
      const v = verifyApRep(rep.token, cred.key, req.authenticator, WEAK);
      const key = v.subkey ?? req.subkey ?? cred.key;
      assert.equal(key.enctype, 23);
      const st = createTokenState({
        initiator: true, key, localSeq: req.seqNumber, remoteSeq: v.seqNumber ?? 0, replayDetect: true, sequenceDetect: true, policy: WEAK,
      });
      const msg = 'hello from tslsa rc4 tokens';
      const tok = gssWrap(st, enc(msg));
      assert.equal(tok[0], 0x60, 'an RFC 1964 framed token');
      c.sendToken(TOKEN_DATA | TOKEN_WRAPPED | TOKEN_ENCRYPTED | TOKEN_SEND_MIC, tok);
      const mic = await c.readToken();
      assert.equal(mic.flags, TOKEN_MIC);
      assert.equal(Buffer.from(mic.token).subarray(13, 15).toString('hex'), '0101', 'MIT answers with an RFC 1964 MIC token');
      assert.equal(gssVerifyMic(st, enc(msg), mic.token), 'GSS_S_COMPLETE');
      await endServerSession(c, server, msg);
    } finally {
      await server.stop();
    }
  });

  test('MIT gss-client with an rc4-hmac ticket drives our acceptor: we unwrap MIT Wrap, MIT verifies our MIC', T, async () => {
    const realm = await r();
    const cc = join(realm.dir, 'rc4-client.cc');
    await rc4Ticket(realm, cc);
    const side = await GssSampleServerSide.listen();
    try {
      const client = runGssClient(realm, { port: side.port, message: 'hello from MIT over rc4', seq: true, ccache: cc });
      const conn = await side.accept();
      const acc = await acceptApReq(await readOpeningToken(conn), { keytab: readKeytabFile(realm.httpKeytab), replayCache: new MemoryReplayCache(), policy: WEAK });
      assert.equal(formatPrincipal(acc.client), `user@${realm.realm}`);
      assert.equal(acc.sessionKey.enctype, 23);
      const seq = generateSeqNumber();
      const { authenticator } = acc;
      // RFC 1964 contexts have no acceptor subkey: the initiator's subkey (or the session key) protects both ways.
      conn.sendToken(TOKEN_CONTEXT, buildApRep({ sessionKey: acc.sessionKey, ctime: authenticator.ctime, cusec: authenticator.cusec, seqNumber: seq, policy: WEAK }));
      const key = acc.initiatorSubkey ?? acc.sessionKey;
      assert.equal(key.enctype, 23);
      const st = createTokenState({
        initiator: false, key, localSeq: seq, remoteSeq: acc.remoteSeq,
        replayDetect: (acc.gssFlags & GssFlags.GSS_C_REPLAY_FLAG) !== 0, sequenceDetect: (acc.gssFlags & GssFlags.GSS_C_SEQUENCE_FLAG) !== 0, policy: WEAK,
      });
      const data = await conn.readToken();
      assert.equal(data.flags & TOKEN_WRAPPED, TOKEN_WRAPPED);
      assert.equal(Buffer.from(data.token).subarray(13, 19).toString('hex'), '020111001000', 'MIT sent an RFC 4757 sealed Wrap');
      const u = gssUnwrap(st, data.token);
      assert.equal(u.conf, true);
      assert.equal(new TextDecoder().decode(u.data), 'hello from MIT over rc4');
      conn.sendToken(TOKEN_MIC, gssGetMic(st, u.data));
      await endClientRun(conn, client);
    } finally {
      await side.close();
    }
  });

  // ---- the same through SSPI: the package's user-mode half runs the RFC 4757 tokens ----

  async function lsa(realm: Realm) {
    return createLsa({ packages: [kerberosPackage({ krb5Conf: realm.krb5ConfPath, keytab: realm.httpKeytab, env: realm.childEnv(), kdcTimeoutMs: 3000 })] });
  }

  test('SSPI: our initiator (rc4 service ticket in its ccache) with MIT gss-server: sealed and sign-only Wrap, MIT MIC', T, async () => {
    const realm = await r();
    const cc = join(realm.dir, 'rc4-sspi-init.cc');
    await rc4Ticket(realm, cc);
    const host = await lsa(realm);
    const cred = await Credentials.acquire(host.sspi(), { package: 'Kerberos', use: 'outbound', authData: { ccache: cc } });
    const server = await runGssServer(realm);
    try {
      for (const encrypt of [true, false]) {
        const ctx = SecurityContext.client(cred, { target: 'HTTP@localhost', flags: ['MUTUAL_AUTH', 'REPLAY_DETECT', 'SEQUENCE_DETECT', 'CONFIDENTIALITY', 'INTEGRITY'] });
        await runClientSession(server, ctx, { message: `rc4 over SSPI encrypt=${encrypt}`, encrypt });
        assert.equal((await ctx.query<{ enctype: number }>(TSLSA_KERB_ATTR.TICKET_INFO)).enctype, 23);
        assert.ok(ctx.has(ISC_RET.MUTUAL_AUTH));
        assert.equal((await ctx.query<{ cbSecurityTrailer: number }>(SECPKG_ATTR.SIZES)).cbSecurityTrailer, 48);
        await ctx.delete();
      }
    } finally {
      await server.stop();
    }
  });

  test('SSPI: MIT gss-client (rc4 ticket) with our acceptor, mutual and -seq: we unwrap, MIT verifies our MIC', T, async () => {
    const realm = await r();
    const cc = join(realm.dir, 'rc4-sspi-client.cc');
    await rc4Ticket(realm, cc);
    const host = await lsa(realm);
    for (const seq of [false, true]) {
      let ctx: SecurityContext | undefined;
      const s = await runServerSession(realm, { ccache: cc, seq, message: `hello over rc4 seq=${seq}` }, async () => {
        ctx = SecurityContext.server(await Credentials.acquire(host.sspi(), { package: 'Kerberos', use: 'inbound' }), {});
        return ctx;
      });
      assert.equal(s.error, undefined, String(s.error));
      assert.equal(s.message, `hello over rc4 seq=${seq}`);
      assert.ok(ctx!.has(ASC_RET.MUTUAL_AUTH));
      assert.equal(ctx!.has(ASC_RET.SEQUENCE_DETECT), seq);
      assert.equal((await ctx!.query<{ EncryptAlgorithm: number }>(SECPKG_ATTR.KEY_INFO)).EncryptAlgorithm, 23, 'rc4-hmac session');
    }
  });
});
