// Running a fast-check property to the end of its last run (see assertSettled).
import * as assert from 'node:assert/strict';
import * as fc from 'fast-check';

/**
 * fast-check's `interruptAfterTimeLimit` and `timeout` race an async run in flight against the
 * clock, and when the clock wins they return while that run goes on. Such a run can outlive its
 * test and, once the file's world is torn down, build it again: a listening server then keeps the
 * test process from ever exiting. These run a property and return only when no run of it is in
 * flight (one still going `settleMs` later fails, instead of hanging the file).
 */
export async function assertSettled<Ts>(prop: fc.IRawProperty<Ts>, params: fc.Parameters<Ts>, settleMs = 30_000): Promise<void> {
  const t = tracked(prop);
  try {
    await fc.assert(t.prop, params);
  } finally {
    await t.settled(settleMs);
  }
}

export async function checkSettled<Ts>(prop: fc.IRawProperty<Ts>, params: fc.Parameters<Ts>, settleMs = 30_000): Promise<fc.RunDetails<Ts>> {
  const t = tracked(prop);
  try {
    return await fc.check(t.prop, params);
  } finally {
    await t.settled(settleMs);
  }
}

function tracked<Ts>(prop: fc.IRawProperty<Ts>): { prop: fc.IRawProperty<Ts>; settled(ms: number): Promise<void> } {
  const inFlight = new Set<Promise<unknown>>();
  const wrapped = new Proxy(prop, {
    get(target, key, receiver) {
      if (key === 'run') {
        return (...args: unknown[]) => {
          const r: unknown = (target.run as (...a: unknown[]) => unknown).apply(target, args);
          if (r instanceof Promise) {
            inFlight.add(r);
            const done = () => inFlight.delete(r);
            r.then(done, done);
          }
          return r;
        };
      }
      const v: unknown = Reflect.get(target, key, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return {
    prop: wrapped,
    async settled(ms) {
      if (inFlight.size === 0) return;
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), ms)));
      const r = await Promise.race([Promise.allSettled([...inFlight]).then(() => 'done' as const), late]);
      clearTimeout(timer);
      assert.equal(r, 'done', `a run abandoned at the time limit was still going ${ms} ms later`);
    },
  };
}
