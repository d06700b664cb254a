import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import * as fc from 'fast-check';
import { fromHex, toHex } from '../../../../src/crypto/bytes.js';
import { RC4 } from '../../../../src/crypto/rc4.js';
import { type NegotiatedSecurity, SEALKEY, SIGNKEY, negotiatedSecurityFromFlags } from '../../../../src/packages/ntlm/crypto.js';
import { MAC, NtlmSealingState, dummySignature } from '../../../../src/packages/ntlm/signing.js';
import { SspiError } from '../../../../src/sspi/error.js';
import { SecurityStatus } from '../../../../src/sspi/status.js';

interface NtlmCase {
  id: string;
  inputs?: Record<string, string | number>;
  expected?: Record<string, string>;
}
const cases = (JSON.parse(readFileSync(new URL('../../../fixtures/vectors/ntlm.json', import.meta.url), 'utf8')) as { cases: NtlmCase[] }).cases;
const get = (id: string, part: 'inputs' | 'expected', name: string): string => {
  const v = cases.find((c) => c.id === id)?.[part]?.[name];
  if (v === undefined) throw new Error(`${id}.${part}.${name} missing`);
  return String(v);
};
// "e28a8233 (relevant: ...)" -> 0xe28a8233
const flagsOf = (id: string): number => parseInt(get(id, 'inputs', 'NegotiateFlags_u32').split(' ')[0]!, 16);

const isStatus = (status: number) => (e: unknown) => SspiError.is(e, status);

describe('GSS_WrapEx examples (MS-NLMP 4.2.2.4, 4.2.3.4, 4.2.4.4)', () => {
  for (const id of ['v1_GSS_WrapEx', 'ess_GSS_WrapEx', 'v2_GSS_WrapEx']) {
    it(`${id}: client seals byte-exactly; server unseals`, () => {
      const key = fromHex(get(id, 'inputs', 'ExportedSessionKey'));
      const plaintext = fromHex(get(id, 'inputs', 'Plaintext_utf16le'));
      assert.equal(Number(get(id, 'inputs', 'SeqNum')), 0);
      const client = new NtlmSealingState(key, flagsOf(id), 'Client');
      assert.equal(client.sendSeqNum, 0);
      const data = plaintext.slice();
      const sig = client.seal(data);
      assert.equal(toHex(data), get(id, 'expected', 'SealedData'));
      assert.equal(toHex(sig), get(id, 'expected', 'Signature'));
      assert.equal(client.sendSeqNum, 1);

      const server = new NtlmSealingState(key, flagsOf(id), 'Server');
      const received = fromHex(get(id, 'expected', 'SealedData'));
      server.unseal(received, fromHex(get(id, 'expected', 'Signature')));
      assert.deepEqual(received, plaintext);
      client.destroy();
      server.destroy();
    });
  }

  for (const id of ['v1_GSS_WrapEx', 'ess_GSS_WrapEx', 'v2_GSS_WrapEx']) {
    it(`${id}: spec form SEAL = RC4(Handle, Message) then MAC(Handle, SigningKey, SeqNum, Message)`, () => {
      const key = fromHex(get(id, 'inputs', 'ExportedSessionKey'));
      const f = negotiatedSecurityFromFlags(flagsOf(id));
      const plaintext = fromHex(get(id, 'inputs', 'Plaintext_utf16le'));
      const Handle = new RC4(SEALKEY(f, key, 'Client'));
      const sealed = Handle.process(plaintext);
      const sig = MAC(Handle, SIGNKEY(f, key, 'Client'), 0, plaintext, f);
      assert.equal(toHex(sealed), get(id, 'expected', 'SealedData'));
      assert.equal(toHex(sig), get(id, 'expected', 'Signature'));
    });
  }

  it('MAC needs a signing key with ESS', () => {
    assert.throws(() => MAC(new RC4(new Uint8Array(16)), null, 0, new Uint8Array(1), { extendedSessionSecurity: true, keyExchange: false }), SspiError);
  });

  it('writes the signature into a caller buffer (SECBUFFER_TOKEN) when given one', () => {
    const id = 'v2_GSS_WrapEx';
    const client = new NtlmSealingState(fromHex(get(id, 'inputs', 'ExportedSessionKey')), flagsOf(id), 'Client');
    const token = new Uint8Array(20).fill(0xee);
    const data = fromHex(get(id, 'inputs', 'Plaintext_utf16le'));
    const sig = client.seal(data, token.subarray(2, 18));
    assert.equal(toHex(token.subarray(2, 18)), get(id, 'expected', 'Signature'));
    assert.equal(sig.buffer, token.buffer);
    assert.equal(token[0], 0xee);
    assert.equal(token[19], 0xee);
    assert.throws(() => client.seal(data, new Uint8Array(15)), isStatus(SecurityStatus.SEC_E_BUFFER_TOO_SMALL));
  });

  it('the v1 verifier ignores a non-zero RandomPad, as some senders emit one', () => {
    const id = 'v1_GSS_WrapEx';
    const key = fromHex(get(id, 'inputs', 'ExportedSessionKey'));
    const server = new NtlmSealingState(key, flagsOf(id), 'Server');
    const sig = fromHex(get(id, 'expected', 'Signature'));
    sig.set([0x12, 0x34, 0x56, 0x78], 4);
    const data = fromHex(get(id, 'expected', 'SealedData'));
    server.unseal(data, sig);
    assert.equal(toHex(data), get(id, 'inputs', 'Plaintext_utf16le'));
  });
});

// ---- round trips over the flag space ---------------------------------------------------------

function sec(o: Partial<NegotiatedSecurity>): NegotiatedSecurity {
  return {
    extendedSessionSecurity: false, negotiate128: false, negotiate56: false, lmKey: false, datagram: false, keyExchange: false,
    requestNonNtSessionKey: false, ...o,
  };
}

const securityArb = fc.record({
  extendedSessionSecurity: fc.boolean(),
  negotiate128: fc.boolean(),
  negotiate56: fc.boolean(),
  lmKey: fc.boolean(),
  datagram: fc.boolean(),
  keyExchange: fc.boolean(),
  requestNonNtSessionKey: fc.constant(false),
});

describe('NtlmSealingState', () => {
  it('client and server seal/unseal and sign/verify in both directions, for every flag combination', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        securityArb,
        fc.array(fc.record({ fromClient: fc.boolean(), seal: fc.boolean(), data: fc.uint8Array({ maxLength: 300, size: 'max' }) }), { minLength: 1, maxLength: 8 }),
        (key, f, msgs) => {
          const client = new NtlmSealingState(key, f, 'Client');
          const server = new NtlmSealingState(key, f, 'Server');
          let seq = 100;
          for (const m of msgs) {
            const [tx, rx] = m.fromClient ? [client, server] : [server, client];
            const buf = m.data.slice();
            // Datagram mode: the application supplies the sequence number.
            const s = f.datagram ? seq++ : undefined;
            if (m.seal) {
              const sig = tx.seal(buf, undefined, s);
              rx.unseal(buf, sig, s);
            } else {
              const sig = tx.sign(buf, undefined, s);
              rx.verify(buf, sig, s);
            }
            assert.deepEqual(buf, m.data);
          }
          client.destroy();
          server.destroy();
        },
      ),
      { numRuns: 150 },
    );
  });

  it('in-place sealing over parts equals sealing the concatenation; sign-only parts stay plaintext', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        securityArb.map((f) => ({ ...f, datagram: false })),
        fc.array(fc.uint8Array({ maxLength: 100, size: 'max' }), { minLength: 1, maxLength: 5 }),
        fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
        (key, f, parts, signOnlyRaw) => {
          const whole = Uint8Array.from(parts.flatMap((p) => [...p]));
          const a = new NtlmSealingState(key, f, 'Client');
          const sigWhole = a.seal(whole);
          const b = new NtlmSealingState(key, f, 'Client');
          const copies = parts.map((p) => p.slice());
          const sigParts = b.sealParts(copies, null);
          assert.deepEqual(sigParts, sigWhole);
          assert.deepEqual(Uint8Array.from(copies.flatMap((p) => [...p])), whole);

          // With sign-only parts: those stay in clear and the receiver still verifies.
          const signOnly = signOnlyRaw.slice(0, parts.length);
          const tx = new NtlmSealingState(key, f, 'Client');
          const rx = new NtlmSealingState(key, f, 'Server');
          const bufs = parts.map((p) => p.slice());
          const sig = tx.sealParts(bufs, signOnly);
          bufs.forEach((p, i) => {
            if (signOnly[i]) assert.deepEqual(p, parts[i]);
          });
          rx.unsealParts(bufs, signOnly, sig);
          assert.deepEqual(bufs, parts);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('an empty part leaves the v1 CRC32 unchanged (regression: zlib.crc32 on an empty view can return 0)', () => {
    // The shrunk fast-check counterexample, replayed in the order that exposed it.
    const key = new Uint8Array(16);
    const f = sec({});
    const parts = [Uint8Array.from([0]), Uint8Array.from([])];
    new NtlmSealingState(key, f, 'Client').seal(Uint8Array.from([0]));
    new NtlmSealingState(key, f, 'Client').sealParts(parts.map((p) => p.slice()), null);
    const tx = new NtlmSealingState(key, f, 'Client');
    const rx = new NtlmSealingState(key, f, 'Server');
    const bufs = parts.map((p) => p.slice());
    const sig = tx.sealParts(bufs, [false, true]);
    rx.unsealParts(bufs, [false, true], sig);
    assert.deepEqual(bufs, parts);
  });

  it('detects tampering with data or signature; zeroes the decrypted data', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        securityArb.map((f) => ({ ...f, datagram: false })),
        fc.uint8Array({ minLength: 1, maxLength: 64, size: 'max' }),
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        fc.boolean(),
        (key, f, data, pos, bit, inSig) => {
          const tx = new NtlmSealingState(key, f, 'Client');
          const rx = new NtlmSealingState(key, f, 'Server');
          const buf = data.slice();
          const sig = tx.seal(buf);
          if (inSig) {
            // Skip the version (checked separately) and, without ESS, the unchecked RandomPad.
            const candidates = f.extendedSessionSecurity ? [4, 5, 6, 7, 8, 9, 10, 11] : [8, 9, 10, 11, 12, 13, 14, 15];
            const i = candidates[pos % candidates.length]!;
            sig[i] = sig[i]! ^ (1 << bit);
          } else {
            const i = pos % buf.length;
            buf[i] = buf[i]! ^ (1 << bit);
          }
          assert.throws(() => rx.unseal(buf, sig), isStatus(SecurityStatus.SEC_E_MESSAGE_ALTERED));
          assert.ok(buf.every((b) => b === 0));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('ESS: a replayed or skipped message is out of sequence', () => {
    const key = fromHex('55555555555555555555555555555555');
    const f = sec({ extendedSessionSecurity: true, negotiate128: true, keyExchange: true });
    const tx = new NtlmSealingState(key, f, 'Client');
    const rx = new NtlmSealingState(key, f, 'Server');
    const m1 = new Uint8Array([1, 2, 3]);
    const s1 = tx.sign(m1);
    rx.verify(m1, s1);
    assert.equal(rx.recvSeqNum, 1);
    assert.throws(() => rx.verify(m1, s1), isStatus(SecurityStatus.SEC_E_OUT_OF_SEQUENCE));
    // Signatures are also bound to the direction: the server's keys differ from the client's.
    const back = new NtlmSealingState(key, f, 'Client');
    const s = rx.sign(m1);
    back.verify(m1, s);
    assert.throws(() => new NtlmSealingState(key, f, 'Server').verify(m1, s), isStatus(SecurityStatus.SEC_E_MESSAGE_ALTERED));
  });

  it('ESS without KEY_EXCH sends the HMAC in clear; with KEY_EXCH it is RC4-encrypted', () => {
    const key = fromHex('eb93429a8bd952f8b89c55b87f475edc');
    const msg = new Uint8Array(10);
    const plain = new NtlmSealingState(key, sec({ extendedSessionSecurity: true, negotiate56: true }), 'Client').sign(msg);
    const kx = new NtlmSealingState(key, sec({ extendedSessionSecurity: true, negotiate56: true, keyExchange: true }), 'Client').sign(msg);
    assert.deepEqual(plain.subarray(12), kx.subarray(12));
    assert.notDeepEqual(plain.subarray(4, 12), kx.subarray(4, 12));
  });

  it('datagram mode needs the sequence number and re-keys per message, so order does not matter', () => {
    const key = fromHex('0102030405060708090a0b0c0d0e0f10');
    for (const f of [sec({ extendedSessionSecurity: true, negotiate128: true, keyExchange: true, datagram: true }), sec({ datagram: true, negotiate56: true })]) {
      const tx = new NtlmSealingState(key, f, 'Client');
      const rx = new NtlmSealingState(key, f, 'Server');
      assert.throws(() => tx.seal(new Uint8Array(4)), isStatus(SecurityStatus.SEC_E_INVALID_PARAMETER));
      const msgs = [5, 6, 7].map((seq) => {
        const data = new Uint8Array([seq, seq, seq, seq]);
        return { seq, data, sig: tx.seal(data, undefined, seq) };
      });
      for (const m of msgs.reverse()) {
        rx.unseal(m.data, m.sig, m.seq);
        assert.deepEqual(m.data, new Uint8Array([m.seq, m.seq, m.seq, m.seq]));
      }
      assert.equal(tx.sendSeqNum, 0);
    }
  });

  it('rejects malformed signatures and use after destroy', () => {
    const key = new Uint8Array(16).fill(1);
    const f = sec({ extendedSessionSecurity: true, negotiate128: true, keyExchange: true });
    const rx = new NtlmSealingState(key, f, 'Server');
    assert.throws(() => rx.verify(new Uint8Array(3), new Uint8Array(15)), isStatus(SecurityStatus.SEC_E_INVALID_TOKEN));
    assert.throws(() => rx.verify(new Uint8Array(3), new Uint8Array(16)), isStatus(SecurityStatus.SEC_E_INVALID_TOKEN));
    assert.throws(() => new NtlmSealingState(new Uint8Array(8), f, 'Client'), SspiError);
    rx.destroy();
    assert.throws(() => rx.sign(new Uint8Array(1)), isStatus(SecurityStatus.SEC_E_INVALID_HANDLE));
    const keys = rx as unknown as { send: { sealKey: Uint8Array; signKey: Uint8Array } };
    assert.ok(keys.send.sealKey.every((b) => b === 0));
    assert.ok(keys.send.signKey.every((b) => b === 0));
  });

  it('dummySignature is version 1 and zeros', () => {
    assert.equal(toHex(dummySignature()), '01' + '00'.repeat(15));
  });
});
