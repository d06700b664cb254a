// Self-test of the interop harness, peers only (no tslsa code): proves the realm, the gss-sample
// framing both ways, the ntlm_auth helpers and the gss-ntlmssp line peer before any package
// relies on them. A missing peer fails every test here with "run scripts/install-peers.sh".
import { after, describe, test } from 'node:test';
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { createRealm, ENCTYPES, REALM_BINARIES, SINGLE_ENCTYPE_USERS, type Realm } from './lib/realm.js';
import {
  describeFlags,
  GSS_CLIENT_NTLM_MECH,
  GssSampleClient,
  GssSampleServerSide,
  relayFrames,
  runGssClient,
  runGssServer,
  TOKEN_CONTEXT,
  TOKEN_CONTEXT_NEXT,
  TOKEN_DATA,
  TOKEN_ENCRYPTED,
  TOKEN_MIC,
  TOKEN_NOOP,
  TOKEN_SEND_MIC,
  TOKEN_WRAPPED,
  type GssServerHandle,
} from './lib/gss-sample.js';
import { NtlmAuthClient, NtlmAuthServer, summarizeNtlmMessage, NTLMSSP_NEGOTIATE_VERSION } from './lib/ntlm-auth.js';
import { establish, GssNtlmPeer, NTLM_MECH_OID, PeerError, requireGssNtlmPeer, SPNEGO_MECH_OID } from './lib/gssntlmssp.js';
import { isAlive, liveTrackedPids, processesMentioning, requireBinaries } from './lib/proc.js';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { type Capture, captureLoopback, captureWhile, dissectHttp } from './lib/capture.js';

const PEER_BINARIES = [...REALM_BINARIES, 'gss-server', 'gss-client', 'ntlm_auth'];
const T = { timeout: 30_000 };

// DER of the mechanism OIDs, to recognise them inside context tokens.
const KRB5_OID_DER = Buffer.from('06092a864886f712010202', 'hex');
const SPNEGO_OID_DER = Buffer.from('06062b0601050502', 'hex');
const NTLMSSP = Buffer.from('NTLMSSP\0', 'latin1');

const contains = (hay: Uint8Array, needle: Uint8Array): boolean => Buffer.from(hay).includes(Buffer.from(needle));
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('interop harness self-test (peers only)', () => {
  let realm: Realm | undefined;
  let gssServer: GssServerHandle | undefined;
  // Set up on first use rather than in before(): a missing peer then fails every test with the
  // install hint (node:test only reports a failed before() hook as "cancelled").
  let setup: Promise<Realm> | undefined;
  const r = (): Promise<Realm> =>
    (setup ??= (async () => {
      requireBinaries(PEER_BINARIES);
      await requireGssNtlmPeer();
      realm = await createRealm();
      return realm;
    })());

  after(async () => {
    await gssServer?.stop();
    await realm?.stop();
  });

  test('realm: KDC on 127.0.0.1, kinit user, klist -e, kvno HTTP/localhost', T, async () => {
    const realm = await r();
    assert.equal(realm.realm, 'EXAMPLE.TEST');
    assert.ok(realm.kdcPid !== undefined && isAlive(realm.kdcPid), 'krb5kdc runs');
    assert.ok(existsSync(realm.httpKeytab) && existsSync(realm.userKeytab));
    await realm.kinit('user');
    const tgt = await realm.klist();
    assert.match(tgt, /Default principal: user@EXAMPLE\.TEST/);
    assert.match(tgt, /krbtgt\/EXAMPLE\.TEST@EXAMPLE\.TEST/);
    assert.match(tgt, /Etype \(skey, tkt\): aes256-cts-hmac-sha1-96, aes256-cts-hmac-sha1-96/);
    assert.match(await realm.kvno('HTTP/localhost'), /HTTP\/localhost@EXAMPLE\.TEST: kvno = \d+/);
    // A service ticket with an RC4 session key: needs allow_rc4 on Debian's krb5.
    await realm.kvno('HTTP/localhost', { enctype: 'arcfour-hmac' });
    assert.match(await realm.klist(), /HTTP\/localhost@EXAMPLE\.TEST\n[^\n]*Etype \(skey, tkt\): (DEPRECATED:)?arcfour-hmac,/);
    // The keytab with password-derived keys works for kinit -k.
    const cc = join(realm.dir, 'cc-keytab');
    await realm.kinit('user', undefined, cc, { args: ['-k', '-t', realm.userKeytab] });
    assert.match(await realm.klist(cc), /Default principal: user@EXAMPLE\.TEST/);
  });

  test('realm: each single-enctype user gets its one enctype end to end', T, async () => {
    const realm = await r();
    for (const [user, enctype] of Object.entries(SINGLE_ENCTYPE_USERS)) {
      assert.ok((ENCTYPES as readonly string[]).includes(enctype));
      // Default request (all five enctypes): the reply can only use the user's one key.
      await realm.kinit(user, undefined, join(realm.dir, `cc-${user}-any`));
      // Asking for that enctype alone makes it the session key too, so klist -e shows it.
      const cc = join(realm.dir, `cc-${user}`);
      await realm.kinit(user, undefined, cc, { enctypes: [enctype] });
      const out = await realm.klist(cc);
      assert.match(out, new RegExp(`Default principal: ${user}@EXAMPLE\\.TEST`));
      assert.match(out, new RegExp(`Etype \\(skey, tkt\\): (DEPRECATED:)?${enctype},`), `${user}: ${out}`);
      // A different enctype for this user cannot work: it has no such key.
      const other = enctype === 'arcfour-hmac' ? 'aes256-cts-hmac-sha1-96' : 'arcfour-hmac';
      const bad = await realm.kinit(user, undefined, join(realm.dir, `cc-${user}-bad`), { enctypes: [other], allowFailure: true });
      assert.notEqual(bad.code, 0, `${user} must not get a ${other} reply`);
    }
    const log = realm.kdcLog();
    for (const [user, enctype] of Object.entries(SINGLE_ENCTYPE_USERS)) {
      assert.match(log, new RegExp(`ISSUE: .*rep=(DEPRECATED:)?${enctype}\\(\\d+\\).*\\}, ${user}@EXAMPLE\\.TEST for krbtgt`), `KDC log for ${user}`);
    }
  });

  test('realm: nopreauth needs no pre-authentication; user does', T, async () => {
    const realm = await r();
    await realm.kinit('nopreauth', undefined, join(realm.dir, 'cc-nopreauth'));
    const log = realm.kdcLog();
    assert.match(log, /NEEDED_PREAUTH: user@EXAMPLE\.TEST/);
    assert.doesNotMatch(log, /NEEDED_PREAUTH: nopreauth@EXAMPLE\.TEST/);
    assert.match(log, /ISSUE: .*nopreauth@EXAMPLE\.TEST for krbtgt/);
  });

  test('realm: principals added at run time with kadmin.local', T, async () => {
    const realm = await r();
    await realm.addPrincipal('alice', { password: 'Alice-Pw-1', enctypes: ['aes128-cts-hmac-sha256-128'] });
    const cc = join(realm.dir, 'cc-alice');
    await realm.kinit('alice', undefined, cc, { enctypes: ['aes128-cts-hmac-sha256-128'] });
    assert.match(await realm.klist(cc), /Etype \(skey, tkt\): aes128-cts-hmac-sha256-128,/);
    const kt = join(realm.dir, 'svc.keytab');
    await realm.addPrincipal('HTTP/svc.localhost', { keytab: kt });
    assert.ok(existsSync(kt));
    assert.match(await realm.kvno('HTTP/svc.localhost', { ccache: cc }), /kvno = \d+/);
    await assert.rejects(realm.addPrincipal('alice', { password: 'x' }), /kadmin\.local failed/);
  });

  for (const spnego of [false, true]) {
    test(`gss-sample: MIT gss-client ↔ our relay ↔ MIT gss-server (${spnego ? 'SPNEGO' : 'Kerberos'})`, T, async () => {
      const realm = await r();
      await realm.kinit('user');
      gssServer ??= await runGssServer(realm);
      const side = await GssSampleServerSide.listen();
      try {
        const message = `relayed ${spnego ? 'spnego' : 'krb5'} message`;
        const client = runGssClient(realm, { port: side.port, spnego, message, seq: true });
        const fromClient = await side.accept();
        const toServer = await GssSampleClient.connect(gssServer.port);
        const frames = await relayFrames(fromClient, toServer);
        const res = await client;
        const session = await gssServer.nextSession();
        const trace = frames.map((f) => `${f.dir} ${describeFlags(f.flags)} ${f.token.length}`).join('\n');
        assert.equal(res.code, 0, `gss-client failed:\n${res.stdout}\n${res.stderr}\n${trace}`);
        assert.match(res.stdout, /Signature verified/);
        assert.ok(session.completed, `gss-server log:\n${session.log}`);
        assert.equal(session.message, message);
        assert.equal(session.mech, '{ 1 2 840 113554 1 2 2 }');
        // The documented sequence, frame by frame.
        assert.deepEqual(frames[0], { dir: 'c2s', flags: TOKEN_NOOP | TOKEN_CONTEXT_NEXT, token: new Uint8Array(0) });
        const ctx = frames.filter((f) => f.flags === TOKEN_CONTEXT);
        assert.ok(ctx.length >= 2, trace);
        assert.equal(ctx[0]!.dir, 'c2s');
        assert.equal(ctx[0]!.token[0], 0x60, 'InitialContextToken');
        assert.ok(contains(ctx[0]!.token, spnego ? SPNEGO_OID_DER : KRB5_OID_DER), 'mechanism OID in the first token');
        assert.equal(ctx[1]!.dir, 's2c');
        const tail = frames.slice(-3).map((f) => [f.dir, f.flags]);
        assert.deepEqual(tail, [
          ['c2s', TOKEN_DATA | TOKEN_WRAPPED | TOKEN_ENCRYPTED | TOKEN_SEND_MIC],
          ['s2c', TOKEN_MIC],
          ['c2s', TOKEN_NOOP],
        ]);
      } finally {
        await side.close();
      }
    });
  }

  test('gss-sample: gss-client -nomutual sends the AP-REQ and gets no context reply', T, async () => {
    const realm = await r();
    await realm.kinit('user');
    gssServer ??= await runGssServer(realm);
    const side = await GssSampleServerSide.listen();
    try {
      const client = runGssClient(realm, { port: side.port, noMutual: true, message: 'no mutual' });
      const frames = await relayFrames(await side.accept(), await GssSampleClient.connect(gssServer.port));
      const res = await client;
      const session = await gssServer.nextSession();
      assert.equal(res.code, 0, res.stdout + res.stderr);
      assert.ok(session.completed, session.log);
      assert.deepEqual(
        frames.filter((f) => f.flags === TOKEN_CONTEXT).map((f) => f.dir),
        ['c2s'],
      );
    } finally {
      await side.close();
    }
  });

  test('gss-sample: MIT gss-client with the NTLM mech (gss-ntlmssp) ↔ gss-server, full session', T, async () => {
    const realm = await r();
    const users = join(realm.dir, 'ntlm-users');
    writeFileSync(users, 'EXAMPLE:user:Ntlm-Pw-1\n');
    const srv = await runGssServer(realm, { ntlmUserFile: users });
    try {
      // Kerberos stays usable in this environment (a TGT is in the ccache): -mech must still pick NTLM.
      const res = await runGssClient(realm, {
        port: srv.port,
        mech: GSS_CLIENT_NTLM_MECH,
        user: 'EXAMPLE\\user',
        pass: 'Ntlm-Pw-1',
        message: 'ntlm message',
        // Without -q gss-client stops after the handshake at gss_inquire_names_for_mech,
        // which gss-ntlmssp does not implement.
        quiet: true,
      });
      const session = await srv.nextSession();
      assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}\n${session.log}`);
      assert.equal(session.mech, '{ 1 3 6 1 4 1 311 2 2 10 }', session.log);
      assert.ok(session.completed, session.log);
      assert.equal(session.message, 'ntlm message');
    } finally {
      await srv.stop();
    }
  });

  test('ntlm_auth: client ↔ server with MIC; tampered MIC and wrong password refused', T, async () => {
    await r();
    const creds = { username: 'user', password: 'Ntlm-Pw-1', domain: 'EXAMPLE' };
    const run = async (clientPassword: string, tamperMic: boolean) => {
      const client = NtlmAuthClient.start({ ...creds, password: clientPassword });
      const server = NtlmAuthServer.start(creds);
      try {
        const negotiate = await client.negotiate();
        const neg = summarizeNtlmMessage(negotiate);
        assert.equal(neg.type, 1);
        assert.equal(negotiate.length, 40, 'NEGOTIATE with VERSION');
        const challenge = await server.challenge(negotiate);
        assert.equal(summarizeNtlmMessage(challenge).type, 2);
        const auth = await client.authenticate(challenge);
        const sum = summarizeNtlmMessage(auth);
        assert.equal(sum.type, 3);
        assert.equal(sum.user, 'user');
        assert.equal(sum.domain, 'EXAMPLE');
        assert.ok(sum.flags & NTLMSSP_NEGOTIATE_VERSION);
        assert.equal(sum.avFlags! & 2, 2, 'MsvAvFlags announces a MIC');
        assert.equal(sum.micOffset, 72);
        if (tamperMic) auth[sum.micOffset! + 3]! ^= 0x01;
        return await server.authenticate(auth);
      } finally {
        await client.close();
        await server.close();
      }
    };
    assert.deepEqual(await run(creds.password, false), { ok: true, user: 'EXAMPLE\\user' });
    const tampered = await run(creds.password, true);
    assert.equal(tampered.ok, false, 'a flipped MIC bit must be refused');
    const wrong = await run('not-the-password', false);
    assert.deepEqual(wrong, { ok: false, reason: 'NA NT_STATUS_LOGON_FAILURE' });
  });

  for (const mech of ['ntlm', 'spnego'] as const) {
    test(`gss-ntlmssp: python initiator ↔ python acceptor (${mech}), wrap/unwrap and MIC`, T, async () => {
      await r();
      const users = [{ domain: 'EXAMPLE', user: 'user', password: 'Ntlm-Pw-1' }];
      const acceptor = await GssNtlmPeer.start({ role: 'acceptor', mech, users });
      const initiator = await GssNtlmPeer.start({ role: 'initiator', mech, user: 'EXAMPLE\\user', password: 'Ntlm-Pw-1' });
      try {
        assert.equal(initiator.mechOid, mech === 'ntlm' ? NTLM_MECH_OID : SPNEGO_MECH_OID);
        const tokens = await establish(initiator, acceptor);
        if (mech === 'ntlm') {
          assert.deepEqual(tokens.map((t) => summarizeNtlmMessage(t.token).type), [1, 2, 3]);
          assert.equal(tokens[0]!.token.length, 40);
        } else {
          assert.equal(tokens[0]!.token[0], 0x60);
          assert.ok(contains(tokens[0]!.token, SPNEGO_OID_DER));
          assert.ok(tokens.every((t, i) => i === tokens.length - 1 || contains(t.token, NTLMSSP)), 'NTLM inside SPNEGO');
        }
        const ii = await initiator.info();
        const ai = await acceptor.info();
        assert.equal(ii.complete && ai.complete, true);
        assert.equal(ai.initiator, 'EXAMPLE\\user');
        assert.equal(ai.mech, NTLM_MECH_OID);
        assert.ok(ii.session_key && ii.session_key === ai.session_key, 'both sides derived the same session key');

        const msg = utf8('wrapped by the initiator');
        const w = await initiator.wrap(msg);
        assert.equal(w.encrypted, true);
        assert.ok(!contains(w.token, msg), 'sealed');
        const u = await acceptor.unwrap(w.token);
        assert.deepEqual(u.message, msg);
        assert.equal(u.encrypted, true);
        const back = await initiator.unwrap((await acceptor.wrap(utf8('reply'))).token);
        assert.deepEqual(back.message, utf8('reply'));

        const mic = await acceptor.getMic(msg);
        await initiator.verifyMic(msg, mic);
        await assert.rejects(initiator.verifyMic(utf8('something else'), mic), PeerError);
      } finally {
        await initiator.close();
        await acceptor.close();
      }
    });
  }

  test('gss-ntlmssp: a wrong password fails the handshake', T, async () => {
    await r();
    const acceptor = await GssNtlmPeer.start({ role: 'acceptor', users: [{ domain: 'EXAMPLE', user: 'user', password: 'right' }] });
    const initiator = await GssNtlmPeer.start({ role: 'initiator', user: 'EXAMPLE\\user', password: 'wrong' });
    try {
      await assert.rejects(establish(initiator, acceptor), PeerError);
    } finally {
      await initiator.close();
      await acceptor.close();
    }
  });

  test('KDC outage: kinit fails fast while the KDC is down, works after restart', T, async () => {
    const realm = await r();
    const oldPid = realm.kdcPid!;
    await realm.stopKdc();
    assert.equal(realm.kdcPid, undefined);
    assert.equal(isAlive(oldPid), false, 'krb5kdc stopped by PID');
    const cc = join(realm.dir, 'cc-outage');
    const down = await realm.kinit('user', undefined, cc, { allowFailure: true, timeoutMs: 10_000 });
    assert.notEqual(down.code, 0);
    assert.equal(down.timedOut, false, 'kinit must give up by itself');
    assert.ok(down.elapsedMs < 10_000);
    assert.match(down.stderr, /Cannot contact any KDC/);
    await realm.restartKdc();
    assert.ok(realm.kdcPid !== undefined && realm.kdcPid !== oldPid);
    await realm.kinit('user', undefined, cc);
  });

  test('teardown leaves no process and no realm dir behind', T, async () => {
    const realm = await r();
    const dir = realm.dir;
    const kdcPid = realm.kdcPid!;
    await gssServer?.stop();
    gssServer = undefined;
    await realm.stop();
    assert.equal(isAlive(kdcPid), false);
    assert.equal(existsSync(dir), false, 'realm dir removed');
    assert.deepEqual(liveTrackedPids(), [], 'every peer we started has exited');
    assert.deepEqual(processesMentioning(dir), [], 'no process still uses the realm');
  });
});

describe('interop harness self-test: tshark captures', () => {
  // Ports tshark 4.0 gives to other TCP dissectors (EtherNet/IP, AMS, ...), all inside Linux's
  // ephemeral range where our servers and clients land.
  const CLAIMED_PORTS = [44818, 48898, 34980, 44321, 48049];
  const NEGOTIATE = 'TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw==';
  const FIELDS = ['http.response.code', 'ntlmssp.messagetype'];
  // The request with the NEGOTIATE, then the 401, as tshark reads them.
  const EXCHANGE = [['', '0x00000001'], ['401', '']];
  const exchangeOf = (msgs: Array<Record<string, string>>): string[][] => msgs.map((m) => FIELDS.map((f) => m[f]!));

  /**
   * Runs `fn` with a plain node:http server answering 401 NTLM on the first of `ports` it can bind
   * (0: any) and a scratch directory, both gone afterwards.
   */
  async function withServer(ports: readonly number[], fn: (port: number, dir: string) => Promise<void>): Promise<void> {
    let server: Server | undefined;
    for (const port of ports) {
      const s = createServer((_req, res) => res.writeHead(401, { 'WWW-Authenticate': 'NTLM' }).end());
      const bound = await new Promise<boolean>((resolve) => s.once('error', () => resolve(false)).listen(port, '127.0.0.1', () => resolve(true)));
      if (bound) {
        server = s;
        break;
      }
    }
    if (!server) throw new Error(`none of ${ports.join(', ')} is free on 127.0.0.1`);
    const dir = mkdtempSync(join(tmpdir(), 'tslsa-capture-'));
    try {
      await fn((server.address() as AddressInfo).port, dir);
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** GET / with an NTLM NEGOTIATE; the status. */
  async function negotiate(port: number): Promise<number> {
    const r = await fetch(`http://127.0.0.1:${port}/`, { headers: { authorization: `NTLM ${NEGOTIATE}` } });
    await r.arrayBuffer();
    return r.status;
  }

  test('HTTP on a port tshark gives to another protocol is still read as HTTP', T, () =>
    withServer(CLAIMED_PORTS, async (port, dir) => {
      const { value: status, pcap } = await captureWhile(port, dir, () => negotiate(port));
      assert.equal(status, 401);
      assert.deepEqual(exchangeOf(await dissectHttp(pcap, FIELDS)), EXCHANGE, `port ${port}`);
    }));

  test('the capture fence holds when tshark names the probe datagrams after another protocol (UDP 54328 is Elasticsearch)', T, () =>
    withServer([0], async (port, dir) => {
      let cap: Capture | undefined;
      for (const probePort of [54328, 47808, 56500, 59000]) {
        cap = await captureLoopback(port, dir, { probePort }).catch((e: unknown) => {
          if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') return undefined;
          throw e;
        });
        if (cap) break;
      }
      assert.ok(cap, 'one of the claimed UDP ports is free');
      // Sent at once after the start: the fence, not luck, puts the request in the file.
      assert.equal(await negotiate(port), 401);
      assert.deepEqual(exchangeOf(await dissectHttp(await cap.stop(), FIELDS)), EXCHANGE);
    }));

  test('a capture with no HTTP in it is an error that lists its TCP conversations', T, () =>
    withServer([0], async (port, dir) => {
      // A bare connect and close: TCP frames on the port, no HTTP message.
      const { pcap } = await captureWhile(port, dir, async () => {
        const sock = connect(port, '127.0.0.1');
        await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
        sock.end();
        await new Promise<void>((resolve) => sock.once('close', () => resolve()));
      });
      await assert.rejects(dissectHttp(pcap, FIELDS), new RegExp(`no HTTP message in the capture of port ${port}; its TCP conversations:\\n[\\s\\S]*:${port}`));
    }));
});
