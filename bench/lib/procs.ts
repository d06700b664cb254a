// Server processes of the HTTP benchmark besides Apache: `tslsa serve` nodes (their own Node
// processes, as users run them) and a private redis-server for the two-node mode; plus the CPU
// time of any process we started, read from /proc so a server's cost per request can be reported
// whatever limits the request rate.
import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freeTcpPort, waitForTcp } from '../../test/interop/lib/ports.js';
import { killPid, run, spawnTracked, stopChild, type RunResult } from '../../test/interop/lib/proc.js';

const USER_HZ = 100;
// `npm run bench` runs the tsc output (what users run, as dist/); a test may load the bench
// through tsx. The servers it starts run the same kind of code as the bench itself.
const COMPILED = import.meta.url.endsWith('.js');
const MAIN = new URL(`../../src/cli/main.${COMPILED ? 'js' : 'ts'}`, import.meta.url).href;

/** `node` running src/cli/main (through tsx when the bench itself runs through it) with these arguments. */
function nodeArgs(args: readonly string[]): string[] {
  const loader = COMPILED ? [] : ['--import', import.meta.resolve('tsx')];
  // SERVE_NODE_FLAGS: extra node options for the server processes (e.g. --cpu-prof), for profiling.
  const extra = (process.env.SERVE_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  return [...loader, ...extra, '-e', `import(${JSON.stringify(MAIN)}).then((m) => m.main(process.argv.slice(1))).then((c) => { process.exitCode = c; })`, '--', ...args];
}

/** utime+stime (+ reaped children's) of a process, in seconds; 0 when it is gone. */
export function processCpuSeconds(pid: number, withReapedChildren = false): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // Fields after the name start at "state" (field 3): utime is 14, stime 15, cutime 16, cstime 17.
    const own = Number(f[11]) + Number(f[12]);
    const reaped = withReapedChildren ? Number(f[13]) + Number(f[14]) : 0;
    return (own + reaped) / USER_HZ;
  } catch {
    return 0;
  }
}

/**
 * Context switches of a process, all its threads summed: [voluntary (it waited: for a socket, a
 * lock, the event loop's next event), involuntary (preempted)]; [0, 0] when it is gone. A server
 * that waits on another process for every request (Redis) pays a sleep and a wake-up each time.
 */
export function processSwitches(pid: number): [number, number] {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [0, 0];
  }
  let voluntary = 0;
  let involuntary = 0;
  for (const t of tasks) {
    try {
      const s = readFileSync(`/proc/${pid}/task/${t}/status`, 'latin1');
      voluntary += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(s)?.[1] ?? 0);
      involuntary += Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(s)?.[1] ?? 0);
    } catch {
      // a thread that ended meanwhile
    }
  }
  return [voluntary, involuntary];
}

/** Direct children of a process (Linux /proc/PID/task/PID/children). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'latin1').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Any `tslsa ...` command to completion (user add, say). */
export function tslsa(args: readonly string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<RunResult> {
  return run(process.execPath, nodeArgs(args), { ...opts, timeoutMs: 60_000 });
}

export interface ServeNode {
  readonly url: string;
  readonly pid: number;
  stderr(): string;
  cpuSeconds(): number;
  switches(): [number, number];
  /** SIGTERM by PID; resolves with the exit code (null when it had to be killed). */
  stop(): Promise<number | null>;
}

/**
 * `tslsa serve --port 0` in its own process; the URL is read from its "serving" line. Its
 * per-request log goes to a file in `dir`, not through a pipe into this process (that would
 * charge the generator for it).
 */
export async function startServeNode(args: readonly string[], env: NodeJS.ProcessEnv, dir: string, name: string, timeoutMs = 60_000): Promise<ServeNode> {
  const log = openSync(join(dir, `${name}.log`), 'a');
  let child: ChildProcess;
  try {
    child = spawnTracked(process.execPath, nodeArgs(['serve', '--port', '0', '--host', '127.0.0.1', ...args]), { env, stdio: ['ignore', log, 'pipe'] });
  } finally {
    closeSync(log);
  }
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d.length > 65536 ? d.slice(-65536) : d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tslsa serve (${name}) did not start in ${timeoutMs} ms:\n${err}`));
    }, timeoutMs);
    const check = () => {
      const m = /serving (http:\/\/127\.0\.0\.1:\d+)\//.exec(err);
      if (m) {
        clearTimeout(timer);
        child.stderr!.off('data', check);
        resolve(m[1]!);
      }
    };
    child.stderr!.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`tslsa serve (${name}) exited with ${code}:\n${err.trim()}`));
    });
  });
  const pid = child.pid!;
  return {
    url,
    pid,
    stderr: () => err,
    cpuSeconds: () => processCpuSeconds(pid),
    switches: () => processSwitches(pid),
    stop: () => stopChild(child, exited),
  };
}

export interface RedisServer {
  readonly url: string;
  readonly pid: number;
  cpuSeconds(): number;
  switches(): [number, number];
  stop(): Promise<void>;
}

/**
 * A throwaway redis-server on loopback: no persistence, stopped by PID. With `unixSocket` it also
 * listens on a socket in `dir`, and `url` names that (unix:///...).
 */
export async function startRedis(dir: string, unixSocket = false): Promise<RedisServer> {
  const socketPath = (port: number) => join(dir, `redis-${port}.sock`);
  let lastErr = '';
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freeTcpPort();
    const log = openSync(join(dir, 'redis.log'), 'a');
    let child: ChildProcess;
    try {
      const unix = unixSocket ? ['--unixsocket', socketPath(port), '--unixsocketperm', '700'] : [];
      child = spawnTracked('redis-server', ['--port', String(port), '--bind', '127.0.0.1', ...unix, '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no'], { stdio: ['ignore', log, log] });
    } finally {
      closeSync(log);
    }
    let exited = false;
    child.once('exit', () => (exited = true));
    const deadline = Date.now() + 10_000;
    let up = false;
    while (!up && !exited && Date.now() < deadline) up = await waitForTcp(port, 250);
    const pid = child.pid!;
    if (up) {
      return {
        // Ready on TCP means ready on its socket too: redis-server opens both before it serves.
        url: unixSocket ? `unix://${socketPath(port)}` : `redis://127.0.0.1:${port}`,
        pid,
        cpuSeconds: () => processCpuSeconds(pid),
        switches: () => processSwitches(pid),
        stop: () => killPid(pid),
      };
    }
    await killPid(pid, 500);
    try {
      lastErr = readFileSync(join(dir, 'redis.log'), 'utf8');
    } catch {
      lastErr = '';
    }
  }
  throw new Error(`redis-server did not start:\n${lastErr}`);
}
