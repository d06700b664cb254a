// Cross-realm Kerberos against MIT krb5: three private realms, each its own krb5kdc and database,
// with trusts ALPHA.TEST -> BETA.TEST and BETA.TEST -> GAMMA.TEST (krbtgt/B@A created in both
// databases with one password, so both KDCs hold the same keys). The user lives in ALPHA.TEST.
//  - `tslsa kinit user@ALPHA.TEST`, then our initiator (the Kerberos package on that ccache)
//    reaches HTTP/svc.beta.test@BETA.TEST, which MIT gss-server accepts with BETA's keytab; MIT
//    klist reads our ccache with krbtgt/BETA.TEST@ALPHA.TEST in it;
//  - the same service with no [domain_realm] entry on the client: ALPHA's KDC answers the
//    canonicalize request with a referral (RFC 6806), which we follow;
//  - GAMMA.TEST through the transit realm BETA.TEST, from the client's [capaths];
//  - no trust (GAMMA.TEST without [capaths]): SEC_E_KDC_UNABLE_TO_REFER.
// A missing MIT binary fails these tests (createRealm / runGssServer).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanEnv, createRealm, ENCTYPES, type Realm } from './lib/realm.js';
import { runGssServer } from './lib/gss-sample.js';
import { describeFailure, run } from './lib/proc.js';
import { runClientSession } from './lib/sspi-gss.js';
import { Credentials } from '../../src/credentials.js';
import { SecurityContext } from '../../src/context.js';
import { createLsa, type LsaHost } from '../../src/lsa/host.js';
import { kerberosPackage } from '../../src/packages/kerberos/package.js';
import { kerberosCommand } from '../../src/cli/kerberos.js';
import { SspiError } from '../../src/sspi/error.js';
import { SecurityStatus } from '../../src/sspi/status.js';
import { SECPKG_ATTR } from '../../src/sspi/flags.js';
import { sink } from '../unit/http/helpers.js';

const T = { timeout: 120_000 };
const TRUST_PASSWORD = 'Cross-Realm-Trust-1!';
const FLAGS = ['MUTUAL_AUTH', 'REPLAY_DETECT', 'SEQUENCE_DETECT', 'CONFIDENTIALITY', 'INTEGRITY'];
// GAMMA's KDC checks the transited field (BETA.TEST) against this; gss-server reads it too.
const TRANSIT = `
[capaths]
    ALPHA.TEST = {
        GAMMA.TEST = BETA.TEST
    }
`;

interface Setup {
  alpha: Realm;
  beta: Realm;
  gamma: Realm;
  dir: string;
  /** Client profile with [domain_realm] for .beta.test/.gamma.test and [capaths] ALPHA -> GAMMA via BETA. */
  mapped: string;
  /** Client profile with neither: the realm of svc.beta.test is left to ALPHA's KDC (referrals). */
  bare: string;
  betaKeytab: string;
  gammaKeytab: string;
}

function clientConf(s: { alpha: Realm; beta: Realm; gamma: Realm }, extra: string): string {
  const list = ENCTYPES.join(' ');
  const realm = (r: Realm): string => `    ${r.realm} = {\n        kdc = 127.0.0.1:${r.kdcPort}\n    }`;
  return `[libdefaults]
    default_realm = ALPHA.TEST
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    allow_weak_crypto = true
    allow_rc4 = true
    permitted_enctypes = ${list}
    default_tkt_enctypes = ${list}
    default_tgs_enctypes = ${list}

[realms]
${realm(s.alpha)}
${realm(s.beta)}
${realm(s.gamma)}
${extra}`;
}

describe('Kerberos cross-realm against MIT krb5 (three realms)', () => {
  const realms: Realm[] = [];
  let setup: Promise<Setup> | undefined;
  const env = (): Promise<Setup> =>
    (setup ??= (async () => {
      // ALPHA's KDC maps svc.beta.test to BETA.TEST, so it can answer with a referral.
      const alpha = await createRealm({ realm: 'ALPHA.TEST', extraConf: '\n[domain_realm]\n    .beta.test = BETA.TEST\n' });
      realms.push(alpha);
      const beta = await createRealm({ realm: 'BETA.TEST' });
      realms.push(beta);
      const gamma = await createRealm({ realm: 'GAMMA.TEST', extraConf: TRANSIT });
      realms.push(gamma);
      for (const [trust, sides] of [['krbtgt/BETA.TEST@ALPHA.TEST', [alpha, beta]], ['krbtgt/GAMMA.TEST@BETA.TEST', [beta, gamma]]] as const) {
        for (const r of sides) await r.addPrincipal(trust, { password: TRUST_PASSWORD });
      }
      const betaKeytab = join(beta.dir, 'svc.keytab');
      await beta.addPrincipal('HTTP/svc.beta.test', { keytab: betaKeytab });
      const gammaKeytab = join(gamma.dir, 'svc.keytab');
      await gamma.addPrincipal('HTTP/svc.gamma.test', { keytab: gammaKeytab });
      const dir = mkdtempSync(join(alpha.dir, 'client-'));
      const mapped = join(dir, 'krb5-mapped.conf');
      writeFileSync(mapped, clientConf({ alpha, beta, gamma }, `\n[domain_realm]\n    .beta.test = BETA.TEST\n    .gamma.test = GAMMA.TEST\n${TRANSIT}`));
      const bare = join(dir, 'krb5-bare.conf');
      writeFileSync(bare, clientConf({ alpha, beta, gamma }, ''));
      return { alpha, beta, gamma, dir, mapped, bare, betaKeytab, gammaKeytab };
    })());
  after(async () => {
    await setup?.catch(() => undefined);
    for (const r of realms) await r.stop();
  });

  const clientEnv = (conf: string): NodeJS.ProcessEnv => ({ ...cleanEnv(), KRB5_CONFIG: conf });

  /** `tslsa kinit -c CC user@ALPHA.TEST` (password on stdin) with the given client profile. */
  async function ourKinit(s: Setup, conf: string, name: string): Promise<string> {
    const cc = join(s.dir, `${name}.cc`);
    const out = sink();
    const err = sink();
    const code = await kerberosCommand('kinit', ['-c', cc, 'user@ALPHA.TEST'], {
      stdin: Readable.from([`${s.alpha.passwords.user}\n`]), stdout: out, stderr: err, env: clientEnv(conf),
    });
    assert.equal(code, 0, err.text());
    return cc;
  }

  async function lsaFor(conf: string): Promise<LsaHost> {
    return createLsa({ packages: [kerberosPackage({ krb5Conf: conf, env: clientEnv(conf), kdcTimeoutMs: 5000 })] });
  }

  /** Our initiator on ccache `cc` against gss-server of `realm` with `keytab`, target HTTP@host. */
  async function drive(host: LsaHost, cc: string, realm: Realm, keytab: string, hostname: string): Promise<SecurityContext> {
    const server = await runGssServer(realm, { service: `HTTP@${hostname}`, keytab });
    try {
      const cred = await Credentials.acquire(host.sspi(), { package: 'Kerberos', use: 'outbound', authData: { ccache: `FILE:${cc}` } });
      const ctx = SecurityContext.client(cred, { target: `HTTP@${hostname}`, flags: FLAGS });
      const session = await runClientSession(server, ctx, { message: `cross-realm to ${realm.realm}` });
      assert.ok(session.completed, session.log);
      return ctx;
    } finally {
      await server.stop();
    }
  }

  async function mitKlist(conf: string, cc: string): Promise<string> {
    const r = await run('klist', ['-c', `FILE:${cc}`], { env: clientEnv(conf) });
    assert.equal(r.code, 0, describeFailure(r));
    return r.stdout;
  }

  const tgsFor = (r: Realm, service: string): number =>
    r.kdcLog().split('\n').filter((l) => l.includes('TGS_REQ') && l.includes('ISSUE') && l.includes(`user@ALPHA.TEST for ${service}`)).length;

  test('tslsa kinit in ALPHA, our initiator to a BETA service ([domain_realm]); MIT gss-server accepts; MIT klist reads the cross-realm TGT', T, async () => {
    const s = await env();
    const cc = await ourKinit(s, s.mapped, 'mapped');
    const host = await lsaFor(s.mapped);
    const ctx = await drive(host, cc, s.beta, s.betaKeytab, 'svc.beta.test');
    const n = await ctx.query<{ sClientName: string; sServerName: string }>(SECPKG_ATTR.NATIVE_NAMES);
    assert.deepEqual(n, { sClientName: 'user@ALPHA.TEST', sServerName: 'HTTP/svc.beta.test@BETA.TEST' });
    assert.equal(tgsFor(s.alpha, 'krbtgt/BETA.TEST@ALPHA.TEST'), 1, `ALPHA issued the cross-realm TGT:\n${s.alpha.kdcLog()}`);
    assert.equal(tgsFor(s.beta, 'HTTP/svc.beta.test@BETA.TEST'), 1, `BETA issued the service ticket:\n${s.beta.kdcLog()}`);
    const listing = await mitKlist(s.mapped, cc);
    assert.match(listing, /Default principal: user@ALPHA\.TEST/);
    assert.match(listing, /krbtgt\/ALPHA\.TEST@ALPHA\.TEST/);
    assert.match(listing, /krbtgt\/BETA\.TEST@ALPHA\.TEST/, listing);
    assert.match(listing, /HTTP\/svc\.beta\.test@BETA\.TEST/, listing);
    // A second context uses the cached tickets: no new TGS request anywhere.
    await drive(host, cc, s.beta, s.betaKeytab, 'svc.beta.test');
    assert.equal(tgsFor(s.alpha, 'krbtgt/BETA.TEST@ALPHA.TEST'), 1);
    assert.equal(tgsFor(s.beta, 'HTTP/svc.beta.test@BETA.TEST'), 1);
  });

  test('no [domain_realm] on the client: ALPHA refers the service to BETA (RFC 6806), we follow', T, async () => {
    const s = await env();
    const cc = await ourKinit(s, s.bare, 'referral');
    const before = tgsFor(s.beta, 'HTTP/svc.beta.test@BETA.TEST');
    const referrals = tgsFor(s.alpha, 'krbtgt/BETA.TEST@ALPHA.TEST');
    // The target resolves to HTTP/svc.beta.test@ALPHA.TEST here: only a referral leads to BETA.
    await drive(await lsaFor(s.bare), cc, s.beta, s.betaKeytab, 'svc.beta.test');
    assert.equal(tgsFor(s.beta, 'HTTP/svc.beta.test@BETA.TEST'), before + 1, s.beta.kdcLog());
    // ALPHA's KDC logs the referral it answered the service request with as the TGT it issued.
    assert.equal(tgsFor(s.alpha, 'krbtgt/BETA.TEST@ALPHA.TEST'), referrals + 1, s.alpha.kdcLog());
    assert.match(await mitKlist(s.bare, cc), /krbtgt\/BETA\.TEST@ALPHA\.TEST/, 'the referral TGT is cached as MIT does');
  });

  test('[capaths]: ALPHA -> BETA -> GAMMA through the transit realm; both TGTs cached for MIT klist', T, async () => {
    const s = await env();
    const cc = await ourKinit(s, s.mapped, 'transit');
    await drive(await lsaFor(s.mapped), cc, s.gamma, s.gammaKeytab, 'svc.gamma.test');
    assert.equal(tgsFor(s.beta, 'krbtgt/GAMMA.TEST@BETA.TEST'), 1, s.beta.kdcLog());
    assert.equal(tgsFor(s.gamma, 'HTTP/svc.gamma.test@GAMMA.TEST'), 1, s.gamma.kdcLog());
    const listing = await mitKlist(s.mapped, cc);
    assert.match(listing, /krbtgt\/BETA\.TEST@ALPHA\.TEST/, listing);
    assert.match(listing, /krbtgt\/GAMMA\.TEST@BETA\.TEST/, listing);
  });

  test('no trust path (GAMMA without [capaths]): SEC_E_KDC_UNABLE_TO_REFER, no hang', T, async () => {
    const s = await env();
    const cc = await ourKinit(s, s.bare, 'notrust');
    const host = await lsaFor(s.bare);
    const cred = await Credentials.acquire(host.sspi(), { package: 'Kerberos', use: 'outbound', authData: { ccache: `FILE:${cc}` } });
    const ctx = SecurityContext.client(cred, { target: 'HTTP/svc.gamma.test@GAMMA.TEST', flags: FLAGS });
    const t0 = Date.now();
    await assert.rejects(ctx.step(), (e: unknown) => {
      assert.ok(SspiError.is(e, SecurityStatus.SEC_E_KDC_UNABLE_TO_REFER), String(e));
      return true;
    });
    assert.ok(Date.now() - t0 < 60_000);
    // `tslsa kvno` says why: the path tried and the KDC's refusal. BETA (a direct trust) works and
    // its cross-realm TGT lands in the ccache for MIT klist.
    const kvno = async (spn: string): Promise<{ code: number; out: string; err: string }> => {
      const out = sink();
      const err = sink();
      const code = await kerberosCommand('kvno', ['-c', cc, spn], { stdin: Readable.from(['']), stdout: out, stderr: err, env: clientEnv(s.bare) });
      return { code, out: out.text(), err: err.text() };
    };
    const refused = await kvno('HTTP/svc.gamma.test@GAMMA.TEST');
    assert.equal(refused.code, 1);
    assert.match(refused.err, /SEC_E_KDC_UNABLE_TO_REFER.*ALPHA\.TEST -> TEST -> GAMMA\.TEST.*KDC_ERR_S_PRINCIPAL_UNKNOWN/);
    const ok = await kvno('HTTP/svc.beta.test@BETA.TEST');
    assert.equal(ok.code, 0, ok.err);
    const listing = await mitKlist(s.bare, cc);
    assert.match(listing, /krbtgt\/BETA\.TEST@ALPHA\.TEST/, listing);
    assert.doesNotMatch(listing, /GAMMA/);
  });
});
