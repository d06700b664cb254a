import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryReplayCache, replayKey, type ReplayCache } from '../../../../src/packages/kerberos/replay.js';

describe('replay cache', () => {
  const base = { client: 'alice@R', server: 'HTTP/x@R', ctime: new Date(1_700_000_000_000), cusec: 12 };
  it('key covers client, server, ctime, cusec and checksum', () => {
    const k = replayKey(base);
    assert.match(k, /^[0-9a-f]{64}$/);
    assert.notEqual(replayKey({ ...base, cusec: 13 }), k);
    assert.notEqual(replayKey({ ...base, client: 'bob@R' }), k);
    assert.notEqual(replayKey({ ...base, server: 'HTTP/y@R' }), k);
    assert.notEqual(replayKey({ ...base, ctime: new Date(1_700_000_001_000) }), k);
    assert.notEqual(replayKey({ ...base, checksum: new Uint8Array([1]) }), k);
    // length prefixes: moving a character between fields changes the key
    assert.notEqual(replayKey({ ...base, client: 'alice@RH', server: 'TTP/x@R' }), k);
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
