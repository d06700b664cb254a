// A guard on the tests themselves. fast-check's default size keeps any length-bounded array or
// string under ~10 elements whatever its maxLength says, so a property over "tokens of up to 300
// bytes" silently never sees more than 10 (this hid real gaps twice). Every generator in test/
// with a maxLength above 10 must say its size; size 'max' makes the whole range reachable.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import * as fc from 'fast-check';

const ROOT = join(import.meta.dirname, '..');

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'fixtures' ? [] : tsFiles(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

// An options object without nested braces that names a maxLength.
const OPTIONS = /\{[^{}]*\bmaxLength:\s*([0-9_]+)[^{}]*\}/g;

/** Options objects whose maxLength (above 10) the default size cannot reach. */
function unsizedOptions(source: string): string[] {
  const found: string[] = [];
  for (const m of source.matchAll(OPTIONS)) {
    const body = m[0];
    const max = Number(m[1]!.replaceAll('_', ''));
    const min = /\bminLength:\s*([0-9_]+)/.exec(body);
    const fixed = min !== null && Number(min[1]!.replaceAll('_', '')) === max;
    if (max > 10 && !fixed && !/\bsize:/.test(body)) found.push(`line ${source.slice(0, m.index).split('\n').length}: ${body.replace(/\s+/g, ' ').slice(0, 100)}`);
  }
  return found;
}

describe('fast-check generators in the tests', () => {
  it('the default size really stops near 10 elements (why this guard exists)', () => {
    const longest = Math.max(...fc.sample(fc.uint8Array({ maxLength: 300 }), { numRuns: 2000, seed: 1 }).map((b) => b.length));
    assert.ok(longest <= 10, `longest ${longest}`);
    const sized = Math.max(...fc.sample(fc.uint8Array({ maxLength: 300, size: 'max' }), { numRuns: 2000, seed: 1 }).map((b) => b.length));
    assert.ok(sized > 200, `longest with size 'max' ${sized}`);
  });

  it('the guard finds an unsized maxLength and accepts sized or fixed ones', () => {
    assert.equal(unsizedOptions('fc.uint8Array({ maxLength: 300 })').length, 1);
    assert.equal(unsizedOptions("fc.string({ unit: 'binary',\n  maxLength: 1_000 })").length, 1);
    assert.deepEqual(unsizedOptions("fc.uint8Array({ maxLength: 300, size: 'max' })"), []);
    assert.deepEqual(unsizedOptions('fc.uint8Array({ minLength: 32, maxLength: 32 })'), []);
    assert.deepEqual(unsizedOptions('fc.array(x, { maxLength: 8 })'), []);
  });

  it('every maxLength above 10 in test/ comes with a size', () => {
    // This file writes unsized options on purpose (the cases above).
    const bad = tsFiles(ROOT).filter((f) => f !== import.meta.filename).flatMap((f) => unsizedOptions(readFileSync(f, 'utf8')).map((s) => `${relative(ROOT, f)} ${s}`));
    assert.deepEqual(bad, []);
  });
});
