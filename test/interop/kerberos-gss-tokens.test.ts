// The krb5 GSS building blocks against MIT krb5 at the token level:
//  - an AP-REQ we build from kinit+kvno's ccache, verified by our acceptor with the MIT keytab;
//  - our initiator tokens (AP-REQ, Wrap, MIC check) driving MIT gss-server;
//  - MIT gss-client driving our acceptor tokens (AP-REQ check, AP-REP, Unwrap, MIC).
// A missing MIT binary fails these tests (createRealm / runGssServer / runGssClient).
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
import { readKeytabFile, formatPrincipal, findKeys } from '../../src/packages/kerberos/keytab.js';
import { findPac, parsePac, verifyPacServerSignature } from '../../src/packages/kerberos/pac.js';
import { MemoryReplayCache } from '../../src/packages/kerberos/replay.js';
import { acceptApReq, buildApRep, buildApReq, generateSeqNumber, generateSubkey, verifyApRep } from '../../src/packages/kerberos/gss/apreq.js';
import { GssFlags } from '../../src/packages/kerberos/gss/checksum.js';
import { createTokenState, getMic, unwrap, verifyMic, wrap } from '../../src/packages/kerberos/gss/tokens.js';

const T = { timeout: 60_000 };
const FLAGS = GssFlags.GSS_C_MUTUAL_FLAG | GssFlags.GSS_C_REPLAY_FLAG | GssFlags.GSS_C_SEQUENCE_FLAG | GssFlags.GSS_C_CONF_FLAG | GssFlags.GSS_C_INTEG_FLAG;

describe('krb5 GSS tokens against MIT', () => {
  let setup: Promise<Realm> | undefined;
  const r = (): Promise<Realm> => (setup ??= createRealm());
  after(async () => {
    if (setup) await (await setup.catch(() => undefined))?.stop();
  });

  async function serviceTicket(realm: Realm, enctype?: string): Promise<Credential> {
    return mitServiceTicket(realm, join(realm.dir, `svc-${enctype ?? 'default'}.cc`), enctype);
  }

  for (const enctype of ['aes256-cts-hmac-sha1-96', 'aes128-cts-hmac-sha256-128', 'aes256-cts-hmac-sha384-192']) {
    test(`our AP-REQ from MIT's ticket (${enctype}) passes our acceptor with MIT's keytab`, T, async () => {
      const realm = await r();
      const cred = await serviceTicket(realm, enctype);
      const req = buildApReq({
        ticket: cred.ticket, sessionKey: cred.key, crealm: cred.client.realm,
        cname: { nameType: cred.client.nameType, nameString: cred.client.components }, gssFlags: FLAGS,
      });
      const acc = await acceptApReq(req.token, { keytab: readKeytabFile(realm.httpKeytab), replayCache: new MemoryReplayCache() });
      assert.equal(formatPrincipal(acc.client), `user@${realm.realm}`);
      assert.equal(formatPrincipal(acc.server), `HTTP/localhost@${realm.realm}`);
      assert.equal(acc.gssFlags, FLAGS);
      // MIT 1.20 puts a PAC (client info + signatures) in every ticket: parse it and check the server signature.
      const pacBytes = findPac(acc.encTicketPart.authorizationData);
      assert.ok(pacBytes, 'MIT ticket carries a PAC');
      const pac = parsePac(pacBytes);
      assert.equal(pac.clientInfo?.name, 'user');
      const svcKey = findKeys(readKeytabFile(realm.httpKeytab), acc.server, acc.kvno, acc.ticket.encPart.etype)[0]!.key;
      assert.equal(verifyPacServerSignature(pac, svcKey), true);
      assert.equal(verifyPacServerSignature(pac, generateSubkey(svcKey.enctype)), false);
    });
  }

  test('our initiator drives MIT gss-server: AP-REQ, AP-REP, Wrap, MIC', T, async () => {
    const realm = await r();
    const cred = await serviceTicket(realm);
    const server = await runGssServer(realm);
    try {
      const c = await GssSampleClient.connect(server.port);
      const req = buildApReq({
        ticket: cred.ticket, sessionKey: cred.key, crealm: cred.client.realm,
        cname: { nameType: cred.client.nameType, nameString: cred.client.components }, gssFlags: FLAGS,
      });
      c.sendToken(TOKEN_NOOP | TOKEN_CONTEXT_NEXT);
      c.sendToken(TOKEN_CONTEXT, req.token);
      const rep = await c.readToken();
      assert.equal(rep.flags, TOKEN_CONTEXT);
      const v = verifyApRep(rep.token, cred.key, req.authenticator);
      assert.ok(v.subkey, 'MIT sends an acceptor subkey');
      const st = createTokenState({
        initiator: true, key: req.subkey!, acceptorSubkey: v.subkey!, localSeq: req.seqNumber, remoteSeq: v.seqNumber ?? 0,
        replayDetect: true, sequenceDetect: true,
      });
      const msg = 'hello from tslsa tokens';
      c.sendToken(TOKEN_DATA | TOKEN_WRAPPED | TOKEN_ENCRYPTED | TOKEN_SEND_MIC, wrap(st, new TextEncoder().encode(msg)));
      const mic = await c.readToken();
      assert.equal(mic.flags, TOKEN_MIC);
      assert.equal(verifyMic(st, new TextEncoder().encode(msg), mic.token), 'GSS_S_COMPLETE');
      await endServerSession(c, server, msg);
    } finally {
      await server.stop();
    }
  });

  for (const rrc of [0, 28]) {
    test(`MIT gss-client drives our acceptor tokens (our Wrap/MIC replies, RRC ${rrc} irrelevant to MIT's sends)`, T, async () => {
      const realm = await r();
      await realm.kinit('user');
      const side = await GssSampleServerSide.listen();
      try {
        const client = runGssClient(realm, { port: side.port, message: 'hello from MIT', seq: true });
        const conn = await side.accept();
        const acc = await acceptApReq(await readOpeningToken(conn), { keytab: readKeytabFile(realm.httpKeytab), replayCache: new MemoryReplayCache() });
        assert.equal(formatPrincipal(acc.client), `user@${realm.realm}`);
        assert.ok(acc.mutualRequired);
        const subkey = generateSubkey((acc.initiatorSubkey ?? acc.sessionKey).enctype);
        const seq = generateSeqNumber();
        const { authenticator } = acc;
        conn.sendToken(TOKEN_CONTEXT, buildApRep({ sessionKey: acc.sessionKey, ctime: authenticator.ctime, cusec: authenticator.cusec, subkey, seqNumber: seq }));
        const st = createTokenState({
          initiator: false, key: acc.initiatorSubkey ?? acc.sessionKey, acceptorSubkey: subkey, localSeq: seq, remoteSeq: acc.remoteSeq,
          replayDetect: (acc.gssFlags & GssFlags.GSS_C_REPLAY_FLAG) !== 0, sequenceDetect: (acc.gssFlags & GssFlags.GSS_C_SEQUENCE_FLAG) !== 0,
        });
        const data = await conn.readToken();
        assert.equal(data.flags & TOKEN_WRAPPED, TOKEN_WRAPPED);
        const u = unwrap(st, data.token);
        assert.equal(u.conf, true);
        assert.equal(new TextDecoder().decode(u.data), 'hello from MIT');
        conn.sendToken(TOKEN_MIC, getMic(st, u.data));
        await endClientRun(conn, client);
        // Our own Wrap with the rotation Windows uses must still be a valid RFC 4121 token for us.
        const back = createTokenState({ initiator: true, key: acc.initiatorSubkey ?? acc.sessionKey, acceptorSubkey: subkey, localSeq: acc.remoteSeq + 1, remoteSeq: seq + 1, replayDetect: true, sequenceDetect: true });
        assert.equal(new TextDecoder().decode(unwrap(back, wrap(st, new TextEncoder().encode('x'), { rrc })).data), 'x');
      } finally {
        await side.close();
      }
    });
  }
});
