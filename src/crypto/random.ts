// Cryptographically random bytes for the small values protocols draw per exchange (NTLM's
// ServerChallenge, ClientChallenge and random session key). node:crypto's randomBytes costs about
// 2 us per call whatever the size (one RAND_bytes call and a Buffer), so small requests are
// served from a pool filled by randomFillSync 4 KiB at a time, as node's own randomUUID does.
// Bytes leave the pool by copy and are zeroed there, so no value is handed out twice or lingers.
import { randomFillSync } from 'node:crypto';

const POOL = new Uint8Array(4096);
let next = POOL.length;
// Larger requests go straight to the CSPRNG: pooling them would gain nothing.
const POOLED_MAX = 64;

/** `n` bytes from the CSPRNG, as a new array. */
export function randomBytes(n: number): Uint8Array {
  if (n > POOLED_MAX) return randomFillSync(new Uint8Array(n));
  if (next + n > POOL.length) {
    randomFillSync(POOL);
    next = 0;
  }
  const out = POOL.slice(next, next + n);
  POOL.fill(0, next, next + n);
  next += n;
  return out;
}
