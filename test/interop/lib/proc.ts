// Child processes for interop tests: spawn peers with a timeout, collect their output, and make
// sure none outlives the test process (every PID we start is tracked and killed on exit).
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync, rmSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { freeTcpPort, LOOPBACK, waitForTcp } from './ports.js';

export const INSTALL_HINT = 'run scripts/install-peers.sh (as root) to install the interop peers';

/** Thrown when a peer binary is not installed: tests must fail with this, never skip. */
export class MissingPeerError extends Error {
  override readonly name = 'MissingPeerError';
  constructor(readonly binary: string) {
    super(`interop peer "${binary}" not found: ${INSTALL_HINT}`);
  }
}

// Daemon binaries (krb5kdc, kdb5_util, kadmin.local) live in sbin, which a non-login PATH may lack.
const EXTRA_DIRS = ['/usr/sbin', '/sbin', '/usr/bin', '/bin'];
const resolved = new Map<string, string>();

/** Absolute path of a peer binary, or throws MissingPeerError. */
export function requireBinary(name: string): string {
  const hit = resolved.get(name);
  if (hit) return hit;
  const candidates = isAbsolute(name)
    ? [name]
    : [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...EXTRA_DIRS].map((d) => join(d, name));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      resolved.set(name, c);
      return c;
    } catch {
      // try the next directory
    }
  }
  throw new MissingPeerError(name);
}

/** Checks several binaries at once; the error names every missing one. */
export function requireBinaries(names: readonly string[]): void {
  const missing: string[] = [];
  for (const n of names) {
    try {
      requireBinary(n);
    } catch (e) {
      if (e instanceof MissingPeerError) missing.push(n);
      else throw e;
    }
  }
  if (missing.length > 0) {
    throw new Error(`interop peers missing: ${missing.join(', ')}: ${INSTALL_HINT}`);
  }
}

/**
 * Fails (never skips) unless Debian's /usr/bin/python3 imports every module in `modules`, which
 * the Debian package `pkg` provides.
 */
export async function requirePythonModules(modules: readonly string[], pkg: string): Promise<void> {
  requireBinary('/usr/bin/python3');
  const r = await run('/usr/bin/python3', ['-c', `import ${modules.join(', ')}`]);
  if (r.code !== 0) throw new Error(`interop peer ${pkg} missing (cannot import ${modules.join(', ')}): ${INSTALL_HINT}`);
}

// ---- PID tracking --------------------------------------------------------------------------

const tracked = new Map<number, string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort if a test forgot its after() hook or crashed: never leave a daemon behind.
  process.on('exit', () => {
    for (const pid of tracked.keys()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/** Registers a PID we started (for the exit hook and leftover checks). */
export function trackPid(pid: number, what: string): void {
  installExitHook();
  tracked.set(pid, what);
}

export function untrackPid(pid: number): void {
  tracked.delete(pid);
}

/** PIDs started through this module that are still alive, with what they are. */
export function liveTrackedPids(): Array<{ pid: number; what: string }> {
  const out: Array<{ pid: number; what: string }> = [];
  for (const [pid, what] of tracked) {
    if (isAlive(pid)) out.push({ pid, what });
    else tracked.delete(pid);
  }
  return out;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie still answers kill(0): look at its state.
  try {
    const stat = readProcStat(pid);
    return stat !== 'Z';
  } catch {
    return true;
  }
}

function readProcStat(pid: number): string {
  const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
  // "pid (comm) S ..." — comm may contain spaces/parens, so take what follows the last ')'.
  return s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Stops a child that handles SIGTERM itself (tslsa serve): its exit code, or null when it had to
 * be killed after `graceMs`. `exited` resolves with the code once it exits.
 */
export async function stopChild(child: ChildProcess, exited: Promise<number | null>, graceMs = 10_000): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  process.kill(child.pid!, 'SIGTERM');
  const code = await Promise.race([exited, sleep(graceMs).then(() => 'timeout' as const)]);
  if (code !== 'timeout') return code;
  await killPid(child.pid!);
  return null;
}

/** Sends SIGTERM, waits up to graceMs, then SIGKILL. Resolves once the PID is gone. */
export async function killPid(pid: number, graceMs = 2000): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    untrackPid(pid);
    return;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) {
      untrackPid(pid);
      return;
    }
    await sleep(20);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone in between
  }
  for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(10);
  untrackPid(pid);
}

// ---- spawning --------------------------------------------------------------------------------

/** Spawns a tracked child; the binary is resolved with requireBinary. */
export function spawnTracked(cmd: string, args: readonly string[], opts: SpawnOptions = {}): ChildProcess {
  const file = requireBinary(cmd);
  const child = spawn(file, args, { ...opts });
  if (child.pid === undefined) {
    // spawn failed synchronously (ENOENT etc.): the 'error' event carries the reason.
    return child;
  }
  const pid = child.pid;
  trackPid(pid, `${cmd} ${args.join(' ')}`);
  child.once('exit', () => untrackPid(pid));
  return child;
}

/** What `launch` started for spawnOnFreePort: the child and what it has said so far. */
export interface Launched {
  child: ChildProcess;
  log(): string;
}

/** A daemon on 127.0.0.1 (a proxy, a balancer) that spawnOnFreePort started. */
export interface LoopbackDaemon {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** Stops it by PID and removes its folder. */
  stop(): Promise<void>;
  /** What it said (for failure messages). */
  log(): string;
}

/** What `child` prints on its piped stdout and stderr, then the log file it writes (when given). */
export function outputOf(child: ChildProcess, logFile?: string): () => string {
  let out = '';
  for (const stream of [child.stdout, child.stderr]) stream?.setEncoding('utf8').on('data', (d: string) => (out += d));
  return () => {
    if (!logFile) return out;
    try {
      return out + readFileSync(logFile, 'utf8');
    } catch {
      return out;
    }
  };
}

/**
 * A daemon that `launch` starts on a port free a moment ago, with its files in `dir`, once it
 * accepts TCP there. One that exits at once (the port was taken in between) or does not listen
 * within 5 s is stopped and another port tried; the fourth failure throws with its log, and `dir`
 * is removed then or when the daemon stops.
 */
export async function spawnOnFreePort(name: string, dir: string, launch: (port: number) => Launched): Promise<LoopbackDaemon> {
  for (let attempt = 0; ; attempt++) {
    const port = await freeTcpPort();
    const { child, log } = launch(port);
    const exited = new Promise<false>((r) => child.once('exit', () => r(false)));
    if (await Promise.race([waitForTcp(port, 5000), exited])) {
      return {
        url: `http://${LOOPBACK}:${port}`,
        log,
        async stop() {
          if (child.exitCode === null && child.pid) await killPid(child.pid);
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    // Still running but not listening in time: not left behind when trying again.
    if (child.exitCode === null && child.pid) await killPid(child.pid);
    if (attempt >= 3) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`${name} did not start:\n${log()}`);
    }
  }
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Written to stdin, then stdin is closed. */
  input?: string | Uint8Array;
  /** Kill the child (SIGKILL) after this many ms; default 20 000. */
  timeoutMs?: number;
}

export interface RunResult {
  command: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  elapsedMs: number;
}

/** Runs a command to completion and collects its output. Never rejects for a non-zero exit. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const started = Date.now();
  const child = spawnTracked(cmd, args, {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const command = [cmd, ...args].join(' ');
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 20_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ command, code, signal, stdout, stderr, timedOut, elapsedMs: Date.now() - started });
    });
    // A child that exits without reading stdin makes the write fail with EPIPE: harmless.
    child.stdin?.on('error', () => undefined);
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

/** Like run(), but rejects with the full output when the exit code is not 0. */
export async function runChecked(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(describeFailure(r));
  return r;
}

export function describeFailure(r: RunResult): string {
  const how = r.timedOut ? `timed out after ${r.elapsedMs} ms` : `exited with ${r.code ?? r.signal}`;
  return `\`${r.command}\` ${how}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;
}

// ---- line-oriented children ------------------------------------------------------------------

/**
 * A child spoken to one line at a time over stdin/stdout (ntlm_auth helpers, the Python peer).
 * readLine() waits for the next stdout line with a timeout; stderr is kept for error messages.
 */
export class LineChild {
  readonly child: ChildProcess;
  readonly pid: number;
  stderr = '';
  private buf = '';
  private lines: string[] = [];
  private waiters: Array<{ resolve: (l: string) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }> = [];
  private exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exitPromise: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly label: string,
    cmd: string,
    args: readonly string[],
    env: NodeJS.ProcessEnv,
  ) {
    this.child = spawnTracked(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    if (this.child.pid === undefined) throw new Error(`${label}: could not spawn ${cmd}`);
    this.pid = this.child.pid;
    this.child.stdout?.setEncoding('utf8').on('data', (d: string) => this.onData(d));
    this.child.stderr?.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.child.stdin?.on('error', () => undefined);
    this.exitPromise = new Promise((resolve) => {
      this.child.once('close', (code, signal) => {
        this.exited = { code, signal };
        for (const w of this.waiters.splice(0)) {
          clearTimeout(w.timer);
          w.reject(new Error(`${this.label} exited (${code ?? signal}) before answering; stderr:\n${this.stderr}`));
        }
        resolve(this.exited);
      });
    });
  }

  private onData(d: string): void {
    this.buf += d;
    let i: number;
    while ((i = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, i).replace(/\r$/, '');
      this.buf = this.buf.slice(i + 1);
      const w = this.waiters.shift();
      if (w) {
        clearTimeout(w.timer);
        w.resolve(line);
      } else {
        this.lines.push(line);
      }
    }
  }

  writeLine(line: string): void {
    if (this.exited) throw new Error(`${this.label} already exited; stderr:\n${this.stderr}`);
    this.child.stdin?.write(line + '\n');
  }

  readLine(timeoutMs = 10_000): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    if (this.exited) {
      return Promise.reject(new Error(`${this.label} exited (${this.exited.code ?? this.exited.signal}); stderr:\n${this.stderr}`));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.timer !== timer);
        reject(new Error(`${this.label}: no answer within ${timeoutMs} ms; stderr:\n${this.stderr}`));
      }, timeoutMs);
      this.waiters.push({ resolve, reject, timer });
    });
  }

  /** Writes a line and returns the next line of output. */
  async request(line: string, timeoutMs?: number): Promise<string> {
    this.writeLine(line);
    return this.readLine(timeoutMs);
  }

  /** Closes stdin and waits for exit; kills by PID after graceMs. */
  async close(graceMs = 2000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.exited) {
      this.child.stdin?.end();
      const t = setTimeout(() => void killPid(this.pid, 500), graceMs);
      const r = await this.exitPromise;
      clearTimeout(t);
      return r;
    }
    return this.exited;
  }
}

/**
 * Processes (other than this one) whose command line or environment contains `needle`, e.g. a
 * realm's temp dir: finds peers that escaped PID tracking (say, a daemon that forked).
 */
export function processesMentioning(needle: string): Array<{ pid: number; cmdline: string }> {
  const hits: Array<{ pid: number; cmdline: string }> = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return hits;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (pid === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'latin1').replace(/\0/g, ' ').trim();
      let environ = '';
      try {
        environ = readFileSync(`/proc/${pid}/environ`, 'latin1');
      } catch {
        // not ours to read: the command line has to do
      }
      if ((cmdline.includes(needle) || environ.includes(needle)) && readProcStat(pid) !== 'Z') hits.push({ pid, cmdline });
    } catch {
      // exited while we looked
    }
  }
  return hits;
}
