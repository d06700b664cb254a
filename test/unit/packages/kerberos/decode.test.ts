// `tslsa decode` for Kerberos: real MIT tokens (captured from gss-client and krb5kdc on the test
// realm, test/fixtures/kerberos-decode/mit-tokens.json), our own per-message tokens, and fuzzing.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as fc from 'fast-check';
import { SspiError } from '../../../../src/sspi/error.js';
import { SecurityStatus } from '../../../../src/sspi/status.js';
import { decodeKerberosToken } from '../../../../src/packages/kerberos/decode.js';
import { formatNtlmTree } from '../../../../src/packages/ntlm/decode.js';
import { createTokenState, getMic, wrap } from '../../../../src/packages/kerberos/gss/tokens.js';
import { rc4GetMic } from '../../../../src/packages/kerberos/gss/rc4tokens.js';
import { randomToKey } from '../../../../src/packages/kerberos/crypto/index.js';
import { encodeNegTokenResp } from '../../../../src/packages/negotiate/spnego.js';

const F = JSON.parse(readFileSync(new URL('../../../fixtures/kerberos-decode/mit-tokens.json', import.meta.url), 'utf8')) as Record<string, string>;
const b64 = (k: string) => Uint8Array.from(Buffer.from(F[k]!, 'base64'));
const text = (b: Uint8Array) => formatNtlmTree(decodeKerberosToken(b));

describe('Kerberos decode: MIT tokens', () => {
  it('AP-REQ from gss-client: framing, options, ticket service, enctypes, no plaintext', () => {
    const t = decodeKerberosToken(b64('krb5_ap_req'));
    assert.equal(t.mechanism, '1.2.840.113554.1.2.2 (Kerberos 5)');
    assert.equal(t.TOK_ID, '01 00 (KRB_AP_REQ)');
    assert.equal(t['msg-type'], 'KRB_AP_REQ (14)');
    assert.deepEqual((t['ap-options'] as { names: string[] }).names, ['MUTUAL_REQUIRED']);
    const s = text(b64('krb5_ap_req'));
    assert.match(s, /sname: HTTP\/localhost@EXAMPLE\.TEST \(NT_SRV_HST \(3\)\)/);
    assert.match(s, /etype: aes256-cts-hmac-sha1-96 \(18\)\n\s+kvno: 2\n\s+cipher: \d+ bytes \(encrypted, not shown\)/);
  });
  it('KRB-ERROR from the KDC: error code by name, e-text, times, principals', () => {
    const s = text(b64('krb_error_preauth'));
    assert.match(s, /error-code: KDC_ERR_PREAUTH_REQUIRED \(25\)/);
    assert.match(s, /e-text: NEEDED_PREAUTH/);
    assert.match(s, /stime: \d{4}-\d\d-\d\dT/);
    assert.match(s, /cname: user@EXAMPLE\.TEST/);
    assert.match(text(b64('krb_error_unknown')), /KDC_ERR_C_PRINCIPAL_UNKNOWN \(6\)/);
  });
  it('AS-REP and AS-REQ: padata names, ticket, encrypted parts', () => {
    const s = text(b64('as_rep_nopreauth'));
    assert.match(s, /msg-type: KRB_AS_REP \(11\)/);
    assert.match(s, /PA_ETYPE_INFO2 \(19\)/);
    assert.match(s, /sname: krbtgt\/EXAMPLE\.TEST@EXAMPLE\.TEST/);
    const q = text(b64('as_req_ours'));
    assert.match(q, /kdc-options: 0x40000000\n\s+FORWARDABLE/);
    assert.match(q, /aes128-cts-hmac-sha1-96 \(17\)/);
  });
  it('AP-REP (GSS framed), RFC 4121 Wrap from MIT, RFC 4757 Wrap from MIT', () => {
    assert.match(text(b64('krb5_ap_rep_ours')), /TOK_ID: 02 00 \(KRB_AP_REP\)/);
    const w = text(b64('krb5_wrap'));
    assert.match(w, /TOK_ID: 05 04 \(Wrap, RFC 4121\)\nFlags: 0x06\n\s+Sealed\n\s+AcceptorSubkey\nEC: 0\nRRC: 0\nSND_SEQ: \d+/);
    const r = text(b64('rc4_wrap'));
    assert.match(r, /TOK_ID: 02 01 \(Wrap, RFC 1964\)\nSGN_ALG: 0x0011 HMAC MD5 \(RFC 4757\)\nSEAL_ALG: 0x0010 RC4/);
  });
  it('SPNEGO NegTokenInit from gss-client -spnego: mechTypes and the inner AP-REQ', () => {
    const t = decodeKerberosToken(b64('spnego_init_krb5'));
    assert.equal(t.SPNEGO, 'NegTokenInit (framed, RFC 2743 3.1)');
    assert.deepEqual(t.mechTypes, ['1.2.840.113554.1.2.2 (Kerberos 5)']);
    assert.equal((t.mechToken as Record<string, unknown>)['msg-type'], 'KRB_AP_REQ (14)');
  });
  it('a bare NegTokenResp with a Kerberos AP-REP inside', () => {
    const inner = b64('krb5_ap_rep_ours');
    const t = decodeKerberosToken(encodeNegTokenResp({ negState: 0, supportedMech: '1.2.840.113554.1.2.2', responseToken: inner }));
    assert.equal(t.negState, 'accept_completed (0)');
    assert.equal((t.responseToken as Record<string, unknown>).TOK_ID, '02 00 (KRB_AP_REP)');
  });
});

describe('Kerberos decode: our per-message tokens', () => {
  it('RFC 4121 MIC and an RFC 4757 MIC', () => {
    const key = randomToKey(18, new Uint8Array(32).fill(1));
    const st = createTokenState({ initiator: false, key, localSeq: 77, remoteSeq: 1, replayDetect: false, sequenceDetect: false });
    const m = text(getMic(st, new Uint8Array(3)));
    assert.match(m, /TOK_ID: 04 04 \(MIC, RFC 4121\)\nFlags: 0x01\n\s+SentByAcceptor\nSND_SEQ: 77\nSGN_CKSUM: 12 bytes/);
    assert.match(text(wrap(st, new Uint8Array(3), { rrc: 28, conf: false })), /RRC: 28/);
    const rc4 = createTokenState({ initiator: true, key: { enctype: 23, keyvalue: new Uint8Array(16) }, localSeq: 1, remoteSeq: 1, replayDetect: false, sequenceDetect: false, policy: { allowWeak: true } });
    assert.match(text(rc4GetMic(rc4, new Uint8Array(1))), /TOK_ID: 01 01 \(MIC, RFC 1964\)\nSGN_ALG: 0x0011/);
  });
});

describe('Kerberos decode: bad input', () => {
  const typed = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      assert.ok(e instanceof SspiError, `not an SspiError: ${String(e)}`);
      assert.equal(e.status, SecurityStatus.SEC_E_INVALID_TOKEN);
    }
  };
  it('random bytes give a tree or SEC_E_INVALID_TOKEN (property)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200, size: 'max' }), (b) => typed(() => decodeKerberosToken(b))), { numRuns: 1000 });
  });
  it('mutated MIT tokens give a tree or SEC_E_INVALID_TOKEN (property)', () => {
    const keys = ['krb5_ap_req', 'krb_error_preauth', 'as_rep_nopreauth', 'spnego_init_krb5', 'rc4_wrap', 'krb5_wrap'];
    fc.assert(fc.property(fc.constantFrom(...keys), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.nat(), (k, edits, cut) => {
      const b = b64(k);
      for (const [p, v] of edits) b[p % b.length] = v;
      typed(() => decodeKerberosToken(b));
      typed(() => decodeKerberosToken(b.subarray(0, cut % (b.length + 1))));
    }), { numRuns: 1000 });
  });
  it('empty and non-Kerberos input is refused', () => {
    assert.throws(() => decodeKerberosToken(new Uint8Array(0)), (e: unknown) => SspiError.is(e, SecurityStatus.SEC_E_INVALID_TOKEN));
    assert.throws(() => decodeKerberosToken(Buffer.from('not a token')), (e: unknown) => SspiError.is(e, SecurityStatus.SEC_E_INVALID_TOKEN));
  });
});
