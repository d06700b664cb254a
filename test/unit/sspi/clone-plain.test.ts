import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { clonePlain } from '../../../src/sspi/attributes.js';

const plain = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.double(),
    fc.bigInt(),
    fc.string(),
    fc.uint8Array({ maxLength: 16, size: 'max' }),
    fc.date({ noInvalidDate: true }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 6 }), tie('value'), { maxKeys: 4 }),
  ),
})).value;

test('clonePlain gives what structuredClone gives for plain data', () => {
  fc.assert(
    fc.property(plain, (v) => {
      assert.deepStrictEqual(clonePlain(v), structuredClone(v));
    }),
  );
});

test('clonePlain shares no memory with its source', () => {
  const bytes = Buffer.from([1, 2, 3]);
  const src = { a: [bytes], d: new Date(5), o: { k: new Uint8Array([9]) } };
  const c = clonePlain(src);
  bytes[0] = 7;
  src.o.k[0] = 0;
  src.d.setTime(6);
  assert.deepStrictEqual(c.a[0], new Uint8Array([1, 2, 3]));
  assert.equal(Object.getPrototypeOf(c.a[0]), Uint8Array.prototype, 'a Buffer comes back as a plain Uint8Array, as structuredClone does');
  assert.equal(c.o.k[0], 9);
  assert.equal(c.d.getTime(), 5);
});

test('clonePlain falls back to structuredClone for what is not plain, and refuses what cannot cross', () => {
  const m = new Map([[1, 'x']]);
  assert.deepStrictEqual(clonePlain({ m }), { m: new Map([[1, 'x']]) });
  const cyc: Record<string, unknown> = { n: 1 };
  cyc.self = cyc;
  const c = clonePlain(cyc);
  assert.equal(c.self, c);
  assert.notEqual(c, cyc);
  assert.throws(() => clonePlain({ f: () => 1 }), (e: unknown) => e instanceof Error && e.name === 'DataCloneError');
});
