// Contexts without NTLM session security (MS-NLMP 3.4): anonymous logons, and contexts that
// negotiated NTLMSSP_NEGOTIATE_ALWAYS_SIGN but neither SIGN nor SEAL. MakeSignature gives the
// "dummy" signature (Version 1, then 12 zero bytes), VerifySignature accepts only that,
// and nothing is ever encrypted.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as fc from 'fast-check';
import { toHex } from '../../../../src/crypto/bytes.js';
import type { SECPKG_USER_FUNCTION_TABLE } from '../../../../src/lsa/types.js';
import { packContextData, unpackContextData } from '../../../../src/packages/ntlm/contextData.js';
import * as F from '../../../../src/packages/ntlm/flags.js';
import { dummySignature, hasDummySigning, hasSessionSecurity, isDummySignature } from '../../../../src/packages/ntlm/signing.js';
import { ntlmUserModeTable } from '../../../../src/packages/ntlm/usermode.js';
import { bufferBytes, secBuffer, secBufferDesc } from '../../../../src/sspi/buffers.js';
import { SspiError } from '../../../../src/sspi/error.js';
import { SECBUFFER, SECQOP_WRAP_NO_ENCRYPT } from '../../../../src/sspi/flags.js';
import { SecurityStatus } from '../../../../src/sspi/status.js';
import { handshake, pair } from './ntlm-harness.js';

const DUMMY_HEX = '01000000000000000000000000000000';
const ANON = { User: '', Domain: '', Password: '' };
const BASE = F.NTLMSSP_NEGOTIATE_UNICODE | F.NTLMSSP_NEGOTIATE_NTLM | F.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY | F.NTLMSSP_NEGOTIATE_128 | F.NTLMSSP_NEGOTIATE_KEY_EXCH;
const KEY = new Uint8Array(16).map((_, i) => 0x40 + i);
const code = (name: string) => (e: unknown) => e instanceof SspiError && e.code === name;

function userContext(NegotiateFlags: number, side: 'client' | 'server' = 'client'): { t: SECPKG_USER_FUNCTION_TABLE; h: bigint } {
  const t = ntlmUserModeTable();
  const packed = packContextData({ side, NegotiateFlags, ContextAttributes: 0, sendSeqNum: 0, recvSeqNum: 0, ExportedSessionKey: KEY.slice(), UserName: 'alice', DomainName: 'EXAMPLE' });
  assert.equal(t.InitUserModeContext!(1n, packed), SecurityStatus.SEC_E_OK);
  return { t, h: 1n };
}

function makeSignature(t: SECPKG_USER_FUNCTION_TABLE, h: bigint, msg: Uint8Array, qop = 0): { status: number; sig: Uint8Array } {
  const tok = secBuffer(SECBUFFER.TOKEN, new Uint8Array(16).fill(0xee));
  const status = qop === 0 ? t.MakeSignature!(h, 0, secBufferDesc(secBuffer(SECBUFFER.DATA, msg), tok), 0) : t.SealMessage!(h, qop, secBufferDesc(tok, secBuffer(SECBUFFER.DATA, msg)), 0);
  return { status, sig: bufferBytes(tok) };
}

function verifySignature(t: SECPKG_USER_FUNCTION_TABLE, h: bigint, msg: Uint8Array, sig: Uint8Array): number {
  return t.VerifySignature!(h, secBufferDesc(secBuffer(SECBUFFER.DATA, msg), secBuffer(SECBUFFER.TOKEN, sig)), 0).status;
}

describe('the dummy NTLMSSP_MESSAGE_SIGNATURE', () => {
  it('is Version 1 followed by 12 zero bytes, written over whatever the buffer held', () => {
    assert.equal(toHex(dummySignature()), DUMMY_HEX);
    const b = new Uint8Array(20).fill(0xff);
    dummySignature(b);
    assert.equal(toHex(b.subarray(0, 16)), DUMMY_HEX);
    assert.deepEqual([...b.subarray(16)], [0xff, 0xff, 0xff, 0xff]);
  });

  it('isDummySignature accepts exactly that and nothing else', () => {
    assert.equal(isDummySignature(dummySignature()), true);
    assert.equal(isDummySignature(new Uint8Array(15)), false);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => {
        assert.equal(isDummySignature(b), toHex(b) === DUMMY_HEX);
      }),
    );
    for (let i = 0; i < 16; i++) {
      const b = dummySignature();
      b[i] = b[i]! ^ 0x80;
      assert.equal(isDummySignature(b), false, `byte ${i}`);
    }
  });

  it('session security needs SIGN or SEAL and no ANONYMOUS; the dummy needs ALWAYS_SIGN (MS-NLMP 3.4, 2.2.2.5)', () => {
    const S = F.NTLMSSP_NEGOTIATE_SIGN;
    const E = F.NTLMSSP_NEGOTIATE_SEAL;
    const A = F.NTLMSSP_NEGOTIATE_ALWAYS_SIGN;
    const N = F.NTLMSSP_NEGOTIATE_ANONYMOUS;
    const table: [number, boolean, boolean][] = [
      [0, false, false],
      [A, false, true],
      [S, true, false],
      [E, true, false],
      [S | E | A, true, false],
      [S | E | A | N, false, true],
      [S | E | N, false, false],
      [A | N, false, true],
    ];
    for (const [f, secure, dummy] of table) {
      assert.equal(hasSessionSecurity(BASE | f), secure, `secure 0x${f.toString(16)}`);
      assert.equal(hasDummySigning(BASE | f), dummy, `dummy 0x${f.toString(16)}`);
    }
  });
});

describe('user-mode calls of a context with ALWAYS_SIGN but neither SIGN nor SEAL', () => {
  const flags = BASE | F.NTLMSSP_NEGOTIATE_ALWAYS_SIGN;
  const msg = new Uint8Array([1, 2, 3, 4, 5]);

  it('MakeSignature returns the dummy signature every time: no SeqNum, no key', () => {
    const { t, h } = userContext(flags);
    for (let i = 0; i < 3; i++) {
      const r = makeSignature(t, h, msg);
      assert.equal(r.status, SecurityStatus.SEC_E_OK);
      assert.equal(toHex(r.sig), DUMMY_HEX);
    }
    assert.equal(t.DeleteUserModeContext!(h), SecurityStatus.SEC_E_OK);
  });

  it('VerifySignature accepts the dummy over any message and refuses any other signature', () => {
    const { t, h } = userContext(flags, 'server');
    assert.equal(verifySignature(t, h, msg, dummySignature()), SecurityStatus.SEC_E_OK);
    assert.equal(verifySignature(t, h, new Uint8Array(0), dummySignature()), SecurityStatus.SEC_E_OK);
    // A real ESS signature from a keyed peer is not what this context expects.
    const real = Uint8Array.from([1, 0, 0, 0, 0x7d, 0x9a, 0x8b, 0x2a, 0x8d, 0x70, 0x25, 0x99, 0, 0, 0, 0]);
    assert.equal(verifySignature(t, h, msg, real), SecurityStatus.SEC_E_MESSAGE_ALTERED);
    assert.equal(verifySignature(t, h, msg, new Uint8Array(16)), SecurityStatus.SEC_E_MESSAGE_ALTERED);
    assert.equal(verifySignature(t, h, msg, new Uint8Array(8)), SecurityStatus.SEC_E_INVALID_TOKEN);
  });

  it('EncryptMessage cannot encrypt; the sign-only QOP wraps with the dummy and DecryptMessage takes it back', () => {
    const { t, h } = userContext(flags);
    const data = msg.slice();
    assert.equal(makeSignature(t, h, data).status, SecurityStatus.SEC_E_OK);
    assert.equal(t.SealMessage!(h, 0, secBufferDesc(secBuffer(SECBUFFER.TOKEN, new Uint8Array(16)), secBuffer(SECBUFFER.DATA, data)), 0), SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION);
    assert.deepEqual(data, msg, 'a refused EncryptMessage leaves the data alone');
    const r = makeSignature(t, h, data, SECQOP_WRAP_NO_ENCRYPT);
    assert.equal(r.status, SecurityStatus.SEC_E_OK);
    assert.equal(toHex(r.sig), DUMMY_HEX);
    assert.deepEqual(data, msg);

    const { t: st, h: sh } = userContext(flags, 'server');
    const stream = secBuffer(SECBUFFER.STREAM, Uint8Array.from([...r.sig, ...msg]));
    const out = secBuffer(SECBUFFER.DATA, null);
    const u = st.UnsealMessage!(sh, secBufferDesc(stream, out), 0);
    assert.equal(u.status, SecurityStatus.SEC_E_OK);
    assert.equal(u.QualityOfProtection, SECQOP_WRAP_NO_ENCRYPT);
    assert.deepEqual(bufferBytes(out), msg);
    const bad = secBuffer(SECBUFFER.STREAM, Uint8Array.from([...new Uint8Array(16), ...msg]));
    assert.equal(st.UnsealMessage!(sh, secBufferDesc(bad, secBuffer(SECBUFFER.DATA, null)), 0).status, SecurityStatus.SEC_E_MESSAGE_ALTERED);
  });

  it('without ALWAYS_SIGN every message call is SEC_E_UNSUPPORTED_FUNCTION', () => {
    const { t, h } = userContext(BASE);
    assert.equal(makeSignature(t, h, msg).status, SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION);
    assert.equal(makeSignature(t, h, msg, SECQOP_WRAP_NO_ENCRYPT).status, SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION);
    assert.equal(verifySignature(t, h, msg, dummySignature()), SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION);
  });

  it('exports and re-imports with no stream state', async () => {
    const { t, h } = userContext(flags);
    makeSignature(t, h, msg);
    const r = await t.ExportContext!(h, 0);
    assert.equal(r.status, SecurityStatus.SEC_E_OK);
    const d = unpackContextData(r.PackedContext!);
    assert.equal(d.streams, null);
    assert.equal(d.sendSeqNum, 0);
    const imp = await t.ImportContext!(r.PackedContext!);
    assert.equal(imp.status, SecurityStatus.SEC_E_OK);
    assert.equal(toHex(makeSignature(t, imp.ContextHandle!, msg).sig), DUMMY_HEX);
  });
});

describe('anonymous NTLM contexts have no session security (MS-NLMP 3.4)', () => {
  it('both sides sign with the dummy, verify each other, and refuse to encrypt', async () => {
    const p = await pair({}, { authData: ANON, allowAnonymous: true });
    try {
      await handshake(p);
      const m = new TextEncoder().encode('anonymous hello');
      for (const [a, b] of [
        [p.client, p.server],
        [p.server, p.client],
      ] as const) {
        const sig = a.sign(m);
        assert.equal(toHex(sig), DUMMY_HEX);
        b.verify(m, sig);
        b.verify(new Uint8Array([9]), sig); // the dummy says nothing about the message
        const forged = sig.slice();
        forged[4] = 1;
        assert.throws(() => b.verify(m, forged), code('SEC_E_MESSAGE_ALTERED'));
        assert.throws(() => a.wrap(m), code('SEC_E_UNSUPPORTED_FUNCTION'));
        const tok = a.wrap(m, { encrypt: false });
        assert.equal(toHex(tok.subarray(0, 16)), DUMMY_HEX);
        assert.deepEqual(tok.subarray(16), m, 'a sign-only wrap carries the plaintext');
        const r = b.unwrap(tok);
        assert.deepEqual(r.message, m);
        assert.equal(r.encrypted, false);
      }
    } finally {
      await p.host.shutdown();
    }
  });

  it('the acceptor marks its context anonymous even though the CHALLENGE did not offer the flag', async () => {
    const p = await pair({}, { authData: ANON, allowAnonymous: true });
    try {
      await handshake(p);
      const d = unpackContextData(await p.server.export());
      assert.ok(d.NegotiateFlags & F.NTLMSSP_NEGOTIATE_ANONYMOUS);
      assert.ok(d.NegotiateFlags & F.NTLMSSP_NEGOTIATE_ALWAYS_SIGN);
      assert.equal(hasSessionSecurity(d.NegotiateFlags), false);
    } finally {
      await p.host.shutdown();
    }
  });

  it('an ordinary logon still signs and seals with real keys', async () => {
    const p = await pair();
    try {
      await handshake(p);
      const m = new Uint8Array([1, 2, 3]);
      const sig = p.client.sign(m);
      assert.equal(isDummySignature(sig), false);
      p.server.verify(m, sig);
      assert.throws(() => p.server.verify(m, dummySignature()), SspiError);
    } finally {
      await p.host.shutdown();
    }
  });
});
