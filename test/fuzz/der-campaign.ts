// Long fuzzing campaign for the DER layer and the Kerberos ASN.1 codecs: the same properties as
// test/unit/der/der.fuzz.test.ts and test/unit/packages/kerberos/asn1.fuzz.test.ts, with many runs.
// Usage: node --import tsx test/fuzz/der-campaign.ts [--runs N] [--seed S] [--only substring]
import * as fc from 'fast-check';
import { derProperties } from '../unit/der/der.properties.js';
import { kerberosProperties } from '../unit/packages/kerberos/asn1.properties.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const runs = Number(arg('runs') ?? 100_000);
const seedArg = arg('seed');
const only = arg('only');
if (!Number.isSafeInteger(runs) || runs <= 0) {
  console.error('--runs must be a positive integer');
  process.exit(2);
}

let failed = 0;
const all = [...derProperties(), ...kerberosProperties()].filter(([name]) => !only || name.includes(only));
for (const [name, prop] of all) {
  const t0 = performance.now();
  const seed = seedArg !== undefined ? Number(seedArg) : Date.now() ^ (Math.random() * 0x7fffffff);
  const r = fc.check(prop, { numRuns: runs, seed });
  const ms = (performance.now() - t0).toFixed(0);
  if (r.failed) {
    failed++;
    console.log(`FAIL ${name} (seed ${seed}, ${ms} ms)\n${fc.defaultReportMessage(r) ?? ''}`);
  } else {
    console.log(`ok   ${name} (${runs} runs, seed ${seed}, ${ms} ms)`);
  }
}
console.log(failed ? `${failed} propert${failed === 1 ? 'y' : 'ies'} failed` : `all ${all.length} properties held`);
process.exit(failed ? 1 : 0);
