// npm run bench: tslsa's figures as JSON lines (stdout) in the shape the C peer benchmarks print,
// progress on stderr. Knobs: DUR, WARM (handshakes), WDUR, WWARM (per size), SIZES, ONLY.
import { benchNtlm } from './ntlm.js';

const num = (k: string, d: number) => (process.env[k] ? Number(process.env[k]) : d);
const opts = {
  dur: num('DUR', 3),
  warm: num('WARM', 0.5),
  wdur: num('WDUR', 1),
  wwarm: num('WWARM', 0.2),
  sizes: (process.env.SIZES ?? '16 1024 65536 1048576').split(/\s+/).filter(Boolean).map(Number),
};
const only = new Set((process.env.ONLY ?? 'ntlm').split(/\s+/).filter(Boolean));

if (only.has('ntlm')) {
  process.stderr.write('tslsa ntlm\n');
  await benchNtlm(opts);
}
