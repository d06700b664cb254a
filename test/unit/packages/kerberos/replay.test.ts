import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryReplayCache, replayKey, type ReplayCache } from '../../../../src/packages/kerberos/replay.js';

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
  it('is bounded: the oldest entries go first', () => {
    const rc = new MemoryReplayCache({ maxEntries: 3, now: () => 0 });
    for (const k of ['1', '2', '3', '4']) assert.equal(rc.checkAndStore(k, 10), true);
    assert.equal(rc.size, 3);
    assert.equal(rc.checkAndStore('1', 10), true); // evicted
    assert.equal(rc.checkAndStore('4', 10), false);
  });
  it('the interface admits an async store', async () => {
    const seen = new Set<string>();
    const remote: ReplayCache = { async checkAndStore(k) { if (seen.has(k)) return false; seen.add(k); return true; } };
    assert.equal(await remote.checkAndStore('x', 0), true);
    assert.equal(await remote.checkAndStore('x', 0), false);
  });
  it('rejects a bad bound', () => assert.throws(() => new MemoryReplayCache({ maxEntries: 0 })));
});
