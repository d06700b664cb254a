// Our Negotiate package with Kerberos as the negotiated mechanism against MIT krb5's SPNEGO
// (libgssapi_krb5's spnego mech in gss-client -spnego and gss-server) in a private realm, with
// Wrap and MIC after the handshake; then the fast NTLM fallback when Kerberos can't serve (KDC
// stopped, IP-address target) and the "Kerberos only" policy. A missing MIT binary fails these
// tests (createRealm / runGssServer / runGssClient).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { Credentials } from '../../src/credentials.js';
import { SecurityContext } from '../../src/context.js';
import { createLsa, type LsaHost } from '../../src/lsa/host.js';
import { kerberosPackage } from '../../src/packages/kerberos/package.js';
import { negotiatePackage, type NegotiateConfig } from '../../src/packages/negotiate/package.js';
import { ntlmPackage } from '../../src/packages/ntlm/package.js';
import { SspiError } from '../../src/sspi/error.js';
import { SecurityStatus } from '../../src/sspi/status.js';
import { ASC_RET, ISC_RET, SECPKG_ATTR } from '../../src/sspi/flags.js';
import { realAuthority } from '../fixtures/authority.js';
import { createRealm, type Realm } from './lib/realm.js';
import { runGssServer } from './lib/gss-sample.js';
import { LOOPBACK, freeUdpTcpPort } from './lib/ports.js';
import { establishLocal, runClientSession, runServerSession } from './lib/sspi-gss.js';

const T = { timeout: 60_000 };
/** KDC deadline of the Kerberos package in these tests. */
const KDC_TIMEOUT_MS = 3000;
const KRB5_OID = '1.2.840.113554.1.2.2';
const FLAGS = ['MUTUAL_AUTH', 'REPLAY_DETECT', 'SEQUENCE_DETECT', 'CONFIDENTIALITY', 'INTEGRITY'];

interface NegotiationInfo {
  PackageInfo: { Name: string };
  NegotiationState: number;
  Skipped: { Package: string; Status: number }[];
}

describe('Negotiate with Kerberos against MIT krb5 SPNEGO', () => {
  let setup: Promise<Realm> | undefined;
  const r = (): Promise<Realm> => (setup ??= createRealm());
  const hosts: LsaHost[] = [];
  after(async () => {
    for (const h of hosts) await h.shutdown();
    if (setup) await (await setup.catch(() => undefined))?.stop();
  });

  /** Negotiate over Kerberos (the realm's krb5.conf and HTTP keytab) and NTLM with one account, `user` with the realm password. */
  async function lsa(realm: Realm, negotiate: NegotiateConfig = {}): Promise<LsaHost> {
    const host = await createLsa({
      domainName: realm.realm,
      packages: [
        negotiatePackage(negotiate),
        kerberosPackage({ krb5Conf: realm.krb5ConfPath, keytab: realm.httpKeytab, env: realm.childEnv(), kdcTimeoutMs: KDC_TIMEOUT_MS }),
        ntlmPackage(),
        await realAuthority({ user: realm.passwords.user! }, realm.realm),
      ],
    });
    hosts.push(host);
    return host;
  }

  function userCred(host: LsaHost, realm: Realm): Promise<Credentials> {
    return Credentials.acquire(host.sspi(), { package: 'Negotiate', use: 'outbound', authData: { User: 'user', Domain: realm.realm, Password: realm.passwords.user! } });
  }

  test('MIT gss-client -spnego with our Negotiate acceptor: Kerberos chosen, Wrap and MIC, mutual and -seq', T, async () => {
    const realm = await r();
    await realm.kinit('user');
    const host = await lsa(realm);
    for (const seq of [false, true]) {
      let ctx: SecurityContext | undefined;
      const s = await runServerSession(realm, { spnego: true, seq, message: `spnego seq=${seq}` }, async () => {
        ctx = SecurityContext.server(await Credentials.acquire(host.sspi(), { package: 'Negotiate', use: 'inbound' }), {});
        return ctx;
      });
      assert.equal(s.error, undefined, String(s.error));
      assert.equal(s.message, `spnego seq=${seq}`);
      assert.equal(s.firstToken[0], 0x60, 'gss-client sent a framed NegTokenInit');
      const info = await ctx!.query<NegotiationInfo>(SECPKG_ATTR.NEGOTIATION_INFO);
      assert.equal(info.PackageInfo.Name, 'Kerberos');
      assert.ok(ctx!.has(ASC_RET.MUTUAL_AUTH));
      assert.equal(ctx!.has(ASC_RET.SEQUENCE_DETECT), seq);
      assert.equal((await ctx!.query<{ sUserName: string }>(SECPKG_ATTR.NAMES)).sUserName, `user@${realm.realm}`);
    }
  });

  test('our Negotiate initiator with MIT gss-server (SPNEGO acceptor): Kerberos chosen, sealed and sign-only Wrap, MIT MIC', T, async () => {
    const realm = await r();
    const host = await lsa(realm);
    const cred = await userCred(host, realm);
    const server = await runGssServer(realm);
    try {
      for (const encrypt of [true, false]) {
        const ctx = SecurityContext.client(cred, { target: 'HTTP@localhost', flags: FLAGS });
        const s = await runClientSession(server, ctx, { message: `negotiate encrypt=${encrypt}`, encrypt });
        assert.equal(s.mech, '{ 1 2 840 113554 1 2 2 }', 'SPNEGO negotiated krb5 in gss-server');
        const info = await ctx.query<NegotiationInfo>(SECPKG_ATTR.NEGOTIATION_INFO);
        assert.equal(info.PackageInfo.Name, 'Kerberos');
        assert.ok(ctx.has(ISC_RET.MUTUAL_AUTH));
        await ctx.delete();
      }
    } finally {
      await server.stop();
    }
  });

  test('our initiator listing NTLM first: MIT gss-server picks krb5, mechListMICs both ways, then Wrap/MIC in sequence', T, async () => {
    const realm = await r();
    const host = await lsa(realm, { packages: ['NTLM', 'Kerberos'] });
    const cred = await userCred(host, realm);
    // gss-server without gss-ntlmssp (an empty mech config in place of /etc/gss/mech.d): it can
    // only take our second mechanism, so RFC 4178 5 requires mechListMICs both ways.
    const mechConf = join(realm.dir, 'no-ntlm-mech.conf');
    writeFileSync(mechConf, '# krb5 and SPNEGO are built in\n');
    const server = await runGssServer(realm, { env: { GSS_MECH_CONFIG: mechConf } });
    try {
      const ctx = SecurityContext.client(cred, { target: 'HTTP@localhost', flags: FLAGS });
      const s = await runClientSession(server, ctx, { message: 'after the mechListMIC' });
      assert.equal(s.mech, '{ 1 2 840 113554 1 2 2 }');
      const info = await ctx.query<NegotiationInfo>(SECPKG_ATTR.NEGOTIATION_INFO);
      assert.equal(info.PackageInfo.Name, 'Kerberos');
    } finally {
      await server.stop();
    }
  });

  test('the KDC stopped: our initiator falls back to NTLM (Skipped lists Kerberos) within the KDC timeout', T, async () => {
    const realm = await r();
    const host = await lsa(realm);
    await realm.stopKdc();
    try {
      const t0 = performance.now();
      const cred = await userCred(host, realm);
      const client = SecurityContext.client(cred, { target: 'HTTP/localhost', flags: FLAGS });
      const server = SecurityContext.server(await Credentials.acquire(host.sspi(), { package: 'Negotiate', use: 'inbound' }), {});
      await establishLocal(client, server);
      const ms = performance.now() - t0;
      assert.ok(client.complete && server.complete, 'handshake complete');
      const info = await client.query<NegotiationInfo>(SECPKG_ATTR.NEGOTIATION_INFO);
      assert.equal(info.PackageInfo.Name, 'NTLM');
      const krb = info.Skipped.find((k) => k.Package === 'Kerberos');
      assert.ok(krb, `Kerberos is reported as skipped: ${JSON.stringify(info.Skipped)}`);
      assert.equal(krb.Status, SecurityStatus.SEC_E_NO_AUTHENTICATING_AUTHORITY);
      assert.equal((await server.query<NegotiationInfo>(SECPKG_ATTR.NEGOTIATION_INFO)).PackageInfo.Name, 'NTLM');
      const msg = new TextEncoder().encode('over NTLM while the KDC is down');
      assert.deepEqual(server.unwrap(client.wrap(msg)).message, msg);
      console.log(`# NTLM fallback with the KDC down: ${ms.toFixed(0)} ms (KDC timeout ${KDC_TIMEOUT_MS} ms)`);
      assert.ok(ms < KDC_TIMEOUT_MS + 1000, `fallback took ${ms.toFixed(0)} ms`);
    } finally {
      await realm.startKdc();
    }
  });

  test('a silent KDC (UDP and TCP that never answer): NTLM after fallbackAfterMs, not the KDC timeout; Kerberos only waits the timeout', T, async () => {
    const realm = await r();
    const port = await freeUdpTcpPort();
    const udp = createSocket('udp4');
    udp.on('message', () => undefined);
    udp.bind(port, LOOPBACK);
    await once(udp, 'listening');
    const held: Socket[] = [];
    const tcp = createServer((c) => held.push(c));
    tcp.listen(port, LOOPBACK);
    await once(tcp, 'listening');
    try {
      const conf = join(realm.dir, 'silent-kdc.conf');
      writeFileSync(conf, readFileSync(realm.krb5ConfPath, 'utf8').replaceAll(`127.0.0.1:${realm.kdcPort}`, `127.0.0.1:${port}`));
      const make = async (negotiate: NegotiateConfig) => {
        const host = await createLsa({
          domainName: realm.realm,
          packages: [
            negotiatePackage(negotiate),
            kerberosPackage({ krb5Conf: conf, env: realm.childEnv(), kdcTimeoutMs: KDC_TIMEOUT_MS }),
            ntlmPackage(),
            await realAuthority({ user: realm.passwords.user! }, realm.realm),
          ],
        });
        hosts.push(host);
        return host;
      };
      for (const fallbackAfterMs of [250, undefined]) {
        const host = await make(fallbackAfterMs === undefined ? {} : { fallbackAfterMs });
        const t0 = performance.now();
        const cred = await userCred(host, realm);
        const client = SecurityContext.client(cred, { target: 'HTTP/localhost', flags: FLAGS });
        const server = SecurityContext.server(await Credentials.acquire(host.sspi(), { package: 'Negotiate', use: 'inbound' }), {});
        await establishLocal(client, server);
        const ms = performance.now() - t0;
        assert.ok(client.complete && server.complete);
        const info = await client.query<NegotiationInfo>(SECPKG_ATTR.NEGOTIATION_INFO);
        assert.equal(info.PackageInfo.Name, 'NTLM');
        assert.deepEqual(info.Skipped.find((k) => k.Package === 'Kerberos'), { Package: 'Kerberos', Status: SecurityStatus.SEC_E_NO_AUTHENTICATING_AUTHORITY });
        const wait = fallbackAfterMs ?? 1000;
        console.log(`# NTLM fallback with a silent KDC: ${ms.toFixed(0)} ms (fallbackAfterMs ${wait}, KDC timeout ${KDC_TIMEOUT_MS} ms)`);
        // Well before the KDC timeout: the fallback, not the timeout, ended the wait.
        assert.ok(ms >= wait - 5 && ms < KDC_TIMEOUT_MS, `fallback took ${ms.toFixed(0)} ms`);
      }
      // "Kerberos only": nothing to fall back to, so the KDC timeout is the bound.
      const only = await make({ allowNtlm: false });
      const t0 = performance.now();
      await assert.rejects(userCred(only, realm), (e: unknown) => SspiError.is(e, SecurityStatus.SEC_E_NO_AUTHENTICATING_AUTHORITY));
      const ms = performance.now() - t0;
      console.log(`# Kerberos only with a silent KDC: refused after ${ms.toFixed(0)} ms`);
      assert.ok(ms < KDC_TIMEOUT_MS + 1000, `took ${ms.toFixed(0)} ms`);
    } finally {
      udp.close();
      for (const c of held) c.destroy();
      tcp.close();
    }
  });

  test('an IP-address target: NTLM at once, no KDC request for it', T, async () => {
    const realm = await r();
    const host = await lsa(realm);
    const cred = await userCred(host, realm);
    const before = realm.kdcLog().split('\n').filter((l) => /TGS_REQ/.test(l)).length;
    const client = SecurityContext.client(cred, { target: 'HTTP/127.0.0.1', flags: FLAGS });
    const server = SecurityContext.server(await Credentials.acquire(host.sspi(), { package: 'Negotiate', use: 'inbound' }), {});
    await establishLocal(client, server);
    assert.ok(client.complete && server.complete);
    const info = await client.query<NegotiationInfo>(SECPKG_ATTR.NEGOTIATION_INFO);
    assert.equal(info.PackageInfo.Name, 'NTLM');
    assert.deepEqual(info.Skipped.find((k) => k.Package === 'Kerberos'), { Package: 'Kerberos', Status: SecurityStatus.SEC_E_TARGET_UNKNOWN });
    const after = realm.kdcLog().split('\n').filter((l) => /TGS_REQ/.test(l)).length;
    assert.equal(after, before, 'no service ticket was asked for an IP address');
  });

  test('"Kerberos only" (allowNtlm false): KDC down or IP target is refused with SEC_E_NO_AUTHENTICATING_AUTHORITY / SEC_E_TARGET_UNKNOWN', T, async () => {
    const realm = await r();
    const host = await lsa(realm, { allowNtlm: false });
    const ip = SecurityContext.client(await userCred(host, realm), { target: 'HTTP/127.0.0.1', flags: FLAGS });
    await assert.rejects(ip.step(), (e: unknown) => SspiError.is(e, SecurityStatus.SEC_E_TARGET_UNKNOWN));
    // With Kerberos working, Kerberos only still works, and the token names only the krb5 mech.
    const ok = SecurityContext.client(await userCred(host, realm), { target: 'HTTP/localhost', flags: FLAGS });
    const first = (await ok.step())!;
    assert.ok(Buffer.from(first).includes(Buffer.from('06092a864886f712010202', 'hex')), `krb5 OID ${KRB5_OID} offered`);
    assert.ok(!Buffer.from(first).includes(Buffer.from('060a2b06010401823702020a', 'hex')), 'NTLMSSP not offered');
    await realm.stopKdc();
    try {
      const t0 = performance.now();
      await assert.rejects(userCred(host, realm), (e: unknown) => SspiError.is(e, SecurityStatus.SEC_E_NO_AUTHENTICATING_AUTHORITY));
      assert.ok(performance.now() - t0 < KDC_TIMEOUT_MS + 1000);
    } finally {
      await realm.startKdc();
    }
  });
});
