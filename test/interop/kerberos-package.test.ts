// The Kerberos package through SSPI against MIT krb5 in a private realm:
//  - our initiator (password credentials, AS + TGS against MIT krb5kdc) drives MIT gss-server;
//  - MIT gss-client (kinit ccache) drives our acceptor (the realm's keytab): mutual, -seq,
//    -nomutual, and -d (delegated credentials MIT klist reads and our client uses);
//  - refusals with their SSPI codes: wrong password, replayed AP-REQ, wrong SPN, wrong kvno,
//    tampered token, KDC stopped.
// A missing MIT binary fails these tests (createRealm / runGssServer / runGssClient).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { createRealm, type Realm } from './lib/realm.js';
import { GssSampleServerSide, runGssClient, runGssServer, TOKEN_CONTEXT } from './lib/gss-sample.js';
import { type RunResult } from './lib/proc.js';
import { runClientSession, runServerSession } from './lib/sspi-gss.js';
import { Credentials } from '../../src/credentials.js';
import { SecurityContext } from '../../src/context.js';
import { createLsa, type LsaHost } from '../../src/lsa/host.js';
import { kerberosPackage, TSLSA_KERB_ATTR } from '../../src/packages/kerberos/package.js';
import { SspiError } from '../../src/sspi/error.js';
import { SecurityStatus } from '../../src/sspi/status.js';
import { ASC_RET, ISC_RET, SECBUFFER, SECPKG_ATTR, SECPKG_CRED, SECURITY_NATIVE_DREP } from '../../src/sspi/flags.js';
import { bufferBytes, outputBuffer, secBuffer, secBufferDesc } from '../../src/sspi/buffers.js';

const T = { timeout: 60_000 };
const code = (status: number) => (e: unknown): boolean => SspiError.is(e, status);

describe('Kerberos package against MIT krb5', () => {
  let setup: Promise<{ realm: Realm; host: LsaHost; dir: string }> | undefined;
  const env = (): Promise<{ realm: Realm; host: LsaHost; dir: string }> =>
    (setup ??= (async () => {
      const realm = await createRealm();
      const dir = mkdtempSync(join(realm.dir, 'deleg-'));
      const host = await createLsa({
        packages: [kerberosPackage({ krb5Conf: realm.krb5ConfPath, keytab: realm.httpKeytab, env: realm.childEnv(), delegatedCcacheDir: dir, kdcTimeoutMs: 3000 })],
      });
      return { realm, host, dir };
    })());
  after(async () => {
    if (setup) await (await setup.catch(() => undefined))?.realm.stop();
  });

  async function userCred(host: LsaHost, realm: Realm, password?: string): Promise<Credentials> {
    return Credentials.acquire(host.sspi(), { package: 'Kerberos', use: 'outbound', authData: { User: 'user', Domain: realm.realm, Password: password ?? realm.passwords.user! } });
  }

  async function acceptorCred(host: LsaHost, principal?: string, keytab?: string): Promise<Credentials> {
    return Credentials.acquire(host.sspi(), { package: 'Kerberos', use: 'inbound', ...(principal ? { principal } : {}), ...(keytab ? { authData: { keytab } } : {}) });
  }

  /** Our initiator through one gss-server session: context, a wrapped message, the server's MIC. */
  async function driveGssServer(realm: Realm, host: LsaHost, flags: string[], opts: { encrypt?: boolean; exportCtx?: boolean } = {}): Promise<SecurityContext> {
    const server = await runGssServer(realm, { ...(opts.exportCtx ? { export: true } : {}) });
    try {
      const ctx = SecurityContext.client(await userCred(host, realm), { target: 'HTTP@localhost', flags });
      await runClientSession(server, ctx, { message: `hello from tslsa ${flags.join('+')}`, encrypt: opts.encrypt ?? true });
      return ctx;
    } finally {
      await server.stop();
    }
  }

  test('our initiator with MIT gss-server: mutual, replay+sequence, Wrap and MIC', T, async () => {
    const { realm, host } = await env();
    const ctx = await driveGssServer(realm, host, ['MUTUAL_AUTH', 'REPLAY_DETECT', 'SEQUENCE_DETECT', 'CONFIDENTIALITY', 'INTEGRITY']);
    assert.ok(ctx.has(ISC_RET.MUTUAL_AUTH) && ctx.has(ISC_RET.SEQUENCE_DETECT));
    const n = await ctx.query<{ sClientName: string; sServerName: string }>(SECPKG_ATTR.NATIVE_NAMES);
    assert.deepEqual(n, { sClientName: `user@${realm.realm}`, sServerName: `HTTP/localhost@${realm.realm}` });
  });

  test('our initiator with MIT gss-server: no mutual authentication (one leg)', T, async () => {
    const { realm, host } = await env();
    const ctx = await driveGssServer(realm, host, ['CONFIDENTIALITY']);
    assert.ok(!ctx.has(ISC_RET.MUTUAL_AUTH));
  });

  test('our initiator with MIT gss-server: delegation (a forwarded TGT in KRB-CRED under our subkey) once the KDC says OK-AS-DELEGATE', T, async () => {
    const { realm, host } = await env();
    const forwardedAsks = (): number => realm.kdcLog().split('\n').filter((l) => /TGS_REQ.*krbtgt\//.test(l)).length;
    // As Windows (MS-KILE 3.2.5.1): a service the realm does not trust for delegation gets no TGT.
    const before = forwardedAsks();
    const plain = await driveGssServer(realm, host, ['MUTUAL_AUTH', 'DELEGATE', 'CONFIDENTIALITY']);
    assert.ok(!plain.has(ISC_RET.DELEGATE), 'no OK-AS-DELEGATE on the ticket: no delegation');
    assert.equal(forwardedAsks(), before);
    await realm.kadmin('modprinc +ok_as_delegate HTTP/localhost');
    try {
      const ctx = await driveGssServer(realm, host, ['MUTUAL_AUTH', 'DELEGATE', 'CONFIDENTIALITY']);
      assert.ok(ctx.has(ISC_RET.DELEGATE), 'the ticket is OK-AS-DELEGATE and the TGT forwardable, so we delegated');
      assert.equal(forwardedAsks(), before + 1, 'one TGS request for the forwarded TGT');
    } finally {
      await realm.kadmin('modprinc -ok_as_delegate HTTP/localhost');
    }
  });

  test('our initiator with MIT gss-server: sign-only Wrap, and gss-server exporting its context', T, async () => {
    const { realm, host } = await env();
    await driveGssServer(realm, host, ['MUTUAL_AUTH', 'INTEGRITY'], { encrypt: false, exportCtx: true });
  });

  /** MIT gss-client against our acceptor; returns the acceptor context, the AP-REQ and gss-client's result. */
  async function driveOurAcceptor(
    realm: Realm,
    host: LsaHost,
    client: { seq?: boolean; deleg?: boolean; noMutual?: boolean; ccache?: string; service?: string },
    acceptor: { principal?: string; keytab?: string; tamper?: boolean } = {},
  ): Promise<{ ctx: SecurityContext; apReq: Uint8Array; result: RunResult; error?: unknown }> {
    let ctx: SecurityContext | undefined;
    const s = await runServerSession(
      realm,
      { message: 'hello from MIT', ...client },
      async () => (ctx = SecurityContext.server(await acceptorCred(host, acceptor.principal, acceptor.keytab), {})),
      { tamper: acceptor.tamper ?? false },
    );
    if (s.error !== undefined) return { ctx: ctx!, apReq: s.firstToken, result: s.result, error: s.error };
    assert.equal(s.message, 'hello from MIT');
    return { ctx: ctx!, apReq: s.firstToken, result: s.result };
  }

  test('MIT gss-client with our acceptor: mutual, PAC verified, names', T, async () => {
    const { realm, host } = await env();
    await realm.kinit('user');
    const { ctx } = await driveOurAcceptor(realm, host, {});
    assert.ok(ctx.has(ASC_RET.MUTUAL_AUTH));
    const names = await ctx.query<{ sUserName: string }>(SECPKG_ATTR.NAMES);
    assert.equal(names.sUserName, `user@${realm.realm}`);
    // MIT 1.20 issues a PAC in every ticket: parsed and its server signature checked against the keytab.
    const pac = await ctx.query<{ verified: boolean; pac: { clientInfo?: { name: string } } }>(TSLSA_KERB_ATTR.PAC);
    assert.equal(pac.verified, true);
    assert.equal(pac.pac.clientInfo?.name, 'user');
  });

  test('MIT gss-client with our acceptor: -seq and -nomutual', T, async () => {
    const { realm, host } = await env();
    await realm.kinit('user');
    const a = await driveOurAcceptor(realm, host, { seq: true });
    assert.ok(a.ctx.has(ASC_RET.SEQUENCE_DETECT));
    const b = await driveOurAcceptor(realm, host, { noMutual: true });
    assert.ok(!b.ctx.has(ASC_RET.MUTUAL_AUTH));
  });

  test('MIT gss-client -d: our acceptor gets a ccache MIT klist reads and our client uses', T, async () => {
    const { realm, host } = await env();
    const cc = join(realm.dir, 'fwd-user.cc');
    await realm.kinit('user', undefined, cc, { args: ['-f'] });
    const { ctx } = await driveOurAcceptor(realm, host, { deleg: true, ccache: cc });
    assert.ok(ctx.has(ASC_RET.DELEGATE));
    const d = await ctx.query<{ name: string; principal: string }>(TSLSA_KERB_ATTR.DELEGATED_CCACHE);
    assert.equal(d.principal, `user@${realm.realm}`);
    const listing = await realm.klist(d.name);
    assert.match(listing, new RegExp(`krbtgt/${realm.realm}@${realm.realm}`));
    // The delegated TGT gets a service ticket from MIT's KDC and authenticates to our acceptor.
    const fwd = await Credentials.acquire(host.sspi(), { package: 'Kerberos', use: 'outbound', authData: { ccache: d.name } });
    const c2 = SecurityContext.client(fwd, { target: 'host@localhost', flags: ['MUTUAL_AUTH'] });
    const s2 = SecurityContext.server(await acceptorCred(host), {});
    const t1 = (await c2.step())!;
    const t2 = (await s2.step(t1))!;
    assert.equal(await c2.step(t2), null);
    assert.ok(c2.complete && s2.complete);
    assert.equal((await s2.query<{ sUserName: string }>(SECPKG_ATTR.NAMES)).sUserName, `user@${realm.realm}`);
    assert.match(await realm.klist(d.name), /host\/localhost@/);
  });

  test('replayed AP-REQ from MIT gss-client → SEC_E_LOGON_DENIED; tampered Wrap → SEC_E_MESSAGE_ALTERED', T, async () => {
    const { realm, host } = await env();
    await realm.kinit('user');
    const { apReq } = await driveOurAcceptor(realm, host, {});
    const replay = SecurityContext.server(await acceptorCred(host), {});
    await assert.rejects(replay.step(apReq), code(SecurityStatus.SEC_E_LOGON_DENIED));
    const t = await driveOurAcceptor(realm, host, {}, { tamper: true });
    assert.ok(code(SecurityStatus.SEC_E_MESSAGE_ALTERED)(t.error), String(t.error));
    assert.notEqual(t.result.code, 0);
  });

  test('wrong SPN: MIT gss-client gets our KRB-ERROR, we report SEC_E_WRONG_PRINCIPAL', T, async () => {
    const { realm, host } = await env();
    await realm.kinit('user');
    const side = await GssSampleServerSide.listen();
    try {
      const run = runGssClient(realm, { port: side.port, service: 'host@localhost' });
      const conn = await side.accept();
      await conn.readToken();
      const t = await conn.readToken();
      const cred = await acceptorCred(host, `HTTP/localhost@${realm.realm}`);
      const out = outputBuffer(SECBUFFER.TOKEN, 4096);
      const r = await cred.sspi.AcceptSecurityContext(cred.handle, null, secBufferDesc(secBuffer(SECBUFFER.TOKEN, t.token)), 0, SECURITY_NATIVE_DREP, null, secBufferDesc(out));
      assert.equal(r.status, SecurityStatus.SEC_E_WRONG_PRINCIPAL);
      assert.ok(out.cbBuffer > 0, 'a KRB-ERROR token');
      conn.sendToken(TOKEN_CONTEXT, bufferBytes(out));
      const res = await run;
      assert.notEqual(res.code, 0);
      // MIT decodes our KRB-ERROR: KRB_AP_ERR_NOT_US is "The ticket isn't for us".
      assert.match(res.stdout + res.stderr, /The ticket isn't for us/);
      conn.close();
    } finally {
      await side.close();
    }
  });

  test('wrong key version: a rekeyed service refused with SEC_E_WRONG_PRINCIPAL; wrong password SEC_E_LOGON_DENIED', T, async () => {
    const { realm, host } = await env();
    const old = join(realm.dir, 'rekey-old.keytab');
    await realm.addPrincipal('HTTP/rekey.localhost', { keytab: old });
    await realm.ktadd(join(realm.dir, 'rekey-new.keytab'), ['HTTP/rekey.localhost']);
    const c = SecurityContext.client(await userCred(host, realm), { target: 'HTTP/rekey.localhost', flags: ['MUTUAL_AUTH'] });
    const s = SecurityContext.server(await acceptorCred(host, undefined, old), {});
    await assert.rejects(s.step((await c.step())!), code(SecurityStatus.SEC_E_WRONG_PRINCIPAL));
    await assert.rejects(userCred(host, realm, 'not-the-password'), code(SecurityStatus.SEC_E_LOGON_DENIED));
  });

  test('KDC stopped: SEC_E_NO_AUTHENTICATING_AUTHORITY within the timeout, then recovery', T, async () => {
    const { realm, host } = await env();
    await realm.stopKdc();
    try {
      const t0 = Date.now();
      const r = await host.sspi().AcquireCredentialsHandle(null, 'Kerberos', SECPKG_CRED.OUTBOUND, null, { User: 'user', Domain: realm.realm, Password: realm.passwords.user! });
      assert.equal(r.status, SecurityStatus.SEC_E_NO_AUTHENTICATING_AUTHORITY);
      assert.ok(Date.now() - t0 < 3000 + 1500, `took ${Date.now() - t0} ms`);
    } finally {
      await realm.startKdc();
    }
    await userCred(host, realm);
  });
});
