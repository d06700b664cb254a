// For a node:test file that runs fuzz properties over a shared world: the world is torn down after
// the file, and an unhandled rejection anywhere in it fails the file (a package that let one
// escape would otherwise pass every property).
import * as assert from 'node:assert/strict';
import { after } from 'node:test';
export { assertSettled, checkSettled } from './settle.js';

/** `rejections` collects them; pass a properties module's own list when its properties read it. */
export function guardFuzzFile(close: () => Promise<void>, rejections: unknown[] = []): void {
  const onRejection = (e: unknown) => rejections.push(e);
  process.on('unhandledRejection', onRejection);
  after(async () => {
    await close();
    process.off('unhandledRejection', onRejection);
    assert.deepEqual(rejections, [], 'no unhandled rejection');
  });
}

