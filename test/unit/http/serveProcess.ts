// `tslsa serve` as its own process (through tsx, as `npx tslsa serve` runs the built tree), for
// the interop tests: started with --port 0, its URL read from the "serving" line on stderr,
// stopped with SIGTERM by PID.
import type { ChildProcess } from 'node:child_process';
import { killPid, run, spawnTracked, stopChild, type RunResult } from '../../interop/lib/proc.js';

const MAIN = new URL('../../../src/cli/main.ts', import.meta.url).href;
const TSX = import.meta.resolve('tsx');

function nodeArgs(args: readonly string[]): string[] {
  return ['--import', TSX, '-e', `import(${JSON.stringify(MAIN)}).then((m) => m.main(process.argv.slice(1))).then((c) => { process.exitCode = c; })`, '--', ...args];
}

/** Any `tslsa ...` command to completion. */
export function tslsa(args: readonly string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<RunResult> {
  return run(process.execPath, nodeArgs(args), { ...opts, timeoutMs: 30_000 });
}

export interface ServeProcess {
  url: string;
  port: number;
  pid: number;
  stdout(): string;
  stderr(): string;
  /** SIGTERM and wait: the exit code (null if it had to be killed). */
  stop(): Promise<number | null>;
  /** Settles with the exit code when the process ends. */
  exited: Promise<number | null>;
}

/** A node's access-log lines for requests to `path` (one per request: status, who, package, or why refused). */
export function accessLines(s: Pick<ServeProcess, 'stdout'>, path: string): string[] {
  return s.stdout().split('\n').filter((l) => l.includes(`"${path}"`));
}

export async function startServe(args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<ServeProcess> {
  const child: ChildProcess = spawnTracked(process.execPath, nodeArgs(['serve', '--port', '0', '--host', '127.0.0.1', ...args]), { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tslsa serve did not start in ${timeoutMs} ms:\n${err}`)), timeoutMs);
    const check = () => {
      const m = /serving (https?:\/\/127\.0\.0\.1:\d+)\//.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stderr!.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`tslsa serve exited with ${code}:\n${err}`));
    });
  });
  const pid = child.pid!;
  return {
    url,
    port: Number(new URL(url).port),
    pid,
    stdout: () => out,
    stderr: () => err,
    stop: () => stopChild(child, exited),
    exited,
  };
}
