// fast-check returns at interruptAfterTimeLimit while an async run is still going (it races the
// run against the clock); assertSettled/checkSettled return only once that run has ended.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import * as fc from 'fast-check';
import { assertSettled, checkSettled } from '../fuzz/settle.js';

function slowProperty(): { prop: fc.IAsyncProperty<[number]>; running: () => number } {
  let running = 0;
  const prop = fc.asyncProperty(fc.integer(), async (_n: number) => {
    running++;
    await new Promise((r) => setTimeout(r, 150));
    running--;
  });
  return { prop, running: () => running };
}

// The first runs end, the one going at 400 ms is cut (fast-check fails a property with no run done).
const params = { numRuns: 1000, interruptAfterTimeLimit: 400, markInterruptAsFailure: false };

it('fc.assert leaves the run it interrupted going; assertSettled waits for it', async () => {
  const bare = slowProperty();
  await fc.assert(bare.prop, params);
  assert.equal(bare.running(), 1, 'fast-check returned with a run in flight');
  await new Promise((r) => setTimeout(r, 300));

  const s = slowProperty();
  await assertSettled(s.prop, params);
  assert.equal(s.running(), 0);
  const c = slowProperty();
  const details = await checkSettled(c.prop, params);
  assert.equal(details.failed, false);
  assert.equal(c.running(), 0);
});

it('a run still going after settleMs fails instead of hanging', async () => {
  const prop = fc.asyncProperty(fc.integer(), () => new Promise<void>((r) => setTimeout(r, 300)));
  await assert.rejects(assertSettled(prop, params, 50), /still going 50 ms later/);
  await new Promise((r) => setTimeout(r, 300));
});
