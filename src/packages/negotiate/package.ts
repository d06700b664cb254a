// The Negotiate security package (SPNEGO, RFC 4178 and MS-SPNG) on the LSA contract. It owns no
// mechanism: it reaches Kerberos and NTLM only through the LSA (GetPackageDispatch), holds one
// credential and one context of the chosen package, wraps its tokens in NegTokenInit/NegTokenResp,
// and at the end hands the chosen package's mapped context to that package's user-mode half.
//
// mechListMIC (RFC 4178 5, MS-SPNG 3.1.5.1) is produced and checked with the chosen package's
// user-mode half loaded inside the LSA, over a throwaway copy of the context: the caller's context
// is then mapped fresh, which gives NTLM the crypto reset after the MIC that Windows and
// gss-ntlmssp apply.

import { isIP } from 'node:net';
import type { LSA_SEC_HANDLE, LSA_SECPKG_FUNCTION_TABLE, LsaModeContextResult, SECPKG_DISPATCH, SECPKG_FUNCTION_TABLE, SECPKG_PARAMETERS, SECPKG_USER_FUNCTION_TABLE, SecurityPackageModule } from '../../lsa/types.js';
import type { Plain, SecPkgInfo } from '../../sspi/attributes.js';
import { type SecBuffer, type SecBufferDesc, bufferBytes, findBuffer, inputToken, outputBuffer, secBuffer, secBufferDesc, writeOutputToken } from '../../sspi/buffers.js';
import { SspiError } from '../../sspi/error.js';
import { ASC_REQ, ISC_REQ, RPC_C_AUTHN, SECBUFFER, SECPKG_ATTR, SECPKG_CONTEXT_EXPORT, SECPKG_CRED, SECPKG_FLAG, SECPKG_INTERFACE_VERSION_2, SECPKG_NEGOTIATION, hasFlag } from '../../sspi/flags.js';
import { NtStatus, SecurityStatus, type Status, toSecurityStatus } from '../../sspi/status.js';
import { TIMESTAMP_INFINITE } from '../../sspi/timestamp.js';
import { KRB5_MECH_OID, MS_KRB5_MECH_OID, NTLMSSP_MECH_OID, parseInitialContextToken } from '../../der/index.js';
import { declareFrameUse } from '../../lsa/callContext.js';
import { PackedReader, PackedWriter } from '../../lsa/packed.js';
import { NegState, encodeMechTypeList, encodeNegTokenInit, encodeNegTokenResp, parseNegotiationToken, type NegTokenInit, type NegTokenResp } from './spnego.js';

export const NEGOTIATE_PACKAGE_NAME = 'Negotiate';
/** Windows' figure: Kerberos' 48000 plus the SPNEGO wrapping. */
export const NEGOTIATE_MAX_TOKEN = 48256;

export interface NegotiateConfig {
  /** Sub-packages in order of preference (default Kerberos, then NTLM); only loaded ones count. */
  packages?: string[];
  /** false: "Kerberos only", NTLM is never offered nor accepted. */
  allowNtlm?: boolean;
  /** negHints.hintName of a server-initiated NegTokenInit2 (MS-SPNG 2.2.1). */
  hintName?: string;
  /**
   * AcquireCredentialsHandle: once one sub-package has credentials, wait at most this long (ms)
   * for the ones preferred above it (a Kerberos AS exchange with a silent KDC), then go on
   * without them; one that arrives later is used by the contexts started after it. Default 1000.
   */
  fallbackAfterMs?: number;
}

/**
 * SEC_WINNT_AUTH_IDENTITY_EX's PackageList, as Windows' Negotiate reads it: a comma-separated list
 * of the packages it may use ("Kerberos") or, after "!", may not ("!NTLM"), case-insensitive. null:
 * no list; undefined: a list that is not a string. `rest` is the identity without it (null when
 * nothing else was given: the sub-packages' default credentials).
 */
function packageList(authData: Plain): { allows(name: string): boolean; rest: Plain } | null | undefined {
  if (authData === null || typeof authData !== 'object' || Array.isArray(authData) || authData instanceof Uint8Array || !('PackageList' in authData)) return null;
  const { PackageList: raw, ...rest } = authData;
  if (typeof raw !== 'string') return undefined;
  const only = new Set<string>();
  const not = new Set<string>();
  for (const item of raw.split(',').map((x) => x.trim().toUpperCase()).filter(Boolean)) {
    if (item.startsWith('!')) not.add(item.slice(1).trim());
    else only.add(item);
  }
  return {
    allows: (name) => !not.has(name.toUpperCase()) && (only.size === 0 || only.has(name.toUpperCase())),
    rest: Object.keys(rest).length ? rest : null,
  };
}

/** Package name -> the mechanism OIDs that name it in SPNEGO (first = the one we send). */
const MECH_OIDS: Readonly<Record<string, readonly string[]>> = {
  KERBEROS: [KRB5_MECH_OID, MS_KRB5_MECH_OID],
  NTLM: [NTLMSSP_MECH_OID],
};

/** Statuses that mean "this mechanism can't serve here", on which the initiator moves to the next. */
const FALLBACK = new Set<number>([
  SecurityStatus.SEC_E_NO_CREDENTIALS,
  SecurityStatus.SEC_E_NO_AUTHENTICATING_AUTHORITY,
  SecurityStatus.SEC_E_TARGET_UNKNOWN,
  SecurityStatus.SEC_E_KDC_UNABLE_TO_REFER,
  SecurityStatus.SEC_E_WRONG_PRINCIPAL,
  SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION,
  SecurityStatus.SEC_E_KDC_UNKNOWN_ETYPE,
  SecurityStatus.SEC_E_SECPKG_NOT_FOUND,
  SecurityStatus.SEC_E_INTERNAL_ERROR,
]);

interface Mech {
  name: string;
  dispatch: SECPKG_DISPATCH;
  oids: readonly string[];
}

interface SubCredential {
  mech: Mech;
  handle: LSA_SEC_HANDLE;
  /** Position in the preference order. */
  rank: number;
}

interface Credential {
  use: number;
  subs: SubCredential[];
  /** Why preferred packages are missing from `subs` (reported in NEGOTIATION_INFO). */
  skipped: { Package: string; Status: number }[];
  freed: boolean;
}

interface Ctx {
  side: 'client' | 'server';
  cred: Credential;
  /** The chosen mechanism and its context handle (0n before the first call to it). */
  mech: Mech | null;
  sub: LSA_SEC_HANDLE;
  /** OID we (client) or the peer (server) named the chosen mechanism by. */
  mechOid: string;
  mechTypesDer: Uint8Array;
  /** The mechanism is the first one the initiator listed (and its optimistic token was used). */
  preferred: boolean;
  /** Raw NTLM or Kerberos without SPNEGO framing (clients that send bare tokens under "Negotiate"). */
  raw: boolean;
  subDone: boolean;
  micSent: boolean;
  micChecked: boolean;
  peerSentMic: boolean;
  firstReply: boolean;
  result: LsaModeContextResult | null;
  /** The LSA-side user-mode copy used for mechListMICs. */
  mic: { um: SECPKG_USER_FUNCTION_TABLE; h: LSA_SEC_HANDLE } | null;
  target: string | null;
  skipped: { Package: string; Status: number }[];
  state: 'start' | 'continue' | 'done';
}

/** The layout version of an exported half-built acceptor context, and its flag bits. */
const PARTIAL_VERSION = 1;
const PARTIAL_RAW = 0x1;
const PARTIAL_PREFERRED = 0x2;
const PARTIAL_PEER_MIC = 0x4;
const PARTIAL_FIRST_REPLY = 0x8;

/** A failure; `from` is the mechanism's result whose cause (ExtendedError) goes on to the caller. */
function fail(status: Status, from?: LsaModeContextResult): LsaModeContextResult {
  return from?.ExtendedError ? { status, ExtendedError: from.ExtendedError } : { status };
}

function isError(s: Status): boolean {
  return (s | 0) < 0;
}

function statusOf(e: unknown): Status {
  return e instanceof SspiError ? toSecurityStatus(e.status) : SecurityStatus.SEC_E_INTERNAL_ERROR;
}

/** The host of an SPN (`HTTP/host[:port]`), host-based (`HTTP@host`) or bare name. */
function targetHost(target: string | null): string {
  if (!target) return '';
  let h = target;
  const slash = h.indexOf('/');
  if (slash >= 0) h = h.slice(slash + 1);
  else if (h.includes('@')) h = h.slice(h.lastIndexOf('@') + 1);
  const at = h.indexOf('@');
  if (at >= 0) h = h.slice(0, at);
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') > 0 ? h.indexOf(']') : undefined);
  const colon = h.lastIndexOf(':');
  if (colon > 0 && h.indexOf(':') === colon) h = h.slice(0, colon);
  return h;
}

export function negotiatePackage(config: NegotiateConfig = {}): SecurityPackageModule {
  let lsa!: LSA_SECPKG_FUNCTION_TABLE;
  let cfg: Required<Omit<NegotiateConfig, 'hintName'>> & { hintName?: string };
  const DEFAULT_FALLBACK_AFTER_MS = 1000;
  const creds = new Map<LSA_SEC_HANDLE, Credential>();
  const ctxs = new Map<LSA_SEC_HANDLE, Ctx>();
  let next = 1n;

  const info: SecPkgInfo = {
    fCapabilities: SECPKG_FLAG.INTEGRITY | SECPKG_FLAG.PRIVACY | SECPKG_FLAG.CONNECTION | SECPKG_FLAG.MULTI_REQUIRED | SECPKG_FLAG.EXTENDED_ERROR |
      SECPKG_FLAG.IMPERSONATION | SECPKG_FLAG.ACCEPT_WIN32_NAME | SECPKG_FLAG.NEGOTIABLE | SECPKG_FLAG.GSS_COMPATIBLE | SECPKG_FLAG.LOGON |
      SECPKG_FLAG.RESTRICTED_TOKENS,
    wVersion: 1,
    wRPCID: RPC_C_AUTHN.GSS_NEGOTIATE,
    cbMaxToken: NEGOTIATE_MAX_TOKEN,
    Name: NEGOTIATE_PACKAGE_NAME,
    Comment: 'Microsoft Package Negotiator',
  };

  function mechs(): Mech[] {
    const out: Mech[] = [];
    for (const name of cfg.packages) {
      const key = name.toUpperCase();
      if (key === 'NTLM' && !cfg.allowNtlm) continue;
      const oids = MECH_OIDS[key];
      const dispatch = lsa.GetPackageDispatch?.(name);
      if (oids && dispatch) out.push({ name: dispatch.PackageInfo.Name, dispatch, oids });
    }
    return out;
  }

  function mechForOid(cred: Credential, oid: string): SubCredential | undefined {
    return cred.subs.find((s) => s.mech.oids.includes(oid));
  }

  /** One call into the chosen package; the output token comes back as bytes. */
  async function subStep(ctx: Ctx, input: Uint8Array | null, req: number, rep: number, extra: SecBufferDesc | null): Promise<{ r: LsaModeContextResult; token: Uint8Array }> {
    const mech = ctx.mech!;
    const credH = ctx.cred.subs.find((s) => s.mech === mech)!.handle;
    const inBufs: SecBuffer[] = [];
    if (input) inBufs.push(secBuffer(SECBUFFER.TOKEN, input));
    // Channel bindings and other non-token inputs travel to the chosen package untouched.
    for (const b of extra?.pBuffers ?? []) if ((b.BufferType & 0x0fffffff) !== SECBUFFER.TOKEN) inBufs.push({ ...b });
    const inDesc = inBufs.length ? secBufferDesc(...inBufs) : null;
    const out = secBufferDesc({ BufferType: SECBUFFER.TOKEN, cbBuffer: 0, pvBuffer: null });
    const r = ctx.side === 'client'
      ? await mech.dispatch.InitLsaModeContext(credH, ctx.sub, ctx.target, req | ISC_REQ.ALLOCATE_MEMORY, rep, inDesc, out)
      : await mech.dispatch.AcceptLsaModeContext(credH, ctx.sub, inDesc, req | ASC_REQ.ALLOCATE_MEMORY, rep, out);
    if (!isError(r.status) && typeof r.NewContextHandle === 'bigint') ctx.sub = r.NewContextHandle;
    const tok = findBuffer(out, SECBUFFER.TOKEN);
    return { r, token: tok ? bufferBytes(tok) : new Uint8Array(0) };
  }

  /**
   * The chosen package's user-mode half inside the LSA, over a copy of the finished context: it
   * makes and checks the mechListMICs, and at the hand-over exports the state the caller continues.
   */
  async function micContext(ctx: Ctx): Promise<{ um: SECPKG_USER_FUNCTION_TABLE; h: LSA_SEC_HANDLE } | Status> {
    if (ctx.mic) return ctx.mic;
    const data = ctx.result?.ContextData;
    const um = await ctx.mech!.dispatch.UserModeTable();
    if (!um || !(data instanceof Uint8Array)) return SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION;
    const copy = data.slice();
    let st: Status;
    try {
      st = await um.InitUserModeContext(ctx.sub, copy);
    } finally {
      copy.fill(0); // the user-mode half keeps its own copy of the keys
    }
    if (isError(st)) return toSecurityStatus(st);
    ctx.mic = { um, h: ctx.sub };
    return ctx.mic;
  }

  async function makeMic(ctx: Ctx): Promise<Uint8Array | Status> {
    const m = await micContext(ctx);
    if (typeof m === 'number') return m;
    if (!m.um.MakeSignature) return SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION;
    const desc = secBufferDesc(secBuffer(SECBUFFER.DATA, ctx.mechTypesDer.slice()), outputBuffer(SECBUFFER.TOKEN, 1024));
    const st = m.um.MakeSignature(m.h, 0, desc, 0);
    if (isError(st)) return toSecurityStatus(st);
    return bufferBytes(findBuffer(desc, SECBUFFER.TOKEN)!);
  }

  async function checkMic(ctx: Ctx, mic: Uint8Array): Promise<Status> {
    const m = await micContext(ctx);
    if (typeof m === 'number') return m;
    if (!m.um.VerifySignature) return SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION;
    // RFC 4178 5: the mechListMIC is one MIC token. An SSPI signature buffer may be larger than the
    // signature (NTLM reads its first 16 bytes), so bytes past the largest signature the mechanism
    // makes would be carried unchecked: such a mechListMIC does not verify.
    const sizes = await m.um.QueryContextAttributes?.(m.h, SECPKG_ATTR.SIZES);
    const max = (sizes?.Buffer as { cbMaxSignature?: unknown } | undefined)?.cbMaxSignature;
    if (typeof max === 'number' && mic.length > max) return SecurityStatus.SEC_E_MESSAGE_ALTERED;
    const desc = secBufferDesc(secBuffer(SECBUFFER.DATA, ctx.mechTypesDer.slice()), secBuffer(SECBUFFER.TOKEN, mic.slice()));
    return toSecurityStatus(m.um.VerifySignature(m.h, desc, 0).status);
  }

  /** Drop the LSA-side copy; with `handOver`, first export what the caller's context continues from. */
  async function endMicContext(ctx: Ctx, handOver: boolean): Promise<Uint8Array | null | Status> {
    const m = ctx.mic;
    if (!m) return null;
    ctx.mic = null;
    try {
      if (!handOver) return null;
      if (!m.um.ExportContext) return SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION;
      const r = await m.um.ExportContext(m.h, SECPKG_CONTEXT_EXPORT.SPNEGO_MIC_RESET);
      if (isError(r.status) || !(r.PackedContext instanceof Uint8Array)) return isError(r.status) ? toSecurityStatus(r.status) : SecurityStatus.SEC_E_INTERNAL_ERROR;
      return r.PackedContext;
    } finally {
      await m.um.DeleteUserModeContext?.(m.h);
    }
  }

  /** NTLM puts a MIC in AUTHENTICATE, which MS-SPNG 3.1.5.1 answers with a mechListMIC; a non-first mech needs one too. */
  function micRequired(ctx: Ctx): boolean {
    return !ctx.preferred || ctx.mech!.name.toUpperCase() === 'NTLM' || ctx.peerSentMic;
  }

  async function finish(ctx: Ctx): Promise<LsaModeContextResult> {
    const r = ctx.result!;
    // After mechListMICs the caller continues from the LSA-side copy's state (NTLM: RC4 re-keyed).
    const after = await endMicContext(ctx, true);
    if (typeof after === 'number') return fail(after);
    ctx.state = 'done';
    // The caller continues from the MIC copy's state: the sub-package's own data (keys) is spent.
    if (after && r.ContextData instanceof Uint8Array) r.ContextData.fill(0);
    return {
      status: SecurityStatus.SEC_E_OK,
      ContextAttributes: r.ContextAttributes ?? 0,
      ExpirationTime: r.ExpirationTime ?? TIMESTAMP_INFINITE,
      MappedContext: r.MappedContext === true,
      ContextData: after ?? r.ContextData ?? null,
      MappedPackageName: ctx.mech!.name,
      MappedContextHandle: ctx.sub,
    };
  }

  // ---- initiator ----

  async function initFirst(ctxH: LSA_SEC_HANDLE, cred: Credential, target: string | null, req: number, rep: number, input: SecBufferDesc | null, output: SecBufferDesc | null): Promise<LsaModeContextResult> {
    const allocate = hasFlag(req, ISC_REQ.ALLOCATE_MEMORY);
    const skipped = [...cred.skipped];
    const host = targetHost(target);
    let candidates = cred.subs;
    // Kerberos can't name an IP address target: go straight to the next mechanism (as Windows does).
    if (host && isIP(host)) {
      candidates = candidates.filter((s) => {
        const krb = s.mech.name.toUpperCase() === 'KERBEROS';
        if (krb) skipped.push({ Package: s.mech.name, Status: SecurityStatus.SEC_E_TARGET_UNKNOWN });
        return !krb;
      });
    }
    for (let i = 0; i < candidates.length; i++) {
      const sub = candidates[i]!;
      const ctx: Ctx = {
        side: 'client', cred, mech: sub.mech, sub: 0n, mechOid: sub.mech.oids[0]!, mechTypesDer: new Uint8Array(0), preferred: true, raw: false,
        subDone: false, micSent: false, micChecked: false, peerSentMic: false, firstReply: true, result: null, mic: null, target, skipped, state: 'start',
      };
      const { r, token } = await subStep(ctx, null, req, rep, input);
      if (isError(r.status)) {
        if (ctx.sub) await sub.mech.dispatch.DeleteContext(ctx.sub);
        const st = toSecurityStatus(r.status);
        // The last mechanism's failure is the caller's answer; earlier ones fall through.
        if (!FALLBACK.has(st) || i === candidates.length - 1) return fail(st, r);
        skipped.push({ Package: sub.mech.name, Status: st });
        continue;
      }
      const listed = candidates.slice(i).map((s) => s.mech.oids[0]!);
      ctx.mechTypesDer = encodeMechTypeList(listed);
      ctx.result = r;
      ctx.subDone = r.status === SecurityStatus.SEC_E_OK;
      const st = writeOutputToken(output, encodeNegTokenInit({ mechTypes: listed, ...(token.length ? { mechToken: token } : {}) }), allocate);
      if (isError(st)) {
        await sub.mech.dispatch.DeleteContext(ctx.sub);
        return fail(st);
      }
      const h = ctxH || next++;
      ctx.state = 'continue';
      ctxs.set(h, ctx);
      return { status: SecurityStatus.SEC_I_CONTINUE_NEEDED, NewContextHandle: h, ContextAttributes: r.ContextAttributes ?? 0, ExpirationTime: r.ExpirationTime ?? TIMESTAMP_INFINITE };
    }
    // Nothing left to try (e.g. "Kerberos only" and an IP-address target): say why the last one was skipped.
    return fail(skipped.length ? skipped[skipped.length - 1]!.Status : SecurityStatus.SEC_E_NO_CREDENTIALS);
  }

  async function initNext(ctxH: LSA_SEC_HANDLE, ctx: Ctx, req: number, rep: number, input: SecBufferDesc | null, output: SecBufferDesc | null): Promise<LsaModeContextResult> {
    const allocate = hasFlag(req, ISC_REQ.ALLOCATE_MEMORY);
    const token = inputToken(input);
    if (!token) return fail(SecurityStatus.SEC_E_INVALID_TOKEN);
    const resp = parseNegotiationToken(token);
    if (resp.kind !== 'resp') return fail(SecurityStatus.SEC_E_INVALID_TOKEN);
    if (resp.negState === NegState.reject) return fail(SecurityStatus.SEC_E_LOGON_DENIED);
    if (resp.mechListMIC) ctx.peerSentMic = true;
    if (ctx.firstReply) {
      ctx.firstReply = false;
      if (resp.supportedMech !== undefined && !ctx.mech!.oids.includes(resp.supportedMech)) {
        // The acceptor picked another of our mechanisms: drop the optimistic context and start that one.
        const other = mechForOid(ctx.cred, resp.supportedMech);
        if (!other) return fail(SecurityStatus.SEC_E_INVALID_TOKEN);
        await ctx.mech!.dispatch.DeleteContext(ctx.sub);
        ctx.mech = other.mech;
        ctx.mechOid = resp.supportedMech;
        ctx.sub = 0n;
        ctx.preferred = false;
        ctx.subDone = false;
        ctx.result = null;
        if (resp.responseToken) return fail(SecurityStatus.SEC_E_INVALID_TOKEN);
        const { r, token } = await subStep(ctx, null, req, rep, input);
        if (isError(r.status)) return fail(toSecurityStatus(r.status), r);
        ctx.result = r;
        ctx.subDone = r.status === SecurityStatus.SEC_E_OK;
        const st = writeOutputToken(output, encodeNegTokenResp({ responseToken: token }), allocate);
        if (isError(st)) return fail(st);
        return { status: SecurityStatus.SEC_I_CONTINUE_NEEDED, NewContextHandle: ctxH, ContextAttributes: r.ContextAttributes ?? 0 };
      }
    }
    let outToken: Uint8Array | null = null;
    if (resp.responseToken && resp.responseToken.length) {
      if (ctx.subDone) return fail(SecurityStatus.SEC_E_INVALID_TOKEN);
      const { r, token } = await subStep(ctx, resp.responseToken, req, rep, input);
      if (isError(r.status)) return fail(toSecurityStatus(r.status), r);
      ctx.result = r;
      ctx.subDone = r.status === SecurityStatus.SEC_E_OK;
      if (token.length) outToken = token;
    } else if (!ctx.subDone) {
      // The mechanism still needs a token and the acceptor sent none.
      return fail(SecurityStatus.SEC_E_INVALID_TOKEN);
    }
    if (!ctx.subDone) {
      const st = writeOutputToken(output, encodeNegTokenResp({ responseToken: outToken ?? new Uint8Array(0) }), allocate);
      if (isError(st)) return fail(st);
      return { status: SecurityStatus.SEC_I_CONTINUE_NEEDED, NewContextHandle: ctxH, ContextAttributes: ctx.result?.ContextAttributes ?? 0 };
    }
    // The mechanism is done: settle the mechListMIC both ways.
    if (resp.mechListMIC && !ctx.micChecked) {
      const st = await checkMic(ctx, resp.mechListMIC);
      if (isError(st)) return fail(SecurityStatus.SEC_E_MESSAGE_ALTERED);
      ctx.micChecked = true;
    }
    let mic: Uint8Array | undefined;
    if (!ctx.micSent && (micRequired(ctx) || resp.negState === NegState.request_mic)) {
      const m = await makeMic(ctx);
      if (typeof m === 'number') return fail(m);
      mic = m;
      ctx.micSent = true;
    }
    if (outToken || mic) {
      const st = writeOutputToken(output, encodeNegTokenResp({ ...(outToken ? { responseToken: outToken } : {}), ...(mic ? { mechListMIC: mic } : {}) }), allocate);
      if (isError(st)) return fail(st);
    } else {
      writeOutputToken(output, new Uint8Array(0), allocate);
    }
    // Done when the acceptor said so and every MIC that is due has been seen.
    const needPeerMic = micRequired(ctx) && !ctx.micChecked;
    if (resp.negState === NegState.accept_completed && !needPeerMic) return { ...(await finish(ctx)), NewContextHandle: ctxH };
    // RFC 4178 5: an acceptor that sent its MIC with accept-incomplete waits only for ours, and
    // MIT's then completes without a further token: sending our MIC completes this side too.
    if (resp.negState === NegState.accept_incomplete && mic && ctx.micChecked && !outToken) return { ...(await finish(ctx)), NewContextHandle: ctxH };
    if (resp.negState === NegState.accept_completed && needPeerMic) return fail(SecurityStatus.SEC_E_MESSAGE_ALTERED);
    return { status: SecurityStatus.SEC_I_CONTINUE_NEEDED, NewContextHandle: ctxH, ContextAttributes: ctx.result?.ContextAttributes ?? 0 };
  }

  // ---- acceptor ----

  function serverCtx(cred: Credential): Ctx {
    return {
      side: 'server', cred, mech: null, sub: 0n, mechOid: '', mechTypesDer: new Uint8Array(0), preferred: false, raw: false,
      subDone: false, micSent: false, micChecked: false, peerSentMic: false, firstReply: true, result: null, mic: null, target: null, skipped: [], state: 'start',
    };
  }

  async function acceptFirst(ctxH: LSA_SEC_HANDLE, cred: Credential, req: number, rep: number, input: SecBufferDesc | null, output: SecBufferDesc | null): Promise<LsaModeContextResult> {
    const allocate = hasFlag(req, ASC_REQ.ALLOCATE_MEMORY);
    const bytes = inputToken(input) ?? new Uint8Array(0);
    const ctx = serverCtx(cred);
    if (bytes.length === 0) {
      // Server-initiated (MS-SPNG NegTokenInit2): offer our mechanisms and wait for the client.
      const st = writeOutputToken(output, encodeNegTokenInit({ mechTypes: cred.subs.map((s) => s.mech.oids[0]!), negHints: { hintName: cfg.hintName ?? 'not_defined_in_RFC4178@please_ignore' } }), allocate);
      if (isError(st)) return fail(st);
      const h = ctxH || next++;
      ctx.state = 'continue';
      ctxs.set(h, ctx);
      return { status: SecurityStatus.SEC_I_CONTINUE_NEEDED, NewContextHandle: h };
    }
    // Bare NTLMSSP or Kerberos under "Negotiate" (older HTTP clients): serve it without SPNEGO.
    const rawMech = rawMechanism(bytes);
    if (rawMech) {
      const sub = mechForOid(cred, rawMech);
      if (!sub) return fail(SecurityStatus.SEC_E_INVALID_TOKEN);
      ctx.mech = sub.mech;
      ctx.mechOid = rawMech;
      ctx.raw = true;
      return acceptRaw(ctxH, ctx, bytes, req, rep, input, output);
    }
    const init = parseNegotiationToken(bytes);
    if (init.kind !== 'init') return fail(SecurityStatus.SEC_E_INVALID_TOKEN);
    return acceptInit(ctxH, ctx, init, req, rep, input, output);
  }

  function rawMechanism(b: Uint8Array): string | null {
    if (b.length >= 8 && String.fromCharCode(...b.subarray(0, 7)) === 'NTLMSSP' && b[7] === 0) return NTLMSSP_MECH_OID;
    if (b[0] === 0x60) {
      try {
        const t = parseInitialContextToken(b);
        if (t.mechOid === KRB5_MECH_OID || t.mechOid === MS_KRB5_MECH_OID) return t.mechOid;
      } catch {
        return null;
      }
    }
    return null;
  }

  async function acceptRaw(ctxH: LSA_SEC_HANDLE, ctx: Ctx, bytes: Uint8Array, req: number, rep: number, input: SecBufferDesc | null, output: SecBufferDesc | null): Promise<LsaModeContextResult> {
    const allocate = hasFlag(req, ASC_REQ.ALLOCATE_MEMORY);
    const { r, token } = await subStep(ctx, bytes, req, rep, input);
    const h = ctxH || next++;
    ctxs.set(h, ctx);
    if (isError(r.status)) return fail(toSecurityStatus(r.status), r);
    ctx.result = r;
    const st = writeOutputToken(output, token, allocate);
    if (isError(st)) return fail(st);
    if (r.status === SecurityStatus.SEC_E_OK) return { ...(await finish(ctx)), NewContextHandle: h };
    ctx.state = 'continue';
    return { status: r.status, NewContextHandle: h, ContextAttributes: r.ContextAttributes ?? 0 };
  }

  async function acceptInit(ctxH: LSA_SEC_HANDLE, ctx: Ctx, init: NegTokenInit, req: number, rep: number, input: SecBufferDesc | null, output: SecBufferDesc | null): Promise<LsaModeContextResult> {
    const allocate = hasFlag(req, ASC_REQ.ALLOCATE_MEMORY);
    // The first of the initiator's mechanisms that we serve (RFC 4178 3.2 b).
    let chosen: SubCredential | undefined;
    let chosenOid = '';
    for (const oid of init.mechTypes) {
      chosen = mechForOid(ctx.cred, oid);
      if (chosen) {
        chosenOid = oid;
        break;
      }
    }
    const h = ctxH || next++;
    if (!chosen) {
      writeOutputToken(output, encodeNegTokenResp({ negState: NegState.reject }), allocate);
      return fail(SecurityStatus.SEC_E_LOGON_DENIED);
    }
    ctx.mech = chosen.mech;
    ctx.mechOid = chosenOid;
    ctx.mechTypesDer = init.mechTypesDer;
    ctx.preferred = chosenOid === init.mechTypes[0];
    ctx.peerSentMic = init.mechListMIC !== undefined;
    ctxs.set(h, ctx);
    ctx.state = 'continue';
    if (!ctx.preferred || !init.mechToken) {
      // The optimistic token (if any) is for another mechanism: ask for ours.
      const st = writeOutputToken(output, encodeNegTokenResp({ negState: NegState.accept_incomplete, supportedMech: chosenOid }), allocate);
      if (isError(st)) return fail(st);
      ctx.firstReply = false;
      return { status: SecurityStatus.SEC_I_CONTINUE_NEEDED, NewContextHandle: h };
    }
    return acceptStep(h, ctx, init.mechToken, init.mechListMIC, req, rep, input, output);
  }

  async function acceptStep(h: LSA_SEC_HANDLE, ctx: Ctx, token: Uint8Array, peerMic: Uint8Array | undefined, req: number, rep: number, input: SecBufferDesc | null, output: SecBufferDesc | null): Promise<LsaModeContextResult> {
    const allocate = hasFlag(req, ASC_REQ.ALLOCATE_MEMORY);
    const supportedMech = ctx.firstReply ? ctx.mechOid : undefined;
    ctx.firstReply = false;
    let outToken: Uint8Array | undefined;
    if (!ctx.subDone) {
      if (!token.length) return fail(SecurityStatus.SEC_E_INVALID_TOKEN);
      const { r, token: t } = await subStep(ctx, token, req, rep, input);
      if (isError(r.status)) {
        writeOutputToken(output, encodeNegTokenResp({ negState: NegState.reject, ...(t.length ? { responseToken: t } : {}) }), allocate);
        return fail(toSecurityStatus(r.status), r);
      }
      ctx.result = r;
      ctx.subDone = r.status === SecurityStatus.SEC_E_OK;
      if (t.length) outToken = t;
    } else if (token.length) {
      return fail(SecurityStatus.SEC_E_INVALID_TOKEN);
    }
    if (!ctx.subDone) {
      const st = writeOutputToken(output, encodeNegTokenResp({ negState: NegState.accept_incomplete, ...(supportedMech ? { supportedMech } : {}), ...(outToken ? { responseToken: outToken } : {}) }), allocate);
      if (isError(st)) return fail(st);
      return { status: SecurityStatus.SEC_I_CONTINUE_NEEDED, NewContextHandle: h, ContextAttributes: ctx.result?.ContextAttributes ?? 0 };
    }
    if (peerMic) {
      ctx.peerSentMic = true;
      const st = await checkMic(ctx, peerMic);
      if (isError(st)) {
        writeOutputToken(output, encodeNegTokenResp({ negState: NegState.reject }), allocate);
        return fail(SecurityStatus.SEC_E_MESSAGE_ALTERED);
      }
      ctx.micChecked = true;
    }
    if (micRequired(ctx) && !ctx.micChecked) {
      // The mechanism finished but the initiator owes us its MIC (RFC 4178 5 (d)): ask for it.
      const st = writeOutputToken(output, encodeNegTokenResp({ negState: NegState.request_mic, ...(supportedMech ? { supportedMech } : {}), ...(outToken ? { responseToken: outToken } : {}) }), allocate);
      if (isError(st)) return fail(st);
      return { status: SecurityStatus.SEC_I_CONTINUE_NEEDED, NewContextHandle: h, ContextAttributes: ctx.result?.ContextAttributes ?? 0 };
    }
    let mic: Uint8Array | undefined;
    if (micRequired(ctx)) {
      const m = await makeMic(ctx);
      if (typeof m === 'number') return fail(m);
      mic = m;
      ctx.micSent = true;
    }
    const st = writeOutputToken(output, encodeNegTokenResp({ negState: NegState.accept_completed, ...(supportedMech ? { supportedMech } : {}), ...(outToken ? { responseToken: outToken } : {}), ...(mic ? { mechListMIC: mic } : {}) }), allocate);
    if (isError(st)) return fail(st);
    return { ...(await finish(ctx)), NewContextHandle: h };
  }

  async function acceptNext(ctxH: LSA_SEC_HANDLE, ctx: Ctx, req: number, rep: number, input: SecBufferDesc | null, output: SecBufferDesc | null): Promise<LsaModeContextResult> {
    const bytes = inputToken(input);
    if (!bytes) return fail(SecurityStatus.SEC_E_INVALID_TOKEN);
    if (ctx.raw) return acceptRaw(ctxH, ctx, bytes, req, rep, input, output);
    const t = parseNegotiationToken(bytes);
    if (!ctx.mech) {
      // After our NegTokenInit2 the client sends its NegTokenInit.
      if (t.kind !== 'init') return fail(SecurityStatus.SEC_E_INVALID_TOKEN);
      return acceptInit(ctxH, ctx, t, req, rep, input, output);
    }
    if (t.kind !== 'resp') return fail(SecurityStatus.SEC_E_INVALID_TOKEN);
    return acceptStep(ctxH, ctx, t.responseToken ?? new Uint8Array(0), t.mechListMIC, req, rep, input, output);
  }

  async function guard(fn: () => Promise<LsaModeContextResult>): Promise<LsaModeContextResult> {
    try {
      return await fn();
    } catch (e) {
      // Anything but an SspiError is a fault of ours: the LSA reports it (onPackageFault) and
      // answers SEC_E_INTERNAL_ERROR, rather than it passing here as a plain failure.
      if (!(e instanceof SspiError)) throw e;
      return fail(statusOf(e));
    }
  }

  async function dropContext(h: LSA_SEC_HANDLE): Promise<void> {
    const c = ctxs.get(h);
    if (!c) return;
    ctxs.delete(h);
    await endMicContext(c, false);
    if (c.mech && c.sub) await c.mech.dispatch.DeleteContext(c.sub);
    // The sub-package's packed keys, kept for the mechListMIC copies (finished or not).
    if (c.result?.ContextData instanceof Uint8Array) c.result.ContextData.fill(0);
  }

  const table: SECPKG_FUNCTION_TABLE = {
    async Initialize(_id: number, params: SECPKG_PARAMETERS, functions: LSA_SECPKG_FUNCTION_TABLE): Promise<Status> {
      lsa = functions;
      const pc = { ...((params.PackageConfig ?? {}) as NegotiateConfig), ...config };
      const packages = pc.packages ?? ['Kerberos', 'NTLM'];
      if (!Array.isArray(packages) || !packages.every((p) => typeof p === 'string')) throw new SspiError(NtStatus.STATUS_INVALID_PARAMETER, 'Negotiate packages must be package names');
      const wait = pc.fallbackAfterMs ?? DEFAULT_FALLBACK_AFTER_MS;
      if (typeof wait !== 'number' || !(wait >= 0)) throw new SspiError(NtStatus.STATUS_INVALID_PARAMETER, 'Negotiate fallbackAfterMs must be >= 0');
      cfg = { packages: [...packages], allowNtlm: pc.allowNtlm !== false, fallbackAfterMs: wait, ...(typeof pc.hintName === 'string' ? { hintName: pc.hintName } : {}) };
      return NtStatus.STATUS_SUCCESS;
    },
    async GetInfo() {
      return { status: SecurityStatus.SEC_E_OK, PackageInfo: { ...info } };
    },
    async AcquireCredentialsHandle(principal, use, logonId, authData: Plain) {
      const list = packageList(authData);
      if (list === undefined) return { status: SecurityStatus.SEC_E_INVALID_PARAMETER };
      const all = list ? mechs().filter((m) => list.allows(m.name)) : mechs();
      if (!all.length) return { status: SecurityStatus.SEC_E_SECPKG_NOT_FOUND };
      // The sub-packages get the identity without the list (an identity of its own, or none).
      if (list) authData = list.rest;
      // Every mechanism at once: an unreachable KDC costs its timeout once, not on top of NTLM.
      type Acquired = { status: Status; handle?: LSA_SEC_HANDLE };
      const settled: (Acquired | undefined)[] = all.map(() => undefined);
      let anyOk!: () => void;
      const someOk = new Promise<void>((r) => (anyOk = r));
      const calls = all.map((m, i) =>
        Promise.resolve()
          .then(() => m.dispatch.AcquireCredentialsHandle(principal, use, logonId, authData))
          .then(
            (r): Acquired => ({ status: toSecurityStatus(r.status), ...(typeof r.CredentialHandle === 'bigint' ? { handle: r.CredentialHandle } : {}) }),
            (e: unknown): Acquired => ({ status: statusOf(e) }),
          )
          .then((d) => {
            settled[i] = d;
            if (!isError(d.status) && d.handle !== undefined) anyOk();
            return d;
          }),
      );
      let timer: NodeJS.Timeout | undefined;
      const grace = someOk.then(() => new Promise<void>((r) => (timer = setTimeout(r, cfg.fallbackAfterMs))));
      await Promise.race([Promise.all(calls), grace]);
      clearTimeout(timer);
      const cred: Credential = { use, subs: [], skipped: [], freed: false };
      let firstError: Status = SecurityStatus.SEC_E_NO_CREDENTIALS;
      const adopt = (i: number, d: Acquired): void => {
        const m = all[i]!;
        cred.skipped = cred.skipped.filter((k) => k.Package !== m.name);
        if (!isError(d.status) && d.handle !== undefined) {
          cred.subs.push({ mech: m, handle: d.handle, rank: i });
          cred.subs.sort((a, b) => a.rank - b.rank);
        } else {
          if (firstError === SecurityStatus.SEC_E_NO_CREDENTIALS) firstError = d.status;
          cred.skipped.push({ Package: m.name, Status: d.status });
        }
      };
      settled.forEach((d, i) => {
        if (d) {
          adopt(i, d);
          return;
        }
        // Still waiting (a silent KDC): skipped for now, used by later contexts once it arrives.
        cred.skipped.push({ Package: all[i]!.name, Status: SecurityStatus.SEC_E_NO_AUTHENTICATING_AUTHORITY });
        void calls[i]!.then(async (late) => {
          if (!cred.freed) adopt(i, late);
          else if (late.handle !== undefined && !isError(late.status)) await all[i]!.dispatch.FreeCredentialsHandle(late.handle);
        });
      });
      if (!cred.subs.length) return { status: firstError };
      const h = next++;
      creds.set(h, cred);
      return { status: SecurityStatus.SEC_E_OK, CredentialHandle: h, ExpirationTime: TIMESTAMP_INFINITE };
    },
    async QueryCredentialsAttributes(h, attr) {
      const c = creds.get(h);
      if (!c) return { status: SecurityStatus.SEC_E_INVALID_HANDLE };
      // The preferred package that holds a credential answers (its NAMES are the caller's).
      const first = c.subs[0];
      return first ? first.mech.dispatch.QueryCredentialsAttributes(first.handle, attr) : { status: SecurityStatus.SEC_E_NO_CREDENTIALS };
    },
    async FreeCredentialsHandle(h) {
      const c = creds.get(h);
      if (!c) return SecurityStatus.SEC_E_INVALID_HANDLE;
      creds.delete(h);
      c.freed = true;
      for (const s of c.subs) await s.mech.dispatch.FreeCredentialsHandle(s.handle);
      return SecurityStatus.SEC_E_OK;
    },
    async InitLsaModeContext(credH, ctxH, target, req, rep, input, output) {
      const r = await guard(async () => {
        const ctx = ctxs.get(ctxH);
        if (ctx) {
          if (ctx.side !== 'client' || ctx.state !== 'continue') return fail(SecurityStatus.SEC_E_INVALID_HANDLE);
          return initNext(ctxH, ctx, req, rep, input, output);
        }
        if (ctxH) return fail(SecurityStatus.SEC_E_INVALID_HANDLE);
        const cred = creds.get(credH);
        if (!cred) return fail(SecurityStatus.SEC_E_INVALID_HANDLE);
        if (!(cred.use & SECPKG_CRED.OUTBOUND)) return fail(SecurityStatus.SEC_E_NO_CREDENTIALS);
        return initFirst(ctxH, cred, target, req, rep, input, output);
      });
      // A failed later leg leaves the context for the caller's DeleteSecurityContext, as Windows does.
      return r;
    },
    async AcceptLsaModeContext(credH, ctxH, input, req, rep, output) {
      // The handle a first leg will use, so that a failed first leg can be cleaned up.
      const fresh = ctxH || next++;
      const r = await guard(async () => {
        const ctx = ctxs.get(ctxH);
        if (ctx) {
          if (ctx.side !== 'server' || ctx.state !== 'continue') return fail(SecurityStatus.SEC_E_INVALID_HANDLE);
          return acceptNext(ctxH, ctx, req, rep, input, output);
        }
        if (ctxH) return fail(SecurityStatus.SEC_E_INVALID_HANDLE);
        const cred = creds.get(credH);
        if (!cred) return fail(SecurityStatus.SEC_E_INVALID_HANDLE);
        if (!(cred.use & SECPKG_CRED.INBOUND)) return fail(SecurityStatus.SEC_E_NO_CREDENTIALS);
        return acceptFirst(fresh, cred, req, rep, input, output);
      });
      // A failed first leg returns no handle, so nothing the caller could delete may stay behind.
      if (isError(r.status) && !ctxH) await dropContext(fresh);
      return r;
    },
    // An acceptor parked between legs in a store shared by several nodes. Only states whose
    // mechanism is still talking can leave: once it has finished, the mechListMIC state holds keys.
    async ExportLsaModeContext(h) {
      const c = ctxs.get(h);
      if (!c) return { status: SecurityStatus.SEC_E_INVALID_HANDLE };
      if (c.side !== 'server' || c.state !== 'continue' || c.subDone || c.mic) return { status: SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION };
      let inner: Uint8Array = new Uint8Array(0);
      if (c.mech && c.sub) {
        const r = await c.mech.dispatch.ExportLsaModeContext(c.sub);
        if (isError(r.status) || !(r.PackedContext instanceof Uint8Array)) return { status: isError(r.status) ? toSecurityStatus(r.status) : SecurityStatus.SEC_E_INTERNAL_ERROR };
        inner = r.PackedContext;
      }
      const bits = (c.raw ? PARTIAL_RAW : 0) | (c.preferred ? PARTIAL_PREFERRED : 0) | (c.peerSentMic ? PARTIAL_PEER_MIC : 0) | (c.firstReply ? PARTIAL_FIRST_REPLY : 0);
      const w = new PackedWriter().u8(PARTIAL_VERSION).u8(bits).text(c.mech?.name ?? '').text(c.mechOid).bytes(c.mechTypesDer).bytes(inner);
      return { status: SecurityStatus.SEC_E_OK, PackedContext: w.finish() };
    },
    async ImportLsaModeContext(credH, packed) {
      const cred = creds.get(credH);
      if (!cred) return fail(SecurityStatus.SEC_E_INVALID_HANDLE);
      if (!(cred.use & SECPKG_CRED.INBOUND)) return fail(SecurityStatus.SEC_E_WRONG_CREDENTIAL_HANDLE);
      const rd = new PackedReader(packed, 'Negotiate handshake state');
      if (rd.u8() !== PARTIAL_VERSION) return fail(SecurityStatus.SEC_E_INVALID_TOKEN);
      const bits = rd.u8();
      const mechName = rd.text(256);
      const mechOid = rd.text(256);
      const mechTypesDer = rd.bytes(NEGOTIATE_MAX_TOKEN);
      const inner = rd.bytes();
      rd.end();
      const ctx = serverCtx(cred);
      ctx.state = 'continue';
      ctx.raw = (bits & PARTIAL_RAW) !== 0;
      ctx.preferred = (bits & PARTIAL_PREFERRED) !== 0;
      ctx.peerSentMic = (bits & PARTIAL_PEER_MIC) !== 0;
      ctx.firstReply = (bits & PARTIAL_FIRST_REPLY) !== 0;
      ctx.mechOid = mechOid;
      ctx.mechTypesDer = mechTypesDer;
      let result: LsaModeContextResult = { status: SecurityStatus.SEC_E_OK };
      if (mechName) {
        // The mechanism must be one this credential serves, under the OID the peer named it by.
        const sub = cred.subs.find((x) => x.mech.name.toUpperCase() === mechName.toUpperCase());
        if (!sub || !sub.mech.oids.includes(mechOid)) return fail(SecurityStatus.SEC_E_WRONG_CREDENTIAL_HANDLE);
        ctx.mech = sub.mech;
        if (inner.length) {
          result = await sub.mech.dispatch.ImportLsaModeContext(sub.handle, inner);
          if (isError(result.status) || typeof result.NewContextHandle !== 'bigint') return fail(isError(result.status) ? toSecurityStatus(result.status) : SecurityStatus.SEC_E_INTERNAL_ERROR);
          ctx.sub = result.NewContextHandle;
        }
      } else if (inner.length || mechOid || ctx.raw) {
        // A state with no mechanism chosen yet has no mechanism token to continue (a bare one is RAW).
        return fail(SecurityStatus.SEC_E_INVALID_TOKEN);
      }
      const h = next++;
      ctxs.set(h, ctx);
      return { status: SecurityStatus.SEC_E_OK, NewContextHandle: h, ContextAttributes: result.ContextAttributes ?? 0, ExpirationTime: result.ExpirationTime ?? TIMESTAMP_INFINITE };
    },
    async DeleteContext(h) {
      if (!ctxs.has(h)) return SecurityStatus.SEC_E_INVALID_HANDLE;
      await dropContext(h);
      return SecurityStatus.SEC_E_OK;
    },
    async QueryContextAttributes(h, attr) {
      const c = ctxs.get(h);
      if (!c) return { status: SecurityStatus.SEC_E_INVALID_HANDLE };
      const chosen = c.mech?.dispatch.PackageInfo;
      switch (attr) {
        case SECPKG_ATTR.NEGOTIATION_INFO:
          return {
            status: SecurityStatus.SEC_E_OK,
            Buffer: {
              PackageInfo: chosen ? { ...chosen } : { ...info },
              NegotiationState: c.state === 'done' ? SECPKG_NEGOTIATION.COMPLETE : c.mech && c.preferred && c.side === 'client' ? SECPKG_NEGOTIATION.OPTIMISTIC : SECPKG_NEGOTIATION.IN_PROGRESS,
              // tslsa extension: the preferred packages that could not serve, and why.
              Skipped: [...c.skipped, ...c.cred.skipped.filter((s) => !c.skipped.some((k) => k.Package === s.Package))],
            },
          };
        case SECPKG_ATTR.PACKAGE_INFO:
          return { status: SecurityStatus.SEC_E_OK, Buffer: { PackageInfo: chosen ? { ...chosen } : { ...info } } };
        default:
          if (!c.mech || !c.sub) return { status: SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION };
          return c.mech.dispatch.QueryContextAttributes(c.sub, attr);
      }
    },
  };

  // Its nested AcquireCredentialsHandle calls must carry the caller (NTLM's default credentials).
  return declareFrameUse(
    {
      async SpLsaModeInitialize() {
        return { status: NtStatus.STATUS_SUCCESS, PackageVersion: SECPKG_INTERFACE_VERSION_2, ppTables: [table] };
      },
    },
    ['AcquireCredentialsHandle'],
  );
}
