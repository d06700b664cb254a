// Samba's ntlm_auth (package winbind) as an NTLM peer, spoken to over its helper protocols.
// With --password on the command line it needs neither winbindd nor a real smb.conf.
//
//   client  (--helper-protocol=ntlmssp-client-1):  "YR" → "YR <NEGOTIATE>";  "TT <CHALLENGE>" → "AF|KK <AUTHENTICATE>"
//   server  (--helper-protocol=squid-2.5-ntlmssp):  "YR <NEGOTIATE>" → "TT <CHALLENGE>";
//                                                   "KK <AUTHENTICATE>" → "AF DOMAIN\user" | "NA <NT_STATUS_...>"
// The server checks the AUTHENTICATE MIC: the strictest NTLM acceptor we have.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LineChild, requireBinary } from './proc.js';
import { cleanEnv } from './realm.js';

export interface NtlmAuthOptions {
  username: string;
  password: string;
  domain: string;
  /** Workstation name the client sends; default TSLSA-TEST. */
  workstation?: string;
  /**
   * Client only: gensec features sent with "SF" before the first leg. Samba's client adds
   * MsvAvFlags with the MIC bit (so the server verifies the MIC) only when SESSION_KEY, SIGN or
   * SEAL is wanted. Default: all three; [] for a bare client (MIC sent but not flagged).
   */
  features?: readonly string[];
  /** Extra ntlm_auth arguments (e.g. '--option=ntlm auth = ntlmv2-only'). */
  extraArgs?: readonly string[];
  /** Per-answer timeout in ms; default 10 000. */
  timeoutMs?: number;
}

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
const unb64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));

/**
 * ntlm_auth with a private, minimal smb.conf and state dirs in a temp dir, so the host's
 * /etc/samba/smb.conf (whatever it says) never changes the outcome.
 */
abstract class NtlmAuthHelper {
  protected readonly proc: LineChild;
  protected readonly timeoutMs: number;
  private readonly dir: string;

  protected constructor(protocol: string, opts: NtlmAuthOptions) {
    requireBinary('ntlm_auth');
    this.dir = mkdtempSync(join(tmpdir(), 'tslsa-ntlm-auth-'));
    const conf = join(this.dir, 'smb.conf');
    writeFileSync(
      conf,
      [
        '[global]',
        `    workgroup = ${opts.domain}`,
        `    netbios name = ${opts.workstation ?? 'TSLSA-TEST'}`,
        `    lock directory = ${this.dir}`,
        `    state directory = ${this.dir}`,
        `    cache directory = ${this.dir}`,
        `    private dir = ${this.dir}`,
        `    ncalrpc dir = ${this.dir}`,
        `    pid directory = ${this.dir}`,
        '    log level = 0',
        '',
      ].join('\n'),
    );
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.proc = new LineChild(
      `ntlm_auth ${protocol}`,
      'ntlm_auth',
      [
        `--configfile=${conf}`,
        `--helper-protocol=${protocol}`,
        `--username=${opts.username}`,
        `--password=${opts.password}`,
        `--domain=${opts.domain}`,
        `--workstation=${opts.workstation ?? 'TSLSA-TEST'}`,
        ...(opts.extraArgs ?? []),
      ],
      cleanEnv(),
    );
  }

  get pid(): number {
    return this.proc.pid;
  }

  get stderr(): string {
    return this.proc.stderr;
  }

  protected async ask(line: string): Promise<{ verb: string; rest: string }> {
    const answer = await this.proc.request(line, this.timeoutMs);
    const sp = answer.indexOf(' ');
    return sp < 0 ? { verb: answer, rest: '' } : { verb: answer.slice(0, sp), rest: answer.slice(sp + 1) };
  }

  /** Ends the helper (stdin closed, killed by PID if it lingers) and removes its temp dir. */
  async close(): Promise<void> {
    try {
      await this.proc.close();
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

/** ntlm_auth as an NTLM initiator (client). */
export class NtlmAuthClient extends NtlmAuthHelper {
  private readonly features: readonly string[];

  private constructor(opts: NtlmAuthOptions) {
    super('ntlmssp-client-1', opts);
    this.features = opts.features ?? ['NTLMSSP_FEATURE_SESSION_KEY', 'NTLMSSP_FEATURE_SIGN', 'NTLMSSP_FEATURE_SEAL'];
  }

  static start(opts: NtlmAuthOptions): NtlmAuthClient {
    return new NtlmAuthClient(opts);
  }

  /** NEGOTIATE_MESSAGE. */
  async negotiate(): Promise<Uint8Array> {
    if (this.features.length > 0) {
      const ok = await this.ask(`SF ${this.features.join(' ')}`);
      if (ok.verb !== 'OK') throw new Error(`ntlm_auth client: SF answered ${ok.verb} ${ok.rest}\n${this.stderr}`);
    }
    const a = await this.ask('YR');
    if (a.verb !== 'YR') throw new Error(`ntlm_auth client: expected YR, got ${a.verb} ${a.rest}\n${this.stderr}`);
    return unb64(a.rest);
  }

  /** AUTHENTICATE_MESSAGE for a CHALLENGE_MESSAGE. */
  async authenticate(challenge: Uint8Array): Promise<Uint8Array> {
    const a = await this.ask(`TT ${b64(challenge)}`);
    // ntlmssp-client-1 answers KK when more legs follow and AF when it is done; both carry the token.
    if (a.verb !== 'AF' && a.verb !== 'KK') {
      throw new Error(`ntlm_auth client: expected AF/KK, got ${a.verb} ${a.rest}\n${this.stderr}`);
    }
    return unb64(a.rest);
  }
}

export type NtlmAuthVerdict = { ok: true; user: string } | { ok: false; reason: string };

/** ntlm_auth as an NTLM acceptor (server) that knows exactly one user: the one it was started with. */
export class NtlmAuthServer extends NtlmAuthHelper {
  private constructor(opts: NtlmAuthOptions) {
    super('squid-2.5-ntlmssp', opts);
  }

  static start(opts: NtlmAuthOptions): NtlmAuthServer {
    return new NtlmAuthServer(opts);
  }

  /** CHALLENGE_MESSAGE for a NEGOTIATE_MESSAGE. */
  async challenge(negotiate: Uint8Array): Promise<Uint8Array> {
    const a = await this.ask(`YR ${b64(negotiate)}`);
    if (a.verb !== 'TT') throw new Error(`ntlm_auth server: expected TT, got ${a.verb} ${a.rest}\n${this.stderr}`);
    return unb64(a.rest);
  }

  /** Verdict on an AUTHENTICATE_MESSAGE: AF DOMAIN\user, or NA with the NT status. */
  async authenticate(authenticate: Uint8Array): Promise<NtlmAuthVerdict> {
    const a = await this.ask(`KK ${b64(authenticate)}`);
    if (a.verb === 'AF') return { ok: true, user: a.rest };
    if (a.verb === 'NA' || a.verb === 'BH') return { ok: false, reason: `${a.verb} ${a.rest}`.trim() };
    throw new Error(`ntlm_auth server: unexpected answer ${a.verb} ${a.rest}\n${this.stderr}`);
  }
}

// ---- a minimal look into NTLM messages (MS-NLMP 2.2.1), for assertions in interop tests ---------

export const NTLMSSP_NEGOTIATE_VERSION = 0x02000000;
const MSV_AV_FLAGS = 6;
const MSV_AV_EOL = 0;

export interface NtlmMessageSummary {
  type: number;
  flags: number;
  /** AUTHENTICATE only: strings (UTF-16LE when NEGOTIATE_UNICODE) and the MIC. */
  domain?: string;
  user?: string;
  workstation?: string;
  ntResponseLength?: number;
  /** MsvAvFlags from the NTLMv2 response's AV pairs (bit 0x2: a MIC is present). */
  avFlags?: number;
  /** Offset of the 16-byte MIC (after the 64-byte header and 8-byte VERSION), when present. */
  micOffset?: number;
}

/** Reads type, flags and (for AUTHENTICATE) the fields interop tests assert on. */
export function summarizeNtlmMessage(msg: Uint8Array): NtlmMessageSummary {
  const b = Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength);
  if (b.length < 12 || b.toString('latin1', 0, 8) !== 'NTLMSSP\0') throw new Error('not an NTLMSSP message');
  const type = b.readUInt32LE(8);
  if (type === 1) return { type, flags: b.readUInt32LE(12) };
  if (type === 2) return { type, flags: b.readUInt32LE(20) };
  if (type !== 3) return { type, flags: 0 };
  const flags = b.readUInt32LE(60);
  const field = (off: number): Buffer => {
    const len = b.readUInt16LE(off);
    const at = b.readUInt32LE(off + 4);
    return b.subarray(at, at + len);
  };
  const str = (off: number): string => field(off).toString(flags & 1 ? 'utf16le' : 'latin1');
  const nt = field(20);
  let avFlags: number | undefined;
  // NTLMv2: NTProofStr(16) RespType HiRespType Reserved(6) Timestamp(8) ClientChallenge(8) Reserved(4) AvPairs
  if (nt.length > 48) {
    for (let p = 44; p + 4 <= nt.length; ) {
      const id = nt.readUInt16LE(p);
      const len = nt.readUInt16LE(p + 2);
      if (id === MSV_AV_EOL) break;
      if (id === MSV_AV_FLAGS && len === 4) avFlags = nt.readUInt32LE(p + 4);
      p += 4 + len;
    }
  }
  const summary: NtlmMessageSummary = {
    type,
    flags,
    domain: str(28),
    user: str(36),
    workstation: str(44),
    ntResponseLength: nt.length,
  };
  if (avFlags !== undefined) summary.avFlags = avFlags;
  if (avFlags !== undefined && avFlags & 2 && flags & NTLMSSP_NEGOTIATE_VERSION) summary.micOffset = 72;
  return summary;
}
