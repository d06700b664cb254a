// The load generator on several threads (GEN_WORKERS > 1), for when one thread cannot keep a
// server busy: each worker has its own LSA and credentials and runs bench/lib/loadgen.ts's loop
// with CONC handshakes in flight; they start together and their counts are summed. CPU is
// sampled here, at the edges of the counted window (process.cpuUsage covers every thread).
import { Worker } from 'node:worker_threads';
import type { CheckSpec, LoadResult } from './loadgen.js';

export type CredSpec =
  | { kind: 'krb5'; krb5Conf: string; user: string; realm: string; password: string }
  | { kind: 'ntlm'; user: string; domain: string; password: string };

export interface WorkerJob {
  scheme: 'Negotiate' | 'NTLM';
  cred: CredSpec;
  target: string;
  urls: string[];
  path: string;
  check: CheckSpec;
  dur: number;
  warm: number;
  conc: number;
}

// Compiled (npm run bench) or through tsx (a test): the workers load the same kind of code.
const COMPILED = import.meta.url.endsWith('.js');
const ENTRY = new URL(`./genWorker.${COMPILED ? 'js' : 'ts'}`, import.meta.url).href;

type FromWorker = { type: 'ready' } | { type: 'result'; result: LoadResult } | { type: 'error'; message: string };

export interface Pool {
  run(serverCpu?: () => number): Promise<LoadResult>;
  close(): Promise<void>;
}

/** Starts `n` workers, each primed with one handshake (so their tickets are fetched untimed). */
export async function startPool(n: number, job: WorkerJob): Promise<Pool> {
  const workers: Worker[] = [];
  const nextMessage = (w: Worker) =>
    new Promise<FromWorker>((resolve, reject) => {
      const onMsg = (m: FromWorker) => {
        w.off('error', onErr);
        w.off('exit', onExit);
        resolve(m);
      };
      const onErr = (e: Error) => {
        w.off('message', onMsg);
        w.off('exit', onExit);
        reject(e);
      };
      const onExit = (code: number) => {
        w.off('message', onMsg);
        w.off('error', onErr);
        reject(new Error(`generator worker exited with ${code}`));
      };
      w.once('message', onMsg);
      w.once('error', onErr);
      w.once('exit', onExit);
    });
  const expect = async (w: Worker, type: FromWorker['type']) => {
    const m = await nextMessage(w);
    if (m.type === 'error') throw new Error(`generator worker: ${m.message}`);
    if (m.type !== type) throw new Error(`generator worker sent ${m.type}, expected ${type}`);
    return m;
  };
  const close = async () => {
    await Promise.all(workers.map((w) => w.terminate()));
  };
  try {
    // A worker does not inherit tsx's loader for its entry: load tsx first, then the .ts entry.
    const boot = COMPILED
      ? `import(${JSON.stringify(ENTRY)})`
      : `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((t) => t.register()).then(() => import(${JSON.stringify(ENTRY)}))`;
    for (let i = 0; i < n; i++) workers.push(new Worker(boot, { eval: true, workerData: job }));
    await Promise.all(workers.map((w) => expect(w, 'ready')));
  } catch (e) {
    await close();
    throw e;
  }
  return {
    close,
    async run(serverCpu) {
      const results = workers.map((w) => expect(w, 'result'));
      let cpu0: NodeJS.CpuUsage | null = null;
      let cpu: NodeJS.CpuUsage | null = null;
      let srv0 = 0;
      let srv1 = 0;
      const t1 = setTimeout(() => {
        cpu0 = process.cpuUsage();
        srv0 = serverCpu?.() ?? 0;
      }, job.warm * 1000);
      const t2 = setTimeout(() => {
        cpu = process.cpuUsage(cpu0 ?? undefined);
        srv1 = serverCpu?.() ?? 0;
      }, (job.warm + job.dur) * 1000);
      for (const w of workers) w.postMessage('go');
      let rs: LoadResult[];
      try {
        rs = (await Promise.all(results)).map((m) => (m as { result: LoadResult }).result);
      } finally {
        clearTimeout(t1);
        clearTimeout(t2);
      }
      const c = (cpu ?? process.cpuUsage(cpu0 ?? undefined)) as NodeJS.CpuUsage;
      const ok = rs.reduce((s, r) => s + r.ok, 0);
      const errorKinds: Record<string, number> = {};
      for (const r of rs) for (const [k, v] of Object.entries(r.errorKinds)) errorKinds[k] = (errorKinds[k] ?? 0) + v;
      return {
        ok,
        errors: rs.reduce((s, r) => s + r.errors, 0),
        errorKinds,
        wall_s: job.dur,
        gen_cpu_util: (c.user + c.system) / 1e6 / job.dur,
        ...(serverCpu ? { server_cpu_s: srv1 - srv0 } : {}),
        mean_ms: ok ? rs.reduce((s, r) => s + r.mean_ms * r.ok, 0) / ok : 0,
        // Not a true merged percentile: the worst worker's.
        p99_ms: Math.max(...rs.map((r) => r.p99_ms)),
        perUrl: job.urls.map((_, i) => rs.reduce((s, r) => s + (r.perUrl[i] ?? 0), 0)),
      };
    },
  };
}
