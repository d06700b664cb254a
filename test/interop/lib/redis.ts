// Debian's redis-server for the cluster tests: on 127.0.0.1 and a free port, no persistence
// (--save '' --appendonly no, run inside a temp dir), started and stopped by PID. kill() is the
// "Redis died" of the tests (SIGKILL); start() again brings it back on the same port.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeTcpPort, LOOPBACK } from './ports.js';
import { isAlive, killPid, requireBinary, sleep, spawnTracked } from './proc.js';

export interface RedisServer {
  readonly port: number;
  /** redis://127.0.0.1:PORT */
  readonly url: string;
  /** PID of the running redis-server; undefined while stopped. */
  readonly pid: number | undefined;
  /** Starts it again on the same port (after kill()). */
  start(): Promise<void>;
  /** SIGKILL: Redis dies without a goodbye, as in a crash. */
  kill(): Promise<void>;
  /** SIGTERM, then SIGKILL after a grace period; removes the temp dir (final). Safe to call twice. */
  stop(): Promise<void>;
  /** Output so far (for failure messages). */
  log(): string;
}

class RedisProcess implements RedisServer {
  private child: ChildProcess | undefined;
  private out = '';
  constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  get url(): string {
    return `redis://${LOOPBACK}:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid !== undefined && isAlive(this.child.pid) ? this.child.pid : undefined;
  }

  log(): string {
    return this.out;
  }

  /** Resolves once Redis says it accepts connections; rejects if it exits first or takes over `timeoutMs`. */
  async start(timeoutMs = 10_000): Promise<void> {
    if (this.pid !== undefined) return;
    const child = spawnTracked('redis-server', ['--save', '', '--appendonly', 'no', '--port', String(this.port), '--bind', LOOPBACK, '--dir', this.dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server on ${this.port} not ready in ${timeoutMs} ms:\n${this.out}`)), timeoutMs);
      const onData = (d: string): void => {
        this.out += d;
        if (/Ready to accept connections/.test(this.out.slice(-4096))) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.setEncoding('utf8').on('data', onData);
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.out += d));
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`redis-server on ${this.port} exited (${code ?? signal}):\n${this.out}`));
      });
    });
    try {
      await ready;
    } catch (e) {
      if (child.pid !== undefined) await killPid(child.pid, 500);
      throw e;
    }
  }

  async kill(): Promise<void> {
    const pid = this.pid;
    if (pid === undefined) return;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
    for (let i = 0; i < 500 && isAlive(pid); i++) await sleep(10);
    await killPid(pid, 0);
  }

  async stop(): Promise<void> {
    const pid = this.pid;
    if (pid !== undefined) await killPid(pid, 3000);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A fresh redis-server on a free loopback port (a few tries when the port is taken in between). Throws MissingPeerError when it is not installed. */
export async function startRedis(): Promise<RedisServer> {
  requireBinary('redis-server');
  let last: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), 'tslsa-redis-'));
    const r = new RedisProcess(await freeTcpPort(), dir);
    try {
      await r.start();
      return r;
    } catch (e) {
      last = e;
      await r.stop();
    }
  }
  throw last instanceof Error ? last : new Error(String(last));
}
