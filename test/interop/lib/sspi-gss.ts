// Our SSPI contexts (any package: Kerberos, Negotiate) driven through MIT's gss-sample protocol:
// our initiator against gss-server, our acceptor against gss-client. Shared by the kerberos-* and
// negotiate-* interop tests, which differ only in the package and the peer's options.
import assert from 'node:assert/strict';
import type { SecurityContext } from '../../../src/context.js';
import type { Realm } from './realm.js';
import {
  GssSampleClient, GssSampleServerSide, type GssSampleConnection, endServerSession, type GssClientOptions, type GssServerHandle, type GssServerSession, runGssClient,
  TOKEN_CONTEXT, TOKEN_CONTEXT_NEXT, TOKEN_DATA, TOKEN_ENCRYPTED, TOKEN_MIC, TOKEN_NOOP, TOKEN_SEND_MIC, TOKEN_WRAPPED,
} from './gss-sample.js';
import { describeFailure, type RunResult } from './proc.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

export interface ClientSessionOptions {
  message?: string;
  /** Sealed Wrap (default) or sign-only. */
  encrypt?: boolean;
}

/**
 * One gss-server session with our initiator `ctx`: the context legs, one Wrap of `message`, the
 * server's MIC over it verified, the closing NOOP. Asserts gss-server logged a clean session.
 */
export async function runClientSession(server: GssServerHandle, ctx: SecurityContext, opts: ClientSessionOptions = {}): Promise<GssServerSession> {
  const c = await GssSampleClient.connect(server.port);
  try {
    c.sendToken(TOKEN_NOOP | TOKEN_CONTEXT_NEXT);
    let out = await ctx.step();
    while (out) {
      c.sendToken(TOKEN_CONTEXT, out);
      if (ctx.complete) break;
      const rep = await c.readToken();
      assert.equal(rep.flags, TOKEN_CONTEXT);
      out = await ctx.step(rep.token);
    }
    assert.ok(ctx.complete, 'our initiator finished the handshake');
    const msg = opts.message ?? 'hello from tslsa';
    const encrypt = opts.encrypt ?? true;
    c.sendToken(TOKEN_DATA | TOKEN_WRAPPED | (encrypt ? TOKEN_ENCRYPTED : 0) | TOKEN_SEND_MIC, ctx.wrap(enc.encode(msg), { encrypt }));
    const mic = await c.readToken();
    assert.equal(mic.flags, TOKEN_MIC);
    ctx.verify(enc.encode(msg), mic.token);
    return await endServerSession(c, server, msg);
  } finally {
    c.close();
  }
}

export interface ServerSessionResult {
  /** The first context token gss-client sent (AP-REQ or NegTokenInit). */
  firstToken: Uint8Array;
  /** The message gss-client wrapped, as we unwrapped it. */
  message: string;
  result: RunResult;
  /** A failure on our side (the session was cut there); undefined when all went through. */
  error?: unknown;
}

/**
 * MIT gss-client (with `client` options) against our acceptor: `makeCtx` builds the server
 * context once gss-client has connected; we unwrap its message and answer with our MIC. With
 * `tamper`, a byte of the Wrap token is flipped before we unwrap it.
 */
export async function runServerSession(
  realm: Realm,
  client: Omit<GssClientOptions, 'port'>,
  makeCtx: () => Promise<SecurityContext>,
  opts: { tamper?: boolean } = {},
): Promise<ServerSessionResult> {
  const side = await GssSampleServerSide.listen();
  let conn: GssSampleConnection | undefined;
  try {
    const run = runGssClient(realm, { ...client, port: side.port });
    conn = await side.accept();
    const first = await conn.readToken();
    assert.equal(first.flags, TOKEN_NOOP | TOKEN_CONTEXT_NEXT);
    const ctx = await makeCtx();
    let firstToken: Uint8Array | undefined;
    let message = '';
    try {
      while (!ctx.complete) {
        const t = await conn.readToken();
        assert.equal(t.flags, TOKEN_CONTEXT);
        firstToken ??= t.token.slice();
        const out = await ctx.step(t.token);
        if (out) conn.sendToken(TOKEN_CONTEXT, out);
      }
      const data = await conn.readToken();
      assert.equal(data.flags & TOKEN_WRAPPED, TOKEN_WRAPPED, `expected a Wrap token, got flags 0x${data.flags.toString(16)}`);
      const token = data.token.slice();
      if (opts.tamper) token[token.length - 3]! ^= 0x10;
      const u = ctx.unwrap(token);
      message = dec.decode(u.message);
      conn.sendToken(TOKEN_MIC, ctx.sign(u.message));
      const noop = await conn.readToken();
      assert.equal(noop.flags, TOKEN_NOOP);
    } catch (error) {
      conn.close();
      return { firstToken: firstToken ?? new Uint8Array(0), message, result: await run, error };
    }
    const result = await run;
    assert.equal(result.code, 0, describeFailure(result));
    assert.match(result.stdout, /Signature verified/);
    return { firstToken: firstToken!, message, result };
  } finally {
    conn?.close();
    await side.close();
  }
}

/** Runs our own initiator against our own acceptor until neither has a token to send (at most `maxLegs` round trips). */
export async function establishLocal(client: SecurityContext, server: SecurityContext, maxLegs = 5): Promise<void> {
  let t = await client.step();
  for (let i = 0; i < maxLegs && t; i++) {
    const back = await server.step(t);
    t = back ? await client.step(back) : null;
  }
}
