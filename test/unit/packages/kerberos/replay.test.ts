import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { MemoryReplayCache, replayKey, type ReplayCache } from '../../../../src/packages/kerberos/replay.js';
import fc from 'fast-check';
import { SspiError } from '../../../../src/sspi/error.js';
import { SecurityStatus } from '../../../../src/sspi/status.js';

describe('replay cache', () => {
  const base = { server: 'HTTP/x@R', authenticatorCipher: Uint8Array.of(1, 2, 3, 4) };
  it('key covers the server and the authenticator ciphertext', () => {
    const k = replayKey(base);
    assert.match(k, /^[0-9a-f]{64}$/);
    assert.equal(replayKey({ ...base, authenticatorCipher: Uint8Array.of(1, 2, 3, 4) }), k);
    assert.notEqual(replayKey({ ...base, authenticatorCipher: Uint8Array.of(1, 2, 3, 5) }), k);
    assert.notEqual(replayKey({ ...base, server: 'HTTP/y@R' }), k);
    // length prefixes: moving a byte between fields changes the key
    assert.notEqual(replayKey({ server: 'HTTP/x@R\u0001', authenticatorCipher: Uint8Array.of(2, 3, 4) }), k);
    // The encoding is fixed (Redis keys written by one version are read by the next):
    // SHA-256 of len32(server) server len32(cipher) cipher, big-endian lengths.
    const enc = Buffer.concat([Buffer.of(0, 0, 0, 8), Buffer.from('HTTP/x@R'), Buffer.of(0, 0, 0, 4, 1, 2, 3, 4)]);
    assert.equal(k, createHash('sha256').update(enc).digest('hex'));
    assert.equal(k, '51b2a02f7c58620130cf5e482e97fff1e2693a4136572e9a1968b62688c7d85b', 'the key earlier versions wrote');
  });
  it('refuses a live duplicate, accepts it again after expiry, sweeps', () => {
    let now = 1000;
    const rc = new MemoryReplayCache({ now: () => now });
    assert.equal(rc.checkAndStore('a', 2000), true);
    assert.equal(rc.checkAndStore('a', 2000), false);
    now = 2500;
    assert.equal(rc.checkAndStore('a', 5000), true);
    assert.equal(rc.checkAndStore('b', 2600), true);
    now = 4000;
    rc.sweep();
    assert.equal(rc.size, 1);
  });
  it('is bounded and fails closed: a full cache refuses new authenticators, never forgets live ones', () => {
    let now = 0;
    const rc = new MemoryReplayCache({ maxEntries: 3, now: () => now });
    for (const k of ['1', '2', '3']) assert.equal(rc.checkAndStore(k, 10_000), true);
    assert.throws(() => rc.checkAndStore('4', 10_000), (e: unknown) => SspiError.is(e, SecurityStatus.SEC_E_INSUFFICIENT_MEMORY));
    for (const k of ['1', '2', '3']) assert.equal(rc.checkAndStore(k, 10_000), false, 'still a replay');
    now = 11_000; // all expired: room again
    assert.equal(rc.checkAndStore('4', 20_000), true);
    assert.equal(rc.checkAndStore('1', 20_000), true);
  });
  it('keeps 200 000 live entries without losing one (the table grows; replayKey keys)', () => {
    const rc = new MemoryReplayCache({ now: () => 0 });
    const keys: string[] = [];
    for (let i = 0; i < 200_000; i++) {
      const k = replayKey({ server: 'HTTP/x@R', authenticatorCipher: Uint8Array.of(i & 255, (i >> 8) & 255, i >> 16) });
      keys.push(k);
      assert.equal(rc.checkAndStore(k, 60_000), true);
    }
    assert.equal(rc.size, 200_000);
    for (let i = 0; i < keys.length; i += 997) assert.equal(rc.checkAndStore(keys[i]!, 60_000), false);
  });
  it('agrees with a plain model under random keys, expiries and clock moves', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ key: fc.integer({ min: 0, max: 40 }), ttl: fc.integer({ min: 1, max: 5_000 }), dt: fc.integer({ min: 0, max: 3_000 }), sweep: fc.boolean() }), { maxLength: 400, size: 'max' }),
        (ops) => {
          let now = 1_000_000;
          const rc = new MemoryReplayCache({ now: () => now });
          const model = new Map<string, number>(); // expiry in whole seconds, rounded up, as the cache keeps it
          for (const op of ops) {
            now += op.dt;
            const key = `k${op.key}`;
            const exp = now + op.ttl;
            const prev = model.get(key);
            const fresh = !(prev !== undefined && prev > Math.floor(now / 1000));
            assert.equal(rc.checkAndStore(key, exp), fresh);
            if (fresh) model.set(key, Math.ceil(exp / 1000));
            if (op.sweep) rc.sweep();
          }
        },
      ),
    );
  });
  it('the interface admits an async store', async () => {
    const seen = new Set<string>();
    const remote: ReplayCache = { async checkAndStore(k) { if (seen.has(k)) return false; seen.add(k); return true; } };
    assert.equal(await remote.checkAndStore('x', 0), true);
    assert.equal(await remote.checkAndStore('x', 0), false);
  });
  it('rejects a bad bound', () => assert.throws(() => new MemoryReplayCache({ maxEntries: 0 })));
});
