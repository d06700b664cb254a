// tslsa against a peer, row by row: reads JSON-lines result files given as pairs
// (peer-1 tslsa-1 peer-2 tslsa-2 ...), keys rows by (label, id, size) as summarize.js does, and
// prints each round's ops/s on both sides with the ratio tslsa / peer (> 1: tslsa is faster), by
// wall clock and by CPU time per op (peer cpu_us_per_op / tslsa's), which holds up better when
// other work on the machine takes turns on the core.
import { readFileSync } from 'node:fs';

interface Row {
  label: string;
  id: string;
  size?: number;
  ops: number;
  cpu: number;
}

function load(file: string): Map<string, Row> {
  const rows = new Map<string, Row>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim().startsWith('{')) continue;
    let d: { label?: string; bench?: string; config?: { peer_label?: string }; results?: { id: string; size?: number; ops_per_s: number; cpu_us_per_op: number }[] };
    try {
      d = JSON.parse(line);
    } catch {
      continue;
    }
    if (!Array.isArray(d.results)) continue;
    // A row may name the peer row it is measured against (config.peer_label) when the two
    // labels differ on purpose (our replay cache on against MIT's run without one).
    const label = d.label ?? d.bench ?? '';
    const keyLabel = typeof d.config?.peer_label === 'string' ? d.config.peer_label : label;
    for (const r of d.results) rows.set(`${keyLabel}\u0000${r.id}\u0000${r.size ?? ''}`, { label, id: r.id, size: r.size, ops: r.ops_per_s, cpu: r.cpu_us_per_op });
  }
  return rows;
}

const files = process.argv.slice(2);
if (files.length < 2 || files.length % 2 !== 0) {
  process.stderr.write('usage: bench/ratios.ts PEER.jsonl TSLSA.jsonl [PEER2.jsonl TSLSA2.jsonl ...]\n');
  process.exit(2);
}
const rounds: [Map<string, Row>, Map<string, Row>][] = [];
for (let i = 0; i < files.length; i += 2) rounds.push([load(files[i]!), load(files[i + 1]!)]);

const size = (s?: number) => (s === undefined ? '' : s >= 1048576 ? `${s / 1048576} MiB` : s >= 1024 ? `${s / 1024} KiB` : `${s} B`);
const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
let head = '| benchmark | op | size |';
let sep = '|---|---|---|';
rounds.forEach((_, r) => {
  head += ` peer ${r + 1} ops/s | tslsa ${r + 1} ops/s | ratio ${r + 1} | CPU ratio ${r + 1} |`;
  sep += '---:|---:|---:|---:|';
});
console.log(head);
console.log(sep);
for (const [key, first] of rounds[0]![1]) {
  if (!rounds.some(([p]) => p.has(key))) continue;
  let line = `| ${first.label} | ${first.id} | ${size(first.size)} |`;
  for (const [p, t] of rounds) {
    const a = p.get(key);
    const b = t.get(key);
    line += ` ${a ? fmt(a.ops) : ''} | ${b ? fmt(b.ops) : ''} | ${a && b ? `${(b.ops / a.ops).toFixed(2)}x` : ''} | ${a && b ? `${(a.cpu / b.cpu).toFixed(2)}x` : ''} |`;
  }
  console.log(line);
}
