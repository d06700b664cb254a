// Timed loops that print results in the JSON-lines shape of the C peer benchmarks, so one
// summarize step can put tslsa beside MIT krb5 and gss-ntlmssp: a warm-up that is not counted,
// then a fixed wall-clock run read between batches of about 5 ms.

export interface Result {
  id: string;
  ops_per_s: number;
  us_per_op: number;
  cpu_us_per_op: number;
  n: number;
  wall_s: number;
  cpu_util: number;
  size?: number;
  MB_per_s?: number;
  /** Extra per-result fields of the peer's records (legs, token_bytes, init_us_per_hs, wrap_us...). */
  [extra: string]: number | number[] | string | undefined;
}

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/**
 * Times `fn` for opts.seconds after an uncounted warm-up. `onTimed` runs once when the counted
 * loop starts, so callers that accumulate time inside their calls can reset their sums there.
 */
export async function measure(id: string, fn: () => unknown | Promise<unknown>, opts: { seconds: number; warm: number; size?: number; onTimed?: () => void }): Promise<Result> {
  const isAsync = fn() instanceof Promise;
  const runBatch = async (k: number) => {
    if (isAsync) for (let i = 0; i < k; i++) await fn();
    else for (let i = 0; i < k; i++) fn();
  };
  // Warm-up and batch sizing.
  let batch = 1;
  const warmEnd = performance.now() + opts.warm * 1000;
  while (performance.now() < warmEnd) {
    const t = performance.now();
    await runBatch(batch);
    const dt = performance.now() - t;
    if (dt < 5) batch = Math.min(batch * 2, 1 << 20);
  }
  let n = 0;
  opts.onTimed?.();
  const c0 = cpuSeconds();
  const t0 = performance.now();
  const end = t0 + opts.seconds * 1000;
  while (performance.now() < end) {
    await runBatch(batch);
    n += batch;
  }
  const wall = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds() - c0;
  const r: Result = { id, ops_per_s: n / wall, us_per_op: (1e6 * wall) / n, cpu_us_per_op: (1e6 * cpu) / n, n, wall_s: wall, cpu_util: cpu / wall };
  if (opts.size !== undefined) {
    r.size = opts.size;
    r.MB_per_s = (opts.size * r.ops_per_s) / 1e6;
  }
  const extra = r.MB_per_s !== undefined ? ` ${r.MB_per_s.toFixed(2)} MB/s (size ${r.size})` : '';
  process.stderr.write(`  ${id.padEnd(28)} ${r.ops_per_s.toFixed(1).padStart(12)} ops/s ${r.us_per_op.toFixed(3).padStart(10)} us/op ${r.cpu_us_per_op.toFixed(3).padStart(10)} cpu-us/op${extra}\n`);
  return r;
}

export function emit(bench: string, label: string, config: Record<string, unknown>, checks: Record<string, unknown>, results: Result[]): void {
  const round = (r: Result) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'number' && !Number.isInteger(v) ? Number(v.toFixed(3)) : v]));
  process.stdout.write(JSON.stringify({ bench, label, impl: 'tslsa', config, checks, results: results.map(round) }) + '\n');
}
