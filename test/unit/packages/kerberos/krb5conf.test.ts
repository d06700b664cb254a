import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as fc from 'fast-check';
import {
  DEFAULT_ENCTYPES,
  krb5ConfigPaths,
  loadKrb5Config,
  parseDuration,
  parseEnctypeList,
  parseKdcAddress,
  parseKrb5Conf,
  parseProfile,
} from '../../../../src/packages/kerberos/krb5conf.js';
import { SspiError } from '../../../../src/sspi/error.js';
import { SecurityStatus } from '../../../../src/sspi/status.js';

const SAMPLE = `# leading text before the first section is ignored by MIT
this is not a relation
[libdefaults]
    default_realm = EXAMPLE.COM
    ; a comment
    # another
    permitted_enctypes = aes256-cts aes128-cts, rc4-hmac
    default_tkt_enctypes = DEFAULT -des3 -camellia
    clockskew = 120
    udp_preference_limit = 1
    dns_lookup_kdc = no
    ticket_lifetime = 10h 30m
    forwardable = yes
    rdns = false
    dns_canonicalize_hostname = fallback
    quoted = "  a\\tb  "
    unknown_setting = whatever

[realms]
    EXAMPLE.COM = {
        kdc = kdc1.example.com
        kdc = kdc2.example.com:750
        kdc = tcp/[2001:db8::1]:88
        admin_server = kdc1.example.com
        auth_to_local = {
            nested = deeper
        }
    }
    OTHER.ORG =
    {
        kdc = 10.0.0.1
    }*

[domain_realm]*
    .example.com = EXAMPLE.COM
    example.com = EXAMPLE.COM
    host.other.org = OTHER.ORG
    other.org = OTHER.ORG
`;

const invalidParam = (re: RegExp) => (e: unknown) => SspiError.is(e, SecurityStatus.SEC_E_INVALID_PARAMETER) && re.test((e as Error).message);

describe('krb5.conf: parsing', () => {
  const c = parseKrb5Conf(SAMPLE, '/etc/krb5.conf');
  it('libdefaults', () => {
    assert.equal(c.defaultRealm, 'EXAMPLE.COM');
    assert.deepEqual(c.permittedEnctypes, [18, 17, 23]);
    assert.deepEqual(c.defaultTktEnctypes, [18, 17, 20, 19, 23]);
    assert.deepEqual(c.defaultTgsEnctypes, [...DEFAULT_ENCTYPES]);
    assert.equal(c.clockskew, 120);
    assert.equal(c.udpPreferenceLimit, 1);
    assert.equal(c.dnsLookupKdc, false);
    assert.equal(c.ticketLifetime, 10 * 3600 + 30 * 60);
    assert.equal(c.forwardable, true);
    assert.equal(c.rdns, false);
    assert.equal(c.dnsCanonicalizeHostname, 'fallback');
    assert.equal(c.allowWeakCrypto, false);
    assert.equal(c.get('libdefaults', 'quoted'), '  a\tb  ');
  });
  it('defaults when unset', () => {
    const d = parseKrb5Conf('[libdefaults]\n');
    assert.equal(d.defaultRealm, undefined);
    assert.equal(d.clockskew, 300);
    assert.equal(d.udpPreferenceLimit, 1465);
    assert.equal(d.dnsLookupKdc, true);
    assert.equal(d.ticketLifetime, 86400);
    assert.equal(d.forwardable, false);
    assert.equal(d.rdns, true);
    assert.equal(d.dnsCanonicalizeHostname, true);
    assert.equal(d.dnsCanonicalizeHostnameSetting, undefined, 'unset is told apart from true');
    assert.equal(parseKrb5Conf('[libdefaults]\n dns_canonicalize_hostname = no\n').dnsCanonicalizeHostnameSetting, false);
    assert.throws(() => parseKrb5Conf('[libdefaults]\n dns_canonicalize_hostname = maybe\n').dnsCanonicalizeHostnameSetting, /not a boolean/);
    assert.deepEqual(d.permittedEnctypes, [...DEFAULT_ENCTYPES]);
  });
  it('realms with repeated kdc lines, default port 88, a brace on the next line, nested blocks, final markers', () => {
    assert.deepEqual(c.realms['EXAMPLE.COM']!.kdc, ['kdc1.example.com:88', 'kdc2.example.com:750', '[2001:db8::1]:88']);
    assert.equal(c.realms['EXAMPLE.COM']!.kdcAddresses[2]!.transport, 'tcp');
    assert.deepEqual(c.realms['EXAMPLE.COM']!.adminServer, ['kdc1.example.com:749']);
    assert.equal(c.get('realms', 'EXAMPLE.COM', 'auth_to_local', 'nested'), 'deeper');
    assert.deepEqual(c.realms['OTHER.ORG']!.kdc, ['10.0.0.1:88']);
  });
  it('domainRealm: exact name first, then ".suffix" and "suffix" for each parent, as MIT', () => {
    assert.equal(c.domainRealm('www.example.com'), 'EXAMPLE.COM');
    assert.equal(c.domainRealm('EXAMPLE.COM.'), 'EXAMPLE.COM');
    assert.equal(c.domainRealm('host.other.org'), 'OTHER.ORG');
    assert.equal(c.domainRealm('x.host.other.org'), 'OTHER.ORG');
    assert.equal(c.domainRealm('nothing.net'), undefined);
  });
  it('a comment after a value is part of the value (MIT)', () => {
    assert.equal(parseKrb5Conf('[libdefaults]\n a = b # c\n').get('libdefaults', 'a'), 'b # c');
    assert.throws(() => parseKrb5Conf('[libdefaults]\n forwardable = true # c\n').forwardable, invalidParam(/krb5\.conf:2: forwardable/));
  });
});

describe('krb5.conf: syntax errors name file and line', () => {
  const cases: Array<[string, RegExp]> = [
    ['[libdefaults]\n  novalue\n', /^.*x\.conf:2: /],
    ['[libdefaults]\n}\n', /x\.conf:2: extra '}'/],
    ['[realms]\n R = {\n  [libdefaults]\n', /x\.conf:3: section header inside/],
    ['[libdefaults\n', /x\.conf:1: section header without/],
    ['[libdefaults] junk\n', /x\.conf:1: unexpected text/],
    ['[realms]\n R =\n kdc = x\n', /x\.conf:3: missing '\{'/],
    ['[realms]\n R = {\n kdc = x\n', /x\.conf:\d+: missing '\}'/],
    ['[libdefaults]\n a b = c\n', /x\.conf:2: tag/],
    ['[libdefaults]\n = c\n', /x\.conf:2: relation without a tag/],
  ];
  for (const [text, re] of cases) it(JSON.stringify(text), () => assert.throws(() => parseKrb5Conf(text, 'x.conf'), invalidParam(re)));
});

describe('krb5.conf: files', () => {
  it('KRB5_CONFIG list: first file wins, missing files skipped, include and includedir', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tslsa-conf-'));
    try {
      const a = join(dir, 'a.conf');
      const b = join(dir, 'b.conf');
      const inc = join(dir, 'inc.conf');
      const d = join(dir, 'd');
      mkdirSync(d);
      writeFileSync(a, `[libdefaults]\n default_realm = A\ninclude ${inc}\nincludedir ${d}\n[realms]\n R = {\n kdc = a\n }\n`);
      writeFileSync(b, `[libdefaults]\n default_realm = B\n clockskew = 5m\n[realms]\n R = {\n kdc = b:99\n }\n`);
      writeFileSync(inc, `[domain_realm]\n .x = X\n`);
      writeFileSync(join(d, 'ok_1'), `[libdefaults]\n forwardable = true\n`);
      writeFileSync(join(d, 'skip.bak~'), `[libdefaults]\n rdns = false\n`);
      writeFileSync(join(d, '.hidden.conf'), `[libdefaults]\n rdns = false\n`);
      writeFileSync(join(d, 'z.conf'), `[libdefaults]\n udp_preference_limit = 7\n`);
      const env = { KRB5_CONFIG: `${a}:${join(dir, 'missing')}:${b}` };
      assert.deepEqual(krb5ConfigPaths(env), [a, join(dir, 'missing'), b]);
      assert.deepEqual(krb5ConfigPaths({}), ['/etc/krb5.conf']);
      const c = loadKrb5Config(undefined, { env });
      assert.equal(c.defaultRealm, 'A');
      assert.equal(c.clockskew, 300 / 60 * 60);
      assert.deepEqual(c.realms.R!.kdc, ['a:88', 'b:99']);
      assert.equal(c.domainRealm('h.x'), 'X');
      assert.equal(c.forwardable, true);
      assert.equal(c.rdns, true);
      assert.equal(c.udpPreferenceLimit, 7);
      writeFileSync(a, `[libdefaults]\ninclude ${join(dir, 'nope')}\n`);
      assert.throws(() => loadKrb5Config([a]), invalidParam(/a\.conf:2: cannot read included file/));
      assert.equal(loadKrb5Config([join(dir, 'missing')]).defaultRealm, undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('krb5.conf: values', () => {
  it('enctype lists: aliases, families, +/-, DEFAULT, weak filtering, unknown names skipped', () => {
    assert.deepEqual(parseEnctypeList('aes256-cts-hmac-sha1-96 arcfour-hmac-md5 aes128-sha2 aes256-sha2'), [18, 23, 19, 20]);
    assert.deepEqual(parseEnctypeList('aes -aes128-cts rc4 bogus'), [18, 20, 19, 23]);
    assert.deepEqual(parseEnctypeList('des-cbc-crc arcfour-hmac-exp aes256-cts'), [18]);
    assert.deepEqual(parseEnctypeList('des-cbc-crc aes256-cts', true), [1, 18]);
    assert.deepEqual(parseEnctypeList('DEFAULT,-rc4,-des3,-camellia'), [18, 17, 20, 19]);
  });
  it('durations', () => {
    for (const [s, v] of [['300', 300], ['5m', 300], ['1d', 86400], ['10h 0m 0s', 36000], ['10:30', 37800], ['1:00:05', 3605], ['2d 1h', 176400]] as const) {
      assert.equal(parseDuration(s), v, s);
    }
    assert.equal(parseDuration('soon'), undefined);
    assert.equal(parseDuration(''), undefined);
  });
  it('kdc addresses', () => {
    assert.deepEqual(parseKdcAddress('k:1'), { host: 'k', port: 1, transport: 'any', raw: 'k:1' });
    assert.equal(parseKdcAddress('k:0'), undefined);
    assert.equal(parseKdcAddress('https://proxy.example/KdcProxy')!.port, 443);
    assert.equal(parseKdcAddress('udp/k')!.transport, 'udp');
  });
  it('fuzz: any text → a configuration or SEC_E_INVALID_PARAMETER', () =>
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string({ maxLength: 20, size: 'max' }), fc.constantFrom('[libdefaults]', '[realms]', 'R = {', '}', 'a = b', 'x =', '{', '#c', 'include', '*')), { maxLength: 12, size: 'max' }), (lines) => {
        try {
          const c = parseKrb5Conf(lines.join('\n'), 'f');
          void c.realms;
          void c.defaultRealm;
          parseProfile(lines.join('\r\n'));
        } catch (e) {
          if (!SspiError.is(e, SecurityStatus.SEC_E_INVALID_PARAMETER)) throw e;
        }
      }),
      { numRuns: 500 },
    ));
});
