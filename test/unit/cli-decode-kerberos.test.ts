// `tslsa decode` with Kerberos and SPNEGO input: base64, hex and `Negotiate` header values, text and
// --json, and a non-zero exit with SEC_E_INVALID_TOKEN for anything else.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import * as fc from 'fast-check';
import { main } from '../../src/cli/main.js';

const F = JSON.parse(readFileSync(new URL('../fixtures/kerberos-decode/mit-tokens.json', import.meta.url), 'utf8')) as Record<string, string>;

async function cli(...args: string[]) {
  let out = '';
  let err = '';
  const sink = (f: (s: string) => void) => new Writable({ write(c, _e, cb) { f(String(c)); cb(); } });
  const code = await main(args, sink((s) => (out += s)), sink((s) => (err += s)));
  return { code, out, err };
}

describe('tslsa decode (Kerberos)', () => {
  it('a Negotiate header with MIT SPNEGO(krb5): text tree', async () => {
    const r = await cli('decode', `Negotiate ${F.spnego_init_krb5}`);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^Wrapper: Negotiate header$/m);
    assert.match(r.out, /SPNEGO: NegTokenInit/);
    assert.match(r.out, /msg-type: KRB_AP_REQ \(14\)/);
  });
  it('a KRB-ERROR in hex, as JSON', async () => {
    const r = await cli('decode', Buffer.from(F.krb_error_preauth!, 'base64').toString('hex'), '--json');
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out) as Record<string, unknown>;
    assert.equal(j['error-code'], 'KDC_ERR_PREAUTH_REQUIRED (25)');
    assert.equal(j['e-text'], 'NEEDED_PREAUTH');
  });
  it('NTLM still decodes as before', async () => {
    const neg = Buffer.from('4e544c4d5353500001000000068208a000000000000000000000000000000000', 'hex');
    const r = await cli('decode', `Negotiate ${neg.toString('base64')}`);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /NEGOTIATE_MESSAGE/);
  });
  it('garbage exits non-zero with SEC_E_INVALID_TOKEN, never a crash (property)', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 64, size: 'max' }), async (b) => {
      const r = await cli('decode', Buffer.from(b).toString('base64'));
      if (r.code !== 0) {
        assert.equal(r.code, 1);
        assert.match(r.err, /SEC_E_INVALID_TOKEN/);
      }
    }), { numRuns: 200 });
  });
});
