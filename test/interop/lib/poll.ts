// Waiting for what a test cannot await: a log line that comes through a pipe a little after the
// response, a store that notices Redis is gone or back. Deadlines are generous (a loaded CI box);
// the caller asserts on the result, so a condition that never comes fails the test, with its message.
import { sleep } from './proc.js';

/** Polls `f` every `everyMs` until it returns true: true, or false once `ms` have passed. */
export async function eventually(f: () => boolean | Promise<boolean>, ms = 15_000, everyMs = 25): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await f()) return true;
    await sleep(everyMs);
  }
  return false;
}
