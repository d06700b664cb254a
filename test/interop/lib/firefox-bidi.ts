// Headless Firefox driven over WebDriver BiDi (its built-in remote agent, no geckodriver): for what
// `--screenshot` cannot do, answering an authentication prompt. Firefox asks the user for NTLM
// credentials (it ignores an identity in the URL for a scheme whose identity has a domain), and a
// headless prompt is cancelled; with an "authRequired" network intercept the test answers it with
// network.continueWithAuth, as a user typing into the dialog, and reads the page back.
import type { ChildProcess } from 'node:child_process';
import { WebSocket } from 'undici';
import { killPid, spawnTracked } from './proc.js';
import { FIREFOX, type FirefoxProfile } from './firefox.js';

export interface FirefoxPage {
  /** The page's text (document.body.innerText) once loaded. */
  text: string;
  /** How many times Firefox asked for credentials. */
  prompts: number;
}

export interface BidiFirefox {
  /**
   * Loads `url`, answering its authentication prompts in turn with `answers` (what a user types:
   * the user name and password), and cancelling any prompt after those.
   */
  load(url: string, answers?: ReadonlyArray<{ username: string; password: string }>): Promise<FirefoxPage>;
  close(): Promise<void>;
}

interface BidiMessage {
  id?: number;
  type?: string;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: string;
  message?: string;
}

/** Starts Firefox on `profile` with its remote agent on a free loopback port, and opens a BiDi session. */
export async function startBidiFirefox(profile: FirefoxProfile, env: NodeJS.ProcessEnv): Promise<BidiFirefox> {
  const child: ChildProcess = spawnTracked(FIREFOX, ['--headless', '--no-remote', '--profile', profile.dir, '--remote-debugging-port', '0', 'about:blank'], {
    env: { ...env, HOME: profile.dir, MOZ_CRASHREPORTER_DISABLE: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const pid = child.pid!;
  let stderr = '';
  const endpoint = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Firefox's remote agent did not start:\n${stderr}`)), 30_000);
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      const m = /WebDriver BiDi listening on (ws:\/\/\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Firefox exited (${code}) before its remote agent listened:\n${stderr}`));
    });
  }).catch(async (e: unknown) => {
    await killPid(pid, 2000);
    throw e;
  });

  const ws = new WebSocket(`${endpoint}/session`);
  let nextId = 1;
  const pending = new Map<number, { resolve(r: Record<string, unknown>): void; reject(e: Error): void }>();
  const listeners: Array<(m: BidiMessage) => void> = [];
  // Firefox gone or the socket closed: nothing still waiting would ever be answered.
  ws.addEventListener('close', () => {
    for (const p of pending.values()) p.reject(new Error(`Firefox's BiDi session closed:\n${stderr}`));
    pending.clear();
  });
  ws.addEventListener('message', (ev) => {
    const m = JSON.parse(String(ev.data)) as BidiMessage;
    if (m.id !== undefined && pending.has(m.id)) {
      const p = pending.get(m.id)!;
      pending.delete(m.id);
      if (m.type === 'error') p.reject(new Error(`BiDi ${m.error}: ${m.message}`));
      else p.resolve(m.result ?? {});
    } else if (m.type === 'event') for (const l of listeners) l(m);
  });
  const send = (method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      if (ws.readyState !== WebSocket.OPEN) return reject(new Error(`Firefox's BiDi session is not open (${method})`));
      const id = nextId++;
      pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });

  const stop = async (): Promise<void> => {
    if (ws.readyState === WebSocket.OPEN) {
      await Promise.race([send('browser.close').catch(() => undefined), new Promise((r) => setTimeout(r, 3000))]);
      ws.close();
    }
    await killPid(pid, 5000);
  };
  let context: string;
  try {
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener('open', () => resolve(), { once: true });
      ws.addEventListener('error', () => reject(new Error(`cannot reach ${endpoint}/session`)), { once: true });
    });
    await send('session.new', { capabilities: {} });
    await send('session.subscribe', { events: ['network.authRequired'] });
    await send('network.addIntercept', { phases: ['authRequired'] });
    const tree = await send('browsingContext.getTree');
    context = (tree.contexts as Array<{ context: string }>)[0]!.context;
  } catch (e) {
    await stop();
    throw e;
  }

  return {
    async load(url, answers = []) {
      let prompts = 0;
      const onAuth = (m: BidiMessage): void => {
        if (m.method !== 'network.authRequired') return;
        const answer = answers[prompts++];
        const request = (m.params!.request as { request: string }).request;
        void send('network.continueWithAuth', answer ? { request, action: 'provideCredentials', credentials: { type: 'password', ...answer } } : { request, action: 'cancel' }).catch(() => undefined);
      };
      listeners.push(onAuth);
      try {
        await send('browsingContext.navigate', { context, url, wait: 'complete' });
        const r = await send('script.evaluate', { expression: 'document.body ? document.body.innerText : ""', target: { context }, awaitPromise: false });
        const text = String((r.result as { value?: unknown } | undefined)?.value ?? '');
        return { text, prompts };
      } finally {
        listeners.splice(listeners.indexOf(onAuth), 1);
      }
    },
    close: stop,
  };
}
