// gss-ntlmssp (C, through Debian's python3-gssapi) as an NTLM or SPNEGO initiator/acceptor, driven
// over the line protocol documented at the top of test/interop/py/ntlm_peer.py.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LineChild, requireBinary, run, INSTALL_HINT } from './proc.js';
import { cleanEnv } from './realm.js';

export const NTLM_MECH_OID = '1.3.6.1.4.1.311.2.2.10';
export const SPNEGO_MECH_OID = '1.3.6.1.5.5.2';

/** Debian's interpreter: a `python3` earlier on PATH (pyenv) may lack the gssapi module. */
export const SYSTEM_PYTHON = '/usr/bin/python3';
export const NTLM_PEER_SCRIPT = fileURLToPath(new URL('../py/ntlm_peer.py', import.meta.url));

export interface NtlmUser {
  domain: string;
  user: string;
  password: string;
}

export interface GssNtlmPeerOptions {
  role: 'initiator' | 'acceptor';
  /** 'ntlm' (raw NTLMSSP tokens) or 'spnego' (NTLM inside SPNEGO). Default 'ntlm'. */
  mech?: 'ntlm' | 'spnego';
  /** Initiator: DOMAIN\user (or user@DOMAIN), and its password. */
  user?: string;
  password?: string;
  /** Initiator: host-based target name; default HTTP@localhost. */
  target?: string;
  /** Initiator: requested GSS flags; default mutual|replay|sequence|conf|integ. */
  flags?: number;
  /** Acceptor: the users it knows (written to a private NTLM_USER_FILE). */
  users?: readonly NtlmUser[];
  /** Extra environment (NETBIOS_COMPUTER_NAME, NETBIOS_DOMAIN_NAME, LM_COMPAT_LEVEL, GSSNTLMSSP_DEBUG). */
  env?: Record<string, string>;
  /** Per-answer timeout; default 10 000 ms. */
  timeoutMs?: number;
}

export interface StepResult {
  /** 'continue': send the token and expect another; 'complete': done (token may still need sending). */
  status: 'continue' | 'complete';
  token: Uint8Array | null;
}

export interface PeerInfo {
  complete: boolean;
  initiator?: string | null;
  target?: string | null;
  mech?: string | null;
  flags?: number;
  lifetime?: number | null;
  session_key?: string | null;
}

const b64 = (b: Uint8Array): string => (b.length === 0 ? '-' : Buffer.from(b).toString('base64'));
const unb64 = (s: string | undefined): Uint8Array =>
  s === undefined || s === '-' || s === '' ? new Uint8Array(0) : new Uint8Array(Buffer.from(s, 'base64'));

/** Thrown for an ERROR answer; `peerMessage` is gss-ntlmssp's text. */
export class PeerError extends Error {
  constructor(
    readonly op: string,
    readonly peerMessage: string,
  ) {
    super(`gss-ntlmssp peer: ${op} failed: ${peerMessage}`);
  }
}

let pythonChecked: Promise<void> | undefined;

/** Fails (never skips) when Debian's python or its gssapi module or the NTLM mech is missing. */
export function requireGssNtlmPeer(): Promise<void> {
  pythonChecked ??= (async () => {
    requireBinary(SYSTEM_PYTHON);
    const r = await run(SYSTEM_PYTHON, ['-c', 'import gssapi'], { env: cleanEnv(), timeoutMs: 10_000 });
    if (r.code !== 0) throw new Error(`${SYSTEM_PYTHON} cannot import gssapi: ${INSTALL_HINT}\n${r.stderr}`);
  })();
  return pythonChecked;
}

/** One gss-ntlmssp endpoint in a /usr/bin/python3 child. */
export class GssNtlmPeer {
  readonly mechOid: string;
  private readonly timeoutMs: number;

  private constructor(
    private readonly proc: LineChild,
    private readonly dir: string,
    mechOid: string,
    timeoutMs: number,
  ) {
    this.mechOid = mechOid;
    this.timeoutMs = timeoutMs;
  }

  static async start(opts: GssNtlmPeerOptions): Promise<GssNtlmPeer> {
    await requireGssNtlmPeer();
    const dir = mkdtempSync(join(tmpdir(), 'tslsa-gssntlm-'));
    const env: NodeJS.ProcessEnv = { ...cleanEnv(), ...(opts.env ?? {}) };
    const args = [NTLM_PEER_SCRIPT, '--role', opts.role, '--mech', opts.mech ?? 'ntlm'];
    if (opts.role === 'initiator') {
      if (opts.user === undefined || opts.password === undefined) throw new Error('initiator needs user and password');
      args.push('--user', opts.user, '--password', opts.password, '--target', opts.target ?? 'HTTP@localhost');
      if (opts.flags !== undefined) args.push('--flags', String(opts.flags));
    } else {
      const file = join(dir, 'ntlm-users');
      writeFileSync(file, (opts.users ?? []).map((u) => `${u.domain}:${u.user}:${u.password}\n`).join(''), { mode: 0o600 });
      env.NTLM_USER_FILE = file;
    }
    const proc = new LineChild(`gss-ntlmssp ${opts.role}`, SYSTEM_PYTHON, args, env);
    const timeoutMs = opts.timeoutMs ?? 10_000;
    try {
      const ready = await proc.readLine(timeoutMs);
      const [verb, ...rest] = ready.split(' ');
      if (verb !== 'READY') throw new Error(`gss-ntlmssp ${opts.role} did not start: ${ready}\n${proc.stderr}`);
      return new GssNtlmPeer(proc, dir, rest[0] ?? '', timeoutMs);
    } catch (e) {
      await proc.close(500);
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  get pid(): number {
    return this.proc.pid;
  }

  private async ask(line: string, expect: string): Promise<string[]> {
    const answer = await this.proc.request(line, this.timeoutMs);
    const parts = answer.split(' ');
    if (parts[0] === 'ERROR') throw new PeerError(line.split(' ')[0] ?? line, parts.slice(1).join(' '));
    if (parts[0] !== expect && !(expect === 'CONTINUE' && parts[0] === 'COMPLETE')) {
      throw new Error(`gss-ntlmssp peer: expected ${expect}, got: ${answer}\n${this.proc.stderr}`);
    }
    return parts;
  }

  /** One context leg: the initiator's first call passes no token. */
  async step(token?: Uint8Array): Promise<StepResult> {
    const parts = await this.ask(token && token.length > 0 ? `STEP ${b64(token)}` : 'STEP', 'CONTINUE');
    const out = unb64(parts[1]);
    return { status: parts[0] === 'COMPLETE' ? 'complete' : 'continue', token: out.length > 0 ? out : null };
  }

  async info(): Promise<PeerInfo> {
    const answer = await this.proc.request('INFO', this.timeoutMs);
    if (!answer.startsWith('INFO ')) throw new Error(`gss-ntlmssp peer: bad INFO answer: ${answer}`);
    return JSON.parse(answer.slice(5)) as PeerInfo;
  }

  async wrap(message: Uint8Array, conf = true): Promise<{ token: Uint8Array; encrypted: boolean }> {
    const p = await this.ask(`WRAP ${b64(message)} ${conf ? 1 : 0}`, 'WRAPPED');
    return { token: unb64(p[1]), encrypted: p[2] === '1' };
  }

  async unwrap(token: Uint8Array): Promise<{ message: Uint8Array; encrypted: boolean }> {
    const p = await this.ask(`UNWRAP ${b64(token)}`, 'UNWRAPPED');
    return { message: unb64(p[1]), encrypted: p[2] === '1' };
  }

  async getMic(message: Uint8Array): Promise<Uint8Array> {
    const p = await this.ask(`MIC ${b64(message)}`, 'MIC');
    return unb64(p[1]);
  }

  /** Throws PeerError when the MIC does not verify. */
  async verifyMic(message: Uint8Array, mic: Uint8Array): Promise<void> {
    await this.ask(`VERIFY ${b64(message)} ${b64(mic)}`, 'VERIFIED');
  }

  async close(): Promise<void> {
    try {
      await this.proc.close();
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

/** Anything that can take a context leg: a GssNtlmPeer now, our own package later. */
export interface ContextStepper {
  step(token?: Uint8Array): Promise<StepResult>;
}

/**
 * Runs a handshake between an initiator and an acceptor until both sides are complete; returns
 * every token in order (for inspection). Throws if a side wants a token that never comes.
 */
export async function establish(
  initiator: ContextStepper,
  acceptor: ContextStepper,
  maxLegs = 10,
): Promise<Array<{ from: 'initiator' | 'acceptor'; token: Uint8Array }>> {
  const tokens: Array<{ from: 'initiator' | 'acceptor'; token: Uint8Array }> = [];
  let r = await initiator.step();
  let initDone = r.status === 'complete';
  let accDone = false;
  for (let leg = 0; leg < maxLegs; leg++) {
    if (!r.token) break;
    tokens.push({ from: leg % 2 === 0 ? 'initiator' : 'acceptor', token: r.token });
    if (leg % 2 === 0) {
      r = await acceptor.step(r.token);
      accDone = r.status === 'complete';
    } else {
      r = await initiator.step(r.token);
      initDone = r.status === 'complete';
    }
  }
  if (!initDone || !accDone) {
    throw new Error(`handshake stopped with initiator ${initDone ? 'complete' : 'incomplete'}, acceptor ${accDone ? 'complete' : 'incomplete'}`);
  }
  return tokens;
}
