// `tslsa ntlm-auth`: Samba's ntlm_auth stdio helper protocols over the real LSA, so programs that
// drive `ntlm_auth` (Squid's NTLM auth_param, ntlmssp-client-1 callers) can use tslsa instead.
//
//   tslsa ntlm-auth --helper-protocol=squid-2.5-ntlmssp [--store PATH] [--domain D]
//     server: "YR [negotiate]" -> "TT challenge";  "KK authenticate" -> "AF DOMAIN\user" | "NA NT_STATUS_..."
//   tslsa ntlm-auth --helper-protocol=ntlmssp-client-1 --username U [--domain D] [--password PW]
//     client: "YR" -> "YR negotiate";  "TT challenge" -> "AF authenticate" (KK if more legs followed)
//     without --password the helper asks with "PW" and the caller answers "PW <base64 password>".
//   both: "SF features" -> "OK", "GF" -> "GF 0x<NegotiateFlags>", "GK" -> "BH No session key",
//         an unknown verb -> "BH SPNEGO request invalid prefix" (Samba's wording), EOF -> exit 0.
//
// One request line, one answer line, written as soon as it is known. Every handshake is a new
// SSPI context (AcceptSecurityContext / InitializeSecurityContext through host.sspi()); a context
// ends at AF, NA or the next YR. Session keys and passwords are never written anywhere: GK is
// refused, and NA carries only an NT status name.

import { Credentials } from '../credentials.js';
import { SecurityContext } from '../context.js';
import { createLsa, type LsaHost, type PackageSpec } from '../lsa/host.js';
import { builtinPackages } from '../packages/index.js';
import * as msv1_0Module from '../packages/msv1_0/package.js';
import { msv1_0Package } from '../packages/msv1_0/package.js';
import * as F from '../packages/ntlm/flags.js';
import { ntlmMessageType, parseAuthenticateMessage, parseChallengeMessage, parseNegotiateMessage, writeNegotiateMessage } from '../packages/ntlm/messages.js';
import { SspiError } from '../sspi/error.js';
import { SECPKG_ATTR } from '../sspi/flags.js';
import { SecurityStatus } from '../sspi/status.js';
import { type AccountStore, AccountStoreError } from '../store/accounts.js';
import { defaultStorePath, SqliteAccountStore } from '../store/sqlite.js';
import { parseArgs, UsageError } from './args.js';

export interface NtlmAuthIO {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** TSLSA_STORE / XDG_DATA_HOME / HOME (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export const NTLM_AUTH_HELP = `Usage:
  tslsa ntlm-auth --helper-protocol=squid-2.5-ntlmssp [--store PATH] [--domain D]
  tslsa ntlm-auth --helper-protocol=ntlmssp-client-1 --username U [--domain D] [--password PW]
                  [--target-service S --target-hostname H]

Samba ntlm_auth's stdio helper protocols, one line per request and per answer:
  squid-2.5-ntlmssp  (server)  YR [NEGOTIATE] -> TT CHALLENGE;  KK AUTHENTICATE -> AF DOMAIN\\user | NA NT_STATUS_...
  ntlmssp-client-1   (client)  YR -> YR NEGOTIATE;  TT CHALLENGE -> AF AUTHENTICATE;  PW <base64> -> OK
  both: SF ... -> OK;  GF -> GF 0xFLAGS;  anything else -> BH <reason>. EOF ends the helper (exit 0).

Options:
  --store PATH        server: the account store (default $TSLSA_STORE, else $XDG_DATA_HOME/tslsa/accounts.db)
  --domain D          server: the NetBIOS domain announced in the CHALLENGE; client: the user's domain
  --username U        client: the user (DOMAIN\\user also works)
  --password PW       client: the password (visible to other local users: prefer answering the PW request)
  --target-service S, --target-hostname H   client: the SPN S/H sent as MsvAvTargetName
Accepted and ignored, for command lines written for Samba: --configfile, --workstation, --debuglevel/-d, --option.
Not supported: --require-membership-of, --use-cached-creds, other helper protocols (refused, exit 2).
`;

export const HELPER_PROTOCOLS = ['squid-2.5-ntlmssp', 'ntlmssp-client-1'] as const;
type HelperProtocol = (typeof HELPER_PROTOCOLS)[number];

const VALUE_OPTIONS = new Set(['helper-protocol', 'username', 'domain', 'password', 'store', 'workstation', 'target-service', 'target-hostname', 'configfile', 'debuglevel', 'd', 'option']);
const IGNORED = new Set(['configfile', 'workstation', 'debuglevel', 'd', 'option']);
const KNOWN = new Set([...VALUE_OPTIONS, 'help', 'h']);

/** Longest request line: an NTLM message is at most 64 KiB, so its base64 is under 88 KiB. */
export const MAX_LINE = 128 * 1024;

/** NEGOTIATE flags assumed when Squid asks for a challenge without the client's NEGOTIATE ("YR"). */
const DEFAULT_NEGOTIATE_FLAGS =
  F.NTLMSSP_NEGOTIATE_UNICODE | F.NTLM_NEGOTIATE_OEM | F.NTLMSSP_REQUEST_TARGET | F.NTLMSSP_NEGOTIATE_SIGN | F.NTLMSSP_NEGOTIATE_SEAL |
  F.NTLMSSP_NEGOTIATE_NTLM | F.NTLMSSP_NEGOTIATE_ALWAYS_SIGN | F.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY | F.NTLMSSP_NEGOTIATE_128 |
  F.NTLMSSP_NEGOTIATE_KEY_EXCH | F.NTLMSSP_NEGOTIATE_56;

// ---- lines in, lines out -------------------------------------------------------------------------

const OVERSIZED = Symbol('oversized');
type Line = string | typeof OVERSIZED | null;

/** Reads '\n'-terminated lines (a trailing '\r' dropped); a line longer than MAX_LINE is skipped whole. */
class LineReader {
  private readonly it: AsyncIterator<Buffer | string>;
  private buf: Buffer = Buffer.alloc(0);
  private eof = false;

  constructor(stream: NodeJS.ReadableStream) {
    this.it = (stream as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  }

  async next(): Promise<Line> {
    let discarding = false;
    for (;;) {
      const nl = this.buf.indexOf(0x0a);
      if (nl >= 0) {
        const raw = this.buf.subarray(0, nl);
        this.buf = this.buf.subarray(nl + 1);
        if (discarding || raw.length > MAX_LINE) return OVERSIZED;
        return raw.toString('latin1').replace(/\r$/, '');
      }
      if (this.buf.length > MAX_LINE) {
        // Keep no more than a line's worth in memory while skipping to its end.
        discarding = true;
        this.buf = Buffer.alloc(0);
      }
      if (this.eof) {
        if (this.buf.length === 0) return discarding ? OVERSIZED : null;
        const last = this.buf.toString('latin1').replace(/\r$/, '');
        this.buf = Buffer.alloc(0);
        return discarding ? OVERSIZED : last;
      }
      const r = await this.it.next();
      if (r.done) this.eof = true;
      else this.buf = this.buf.length ? Buffer.concat([this.buf, Buffer.from(r.value)]) : Buffer.from(r.value);
    }
  }

  async close(): Promise<void> {
    await this.it.return?.();
  }
}

function writeLine(out: NodeJS.WritableStream, line: string): Promise<void> {
  return new Promise((resolve) => {
    // A pipe that is full (or gone) must not make answers pile up in memory.
    if (out.write(line + '\n')) resolve();
    else out.once('drain', resolve);
  });
}

// ---- request lines -------------------------------------------------------------------------------

interface Request {
  verb: string;
  /** The text after "XX " (undefined when the line is just the verb). */
  arg: string | undefined;
}

/** Split "XX" / "XX arg"; null when the line is not of that shape. */
function parseRequest(line: string): Request | null {
  if (line.length < 2) return null;
  const verb = line.slice(0, 2);
  if (line.length === 2) return { verb, arg: undefined };
  if (line[2] !== ' ') return null;
  return { verb, arg: line.slice(3) };
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2,3})?$/;

/** Strict base64 (Node's decoder silently skips junk, which would hide a broken caller). */
function decodeBlob(s: string): Uint8Array | null {
  const t = s.trim();
  if (t.length === 0 || !BASE64.test(t)) return null;
  return new Uint8Array(Buffer.from(t, 'base64'));
}

const b64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');

/**
 * The answer for a failed handshake, as ntlm_auth words it: NA with an NT status name for a
 * refused logon or a bad token, BH for a failure of the helper itself (store, internal error).
 */
export function failureAnswer(e: unknown): string {
  if (!(e instanceof SspiError)) return 'BH Internal error';
  switch (e.status) {
    case SecurityStatus.SEC_E_LOGON_DENIED:
      // SSPI folds wrong password, unknown user, disabled, locked out... into one status, as
      // Samba squashes them before answering (nt_status_squash).
      return 'NA NT_STATUS_LOGON_FAILURE';
    case SecurityStatus.SEC_E_INVALID_TOKEN:
    case SecurityStatus.SEC_E_MESSAGE_ALTERED:
    case SecurityStatus.SEC_E_OUT_OF_SEQUENCE:
    case SecurityStatus.SEC_E_INVALID_PARAMETER:
      return 'NA NT_STATUS_INVALID_PARAMETER';
    case SecurityStatus.SEC_E_BAD_BINDINGS:
      return 'NA NT_STATUS_BAD_BINDINGS';
    case SecurityStatus.SEC_E_TIME_SKEW:
      return 'NA NT_STATUS_TIME_DIFFERENCE_AT_DC';
    case SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION:
      return 'NA NT_STATUS_NOT_SUPPORTED';
    case SecurityStatus.SEC_E_NO_CREDENTIALS:
    case SecurityStatus.SEC_E_UNKNOWN_CREDENTIALS:
      return 'NA NT_STATUS_NO_SUCH_LOGON_SESSION';
    default:
      return `BH ${e.code}`;
  }
}

// ---- the two helpers -----------------------------------------------------------------------------

interface Options {
  protocol: HelperProtocol;
  username: string | undefined;
  domain: string | undefined;
  password: string | undefined;
  target: string | null;
  storePath: string;
}

abstract class Helper {
  protected ctx: SecurityContext | null = null;
  /** NegotiateFlags of the last NTLM message this side sent or settled on (GF). */
  protected lastFlags = 0;
  protected features: string[] = [];

  constructor(
    protected readonly host: LsaHost,
    protected readonly lines: LineReader,
    protected readonly out: NodeJS.WritableStream,
  ) {}

  protected answer(line: string): Promise<void> {
    return writeLine(this.out, line);
  }

  protected async endContext(): Promise<void> {
    const c = this.ctx;
    this.ctx = null;
    if (c) await c.delete().catch(() => undefined);
  }

  /** One request line; resolves once its answer is written. */
  async handle(line: string): Promise<void> {
    if (line.length < 2) return this.answer('BH Query invalid');
    const req = parseRequest(line);
    if (!req) return this.answer('BH SPNEGO request invalid prefix');
    switch (req.verb) {
      case 'SF':
        if (req.arg === undefined) return this.answer('BH SPNEGO request invalid prefix');
        this.features = req.arg.split(/[\s,]+/).filter(Boolean);
        return this.answer('OK');
      case 'GF':
        return this.answer(this.lastFlags ? `GF 0x${this.lastFlags.toString(16).padStart(8, '0')}` : 'BH');
      case 'GK':
        // The session key is a secret: it never leaves the LSA through this helper.
        return this.answer('BH No session key');
      case 'OK':
        return this.answer('BH Command expected');
      default:
        return this.request(req);
    }
  }

  protected abstract request(req: Request): Promise<void>;

  async close(): Promise<void> {
    await this.endContext();
  }
}

/** squid-2.5-ntlmssp: the acceptor. */
class ServerHelper extends Helper {
  private constructor(
    host: LsaHost,
    lines: LineReader,
    out: NodeJS.WritableStream,
    private readonly cred: Credentials,
  ) {
    super(host, lines, out);
  }

  static async start(host: LsaHost, lines: LineReader, out: NodeJS.WritableStream): Promise<ServerHelper> {
    const cred = await Credentials.acquire(host.sspi(), { package: 'NTLM', use: 'inbound' });
    return new ServerHelper(host, lines, out, cred);
  }

  protected async request(req: Request): Promise<void> {
    let token: Uint8Array | null;
    if (req.verb === 'YR') {
      await this.endContext();
      this.lastFlags = 0;
      // Squid without use_ntlm_negotiate asks for a challenge before the client's NEGOTIATE.
      token = req.arg === undefined ? writeNegotiateMessage({ NegotiateFlags: DEFAULT_NEGOTIATE_FLAGS, DomainName: '', Workstation: '' }) : decodeBlob(req.arg);
    } else if (req.verb === 'KK' || req.verb === 'TT' || req.verb === 'AF' || req.verb === 'NA') {
      // Like ntlm_auth, any of these carries the client's next token.
      if (req.arg === undefined) return this.answer('BH SPNEGO request invalid prefix');
      token = decodeBlob(req.arg);
    } else if (req.verb === 'PW') {
      return this.answer('BH PW is only for ntlmssp-client-1');
    } else {
      return this.answer('BH SPNEGO request invalid prefix');
    }
    if (!token) {
      await this.endContext();
      return this.answer('NA NT_STATUS_INVALID_PARAMETER');
    }
    this.ctx ??= SecurityContext.server(this.cred);
    const ctx = this.ctx;
    try {
      const reply = await ctx.step(token);
      if (!ctx.complete) {
        if (!reply) throw new SspiError(SecurityStatus.SEC_E_INTERNAL_ERROR, 'no token to send');
        this.lastFlags = flagsOf(reply);
        return await this.answer(`TT ${b64(reply)}`);
      }
      const auth = attempt(() => parseAuthenticateMessage(token));
      if (auth) this.lastFlags = (auth.NegotiateFlags & this.lastFlags) >>> 0 || this.lastFlags;
      const names = await ctx.query<{ sUserName: string }>(SECPKG_ATTR.NAMES);
      await this.endContext();
      return await this.answer(`AF ${oneLine(names.sUserName)}`);
    } catch (e) {
      await this.endContext();
      return this.answer(failureAnswer(e));
    }
  }

  override async close(): Promise<void> {
    await super.close();
    await this.cred.free().catch(() => undefined);
  }
}

/** ntlmssp-client-1: the initiator. */
class ClientHelper extends Helper {
  private cred: Credentials | null = null;

  constructor(
    host: LsaHost,
    lines: LineReader,
    out: NodeJS.WritableStream,
    private readonly user: string,
    private readonly domain: string,
    private readonly target: string | null,
  ) {
    super(host, lines, out);
  }

  /** Acquire outbound credentials; the password goes to the package (which keeps only NTOWFv1). */
  async setPassword(password: string): Promise<void> {
    const old = this.cred;
    this.cred = null;
    if (old) await old.free().catch(() => undefined);
    this.cred = await Credentials.acquire(this.host.sspi(), { package: 'NTLM', use: 'outbound', authData: { User: this.user, Domain: this.domain, Password: password } });
  }

  private async passwordFromLine(arg: string | undefined): Promise<boolean> {
    const bytes = arg === undefined ? null : decodeBlob(arg);
    if (!bytes) return false;
    try {
      await this.setPassword(Buffer.from(bytes).toString('utf8'));
    } finally {
      bytes.fill(0);
    }
    return true;
  }

  /** Ask the caller for the password (ntlm_auth's "PW" callback); false when none came. */
  private async askPassword(): Promise<boolean | 'eof'> {
    await this.answer('PW');
    const line = await this.lines.next();
    if (line === null) return 'eof';
    const req = line === OVERSIZED ? null : parseRequest(line);
    if (req?.verb === 'PW' && (await this.passwordFromLine(req.arg))) {
      await this.answer('OK');
      return true;
    }
    await this.answer('BH Expected a password');
    return false;
  }

  private flags(): string[] {
    const f: string[] = [];
    if (this.features.includes('NTLMSSP_FEATURE_SIGN')) f.push('INTEGRITY');
    if (this.features.includes('NTLMSSP_FEATURE_SEAL')) f.push('CONFIDENTIALITY');
    return f;
  }

  protected async request(req: Request): Promise<void> {
    if (req.verb === 'PW') {
      if (!(await this.passwordFromLine(req.arg))) return this.answer('BH Expected a password');
      return this.answer('OK');
    }
    if (req.verb === 'YR') {
      await this.endContext();
      this.lastFlags = 0;
      // A client starts the exchange: there is nothing it could do with a server token here.
      if (req.arg !== undefined) return this.answer('NA NT_STATUS_INVALID_PARAMETER');
      if (!this.cred) {
        const got = await this.askPassword();
        if (got === 'eof') return;
        if (!got) return this.answer('BH No password');
      }
      const ctx = SecurityContext.client(this.cred!, { target: this.target ?? undefined, flags: this.flags() });
      this.ctx = ctx;
      try {
        const tok = await ctx.step();
        if (!tok) throw new SspiError(SecurityStatus.SEC_E_INTERNAL_ERROR, 'no NEGOTIATE to send');
        this.lastFlags = flagsOf(tok);
        return await this.answer(`YR ${b64(tok)}`);
      } catch (e) {
        await this.endContext();
        return this.answer(failureAnswer(e));
      }
    }
    if (req.verb === 'TT' || req.verb === 'KK' || req.verb === 'AF' || req.verb === 'NA') {
      if (req.arg === undefined) return this.answer('BH SPNEGO request invalid prefix');
      const ctx = this.ctx;
      if (!ctx) return this.answer('BH No handshake in progress (send YR first)');
      const token = decodeBlob(req.arg);
      if (!token) {
        await this.endContext();
        return this.answer('NA NT_STATUS_INVALID_PARAMETER');
      }
      try {
        const reply = await ctx.step(token);
        if (reply) this.lastFlags = flagsOf(reply);
        if (ctx.complete) {
          await this.endContext();
          // ntlm_auth answers AF with the last token when its side is done, KK when more legs follow.
          return await this.answer(reply ? `AF ${b64(reply)}` : 'AF *');
        }
        if (!reply) throw new SspiError(SecurityStatus.SEC_E_INTERNAL_ERROR, 'no token to send');
        return await this.answer(`KK ${b64(reply)}`);
      } catch (e) {
        await this.endContext();
        return this.answer(failureAnswer(e));
      }
    }
    return this.answer('BH SPNEGO request invalid prefix');
  }

  override async close(): Promise<void> {
    await super.close();
    if (this.cred) await this.cred.free().catch(() => undefined);
  }
}

function attempt<T>(fn: () => T): T | null {
  try {
    return fn();
  } catch {
    return null;
  }
}

/** NegotiateFlags of an NTLM message we produced (0 if it is not one). */
function flagsOf(token: Uint8Array): number {
  const m = attempt(() => {
    switch (ntlmMessageType(token)) {
      case 1:
        return parseNegotiateMessage(token);
      case 2:
        return parseChallengeMessage(token);
      case 3:
        return parseAuthenticateMessage(token);
      default:
        return null;
    }
  });
  return m ? m.NegotiateFlags >>> 0 : 0;
}

/** Names come from the wire: never let one break the line protocol. */
function oneLine(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f]/g, '?');
}

// ---- the command ---------------------------------------------------------------------------------

function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): Options {
  const { positionals, options } = parseArgs(argv, VALUE_OPTIONS);
  for (const k of options.keys()) {
    if (k === 'require-membership-of') throw new UsageError('--require-membership-of is not supported: tslsa has no groups yet, and ignoring it would let every account in');
    if (k === 'use-cached-creds') throw new UsageError('--use-cached-creds is not supported: give --password or answer the PW request');
    if (!KNOWN.has(k)) throw new UsageError(`unknown option --${k} (see tslsa ntlm-auth --help)`);
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}' (see tslsa ntlm-auth --help)`);
  const str = (k: string): string | undefined => {
    const v = options.get(k);
    if (v === true) throw new UsageError(`--${k} needs a value`);
    return v;
  };
  for (const k of IGNORED) str(k);
  const protocol = str('helper-protocol');
  if (protocol === undefined) throw new UsageError(`--helper-protocol is required (${HELPER_PROTOCOLS.join(' or ')})`);
  if (!(HELPER_PROTOCOLS as readonly string[]).includes(protocol)) {
    throw new UsageError(`helper protocol '${protocol}' is not supported; supported: ${HELPER_PROTOCOLS.join(', ')}`);
  }
  let username = str('username');
  let domain = str('domain');
  if (username?.includes('\\')) {
    const i = username.indexOf('\\');
    const d = username.slice(0, i);
    if (domain !== undefined && domain.toUpperCase() !== d.toUpperCase()) throw new UsageError(`the domain in --username (${d}) differs from --domain (${domain})`);
    domain = d;
    username = username.slice(i + 1);
  }
  const svc = str('target-service');
  const hostname = str('target-hostname');
  if ((svc === undefined) !== (hostname === undefined)) throw new UsageError('--target-service and --target-hostname go together');
  const password = str('password');
  if (protocol === 'ntlmssp-client-1') {
    if (!username) throw new UsageError('ntlmssp-client-1 needs --username');
    if (options.has('store')) throw new UsageError('--store is for the server protocol (squid-2.5-ntlmssp)');
  } else {
    if (username !== undefined || password !== undefined) {
      throw new UsageError('squid-2.5-ntlmssp validates against the account store: --username/--password are for ntlmssp-client-1 (add accounts with tslsa user add)');
    }
    if (svc !== undefined) throw new UsageError('--target-service/--target-hostname are for ntlmssp-client-1');
  }
  const explicit = str('store') ?? (env.TSLSA_STORE || undefined);
  return {
    protocol: protocol as HelperProtocol,
    username,
    domain,
    password,
    target: svc !== undefined ? `${svc}/${hostname}` : null,
    storePath: explicit ?? defaultStorePath(env),
  };
}

/** The built-in packages, with the account authority over an already opened store. */
async function serverPackages(store: AccountStore): Promise<PackageSpec[]> {
  let replaced = false;
  const specs = (await builtinPackages()).map((s) => {
    if (s.module !== msv1_0Module) return s;
    replaced = true;
    return { module: msv1_0Package({ store, closeStoreOnShutdown: true }) };
  });
  if (!replaced) throw new SspiError(SecurityStatus.SEC_E_INTERNAL_ERROR, 'the built-in packages have no MSV1_0 account authority');
  return specs;
}

/**
 * `tslsa ntlm-auth ...`: runs the helper until stdin ends. Returns the exit code: 0 at EOF, 1 when
 * the helper cannot start (no store...), 2 for a usage error.
 */
export async function ntlmAuthCommand(argv: readonly string[], io: NtlmAuthIO): Promise<number> {
  const env = io.env ?? process.env;
  let opts: Options;
  try {
    if (argv.includes('--help') || argv.includes('-h')) {
      io.stdout.write(NTLM_AUTH_HELP);
      return 0;
    }
    opts = parseOptions(argv, env);
  } catch (e) {
    io.stderr.write(`tslsa: ${(e as Error).message}\n`);
    return 2;
  }

  let host: LsaHost | null = null;
  let store: AccountStore | null = null;
  let helper: Helper | null = null;
  const lines = new LineReader(io.stdin);
  try {
    try {
      if (opts.protocol === 'squid-2.5-ntlmssp') {
        // Never created here: a helper pointed at a missing store is misconfigured, not empty.
        store = await SqliteAccountStore.open(opts.storePath, { create: false });
        const specs = await serverPackages(store);
        store = null; // owned by the package from here (closed at shutdown)
        host = await createLsa({ packages: specs, ...(opts.domain ? { domainName: opts.domain } : {}) });
        helper = await ServerHelper.start(host, lines, io.stdout);
      } else {
        host = await createLsa({ packages: await builtinPackages() });
        const client = new ClientHelper(host, lines, io.stdout, opts.username!, opts.domain ?? '', opts.target);
        if (opts.password !== undefined) await client.setPassword(opts.password);
        helper = client;
      }
    } catch (e) {
      const msg = e instanceof AccountStoreError ? e.detail : e instanceof SspiError ? e.message : String((e as Error)?.message ?? e);
      const hint = e instanceof AccountStoreError && (e.reason === 'NOT_FOUND' || e.reason === 'NO_DIRECTORY') ? ' (create it with tslsa user add)' : '';
      io.stderr.write(`tslsa: ${msg}${hint}\n`);
      return 1;
    }
    for (;;) {
      const line = await lines.next();
      if (line === null) return 0;
      if (line === OVERSIZED) {
        await writeLine(io.stdout, 'BH Oversized message');
        continue;
      }
      if (line.length === 0) {
        // ntlm_auth writes nothing to stdout for an empty line; an answer keeps callers in step.
        await writeLine(io.stdout, 'BH Query invalid');
        continue;
      }
      try {
        await helper.handle(line);
      } catch {
        // A fault in one request (never expected) must not end the helper; the detail could
        // carry input, so it is not echoed.
        await writeLine(io.stdout, 'BH Internal error');
      }
    }
  } finally {
    await lines.close().catch(() => undefined);
    if (helper) await helper.close().catch(() => undefined);
    if (host) await host.shutdown().catch(() => undefined);
    if (store) await (store as AccountStore).close().catch(() => undefined);
  }
}

