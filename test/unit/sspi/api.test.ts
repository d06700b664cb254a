import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLsa, type LsaHost } from '../../../src/lsa/host.js';
import type { SecHandle } from '../../../src/lsa/protocol.js';
import type { SecurityFunctionTable } from '../../../src/sspi/api.js';
import { type SecBufferDesc, bufferBytes, buildChannelBindings, outputBuffer, secBuffer, secBufferDesc } from '../../../src/sspi/buffers.js';
import { ASC_REQ, ISC_REQ, ISC_RET, SECBUFFER, SECPKG_ATTR, SECPKG_CRED, SECPKG_CRED_ATTR, SECQOP_WRAP_NO_ENCRYPT, SECURITY_NATIVE_DREP } from '../../../src/sspi/flags.js';
import { SecurityStatus as S } from '../../../src/sspi/status.js';
import { TIMESTAMP_INFINITE, unixMsFromTimeStamp } from '../../../src/sspi/timestamp.js';
import { TOY_NAME, type ToyOptions, toyPackage } from '../lsa/fixtures/toy.js';

const auth = (Password = 'secret') => ({ User: 'alice', Domain: 'EXAMPLE', Password });

async function setup(opts: ToyOptions = {}) {
  const host = await createLsa({ packages: [toyPackage(opts)] });
  const client = host.sspi();
  const server = host.sspi();
  const cc = await client.AcquireCredentialsHandle(null, TOY_NAME, SECPKG_CRED.OUTBOUND, null, auth());
  const sc = await server.AcquireCredentialsHandle(null, TOY_NAME, SECPKG_CRED.INBOUND, null, auth());
  assert.equal(cc.status, S.SEC_E_OK);
  assert.equal(sc.status, S.SEC_E_OK);
  return { host, client, server, cc: cc.phCredential!, sc: sc.phCredential! };
}

/** Run the ISC/ASC loop with caller-supplied 256-byte output buffers. */
async function handshake(client: SecurityFunctionTable, server: SecurityFunctionTable, cc: SecHandle, sc: SecHandle, opts: { clientBindings?: Uint8Array; serverBindings?: Uint8Array } = {}) {
  let cctx: SecHandle | null = null;
  let sctx: SecHandle | null = null;
  let token: Uint8Array | null = null;
  const statuses: number[] = [];
  for (let leg = 0; leg < 6; leg++) {
    const cin: SecBufferDesc | null = token || opts.clientBindings ? secBufferDesc(...[...(token ? [secBuffer(SECBUFFER.TOKEN, token)] : []), ...(opts.clientBindings ? [secBuffer(SECBUFFER.CHANNEL_BINDINGS, opts.clientBindings)] : [])]) : null;
    const cout = secBufferDesc(outputBuffer(SECBUFFER.TOKEN, 256));
    const ci = await client.InitializeSecurityContext(cc, cctx, 'HTTP/host', ISC_REQ.MUTUAL_AUTH | ISC_REQ.CONFIDENTIALITY | ISC_REQ.INTEGRITY | ISC_REQ.SEQUENCE_DETECT, 0, SECURITY_NATIVE_DREP, cin, 0, null, cout);
    statuses.push(ci.status);
    if ((ci.status | 0) < 0) return { statuses, cctx: cctx!, sctx: sctx!, failed: ci.status };
    cctx = ci.phNewContext;
    token = bufferBytes(cout.pBuffers[0]!).slice();
    if (token.length === 0) break;
    const sin = secBufferDesc(secBuffer(SECBUFFER.TOKEN, token), ...(opts.serverBindings ? [secBuffer(SECBUFFER.CHANNEL_BINDINGS, opts.serverBindings)] : []));
    const sout = secBufferDesc(outputBuffer(SECBUFFER.TOKEN, 256));
    const ai = await server.AcceptSecurityContext(sc, sctx, sin, ASC_REQ.CONFIDENTIALITY | ASC_REQ.INTEGRITY, SECURITY_NATIVE_DREP, null, sout);
    statuses.push(ai.status);
    if ((ai.status | 0) < 0) return { statuses, cctx: cctx!, sctx: sctx!, failed: ai.status };
    sctx = ai.phNewContext;
    token = bufferBytes(sout.pBuffers[0]!).slice();
    if (ai.status === S.SEC_E_OK || ai.status === S.SEC_I_COMPLETE_NEEDED) {
      if (ai.status === S.SEC_I_COMPLETE_NEEDED) statuses.push(await server.CompleteAuthToken(sctx!, sout));
      break;
    }
  }
  return { statuses, cctx: cctx!, sctx: sctx!, failed: 0 };
}

describe('SSPI faithful layer', () => {
  it('lists and describes packages; unknown names give SEC_E_SECPKG_NOT_FOUND', async () => {
    const { client, host } = await setup();
    const e = await client.EnumerateSecurityPackages();
    assert.equal(e.status, S.SEC_E_OK);
    assert.equal(e.pcPackages, 1);
    assert.equal(e.ppPackageInfo[0]!.Name, TOY_NAME);
    assert.equal((await client.QuerySecurityPackageInfo('toy')).ppPackageInfo!.Name, TOY_NAME);
    assert.equal((await client.QuerySecurityPackageInfo('Nope')).status, S.SEC_E_SECPKG_NOT_FOUND);
    assert.equal((await client.AcquireCredentialsHandle(null, 'Nope', SECPKG_CRED.OUTBOUND, null, null)).status, S.SEC_E_SECPKG_NOT_FOUND);
    assert.equal((await client.AcquireCredentialsHandle(null, TOY_NAME, 0, null, null)).status, S.SEC_E_INVALID_PARAMETER);
    assert.equal((await client.AcquireCredentialsHandle(null, TOY_NAME, SECPKG_CRED.OUTBOUND, null, null)).status, S.SEC_E_NO_CREDENTIALS);
    await host.shutdown();
  });

  it('runs the SEC_I_CONTINUE_NEEDED loop to SEC_E_OK and maps the context to user mode', async () => {
    const { client, server, cc, sc, host } = await setup();
    const h = await handshake(client, server, cc, sc);
    assert.deepEqual(h.statuses, [S.SEC_I_CONTINUE_NEEDED, S.SEC_I_CONTINUE_NEEDED, S.SEC_E_OK, S.SEC_E_OK]);
    const flags = await client.QueryContextAttributes(h.cctx, SECPKG_ATTR.FLAGS);
    assert.equal(flags.status, S.SEC_E_OK);
    assert.equal((flags.pBuffer as { Flags: number }).Flags & ISC_RET.MUTUAL_AUTH, ISC_RET.MUTUAL_AUTH);
    // NAMES is answered by the LSA-mode half, SIZES and SESSION_KEY by the user-mode half.
    assert.deepEqual((await server.QueryContextAttributes(h.sctx, SECPKG_ATTR.NAMES)).pBuffer, { sUserName: 'alice' });
    assert.equal(((await server.QueryContextAttributes(h.sctx, SECPKG_ATTR.SIZES)).pBuffer as { cbSecurityTrailer: number }).cbSecurityTrailer, 21);
    const ck = (await client.QueryContextAttributes(h.cctx, SECPKG_ATTR.SESSION_KEY)).pBuffer as { SessionKey: Uint8Array };
    const sk = (await server.QueryContextAttributes(h.sctx, SECPKG_ATTR.SESSION_KEY)).pBuffer as { SessionKey: Uint8Array };
    assert.deepEqual(ck.SessionKey, sk.SessionKey);
    assert.equal((await client.QueryContextAttributes(h.cctx, 9999)).status, S.SEC_E_UNSUPPORTED_FUNCTION);
    // Levels the LSA answers for any package: PACKAGE_INFO, NEGOTIATION_INFO, LIFESPAN.
    assert.equal(((await client.QueryContextAttributes(h.cctx, SECPKG_ATTR.PACKAGE_INFO)).pBuffer as { PackageInfo: { Name: string } }).PackageInfo.Name, TOY_NAME);
    const ni = (await server.QueryContextAttributes(h.sctx, SECPKG_ATTR.NEGOTIATION_INFO)).pBuffer as { NegotiationState: number; PackageInfo: { Name: string } };
    assert.deepEqual([ni.NegotiationState, ni.PackageInfo.Name], [0, TOY_NAME]);
    const life = (await client.QueryContextAttributes(h.cctx, SECPKG_ATTR.LIFESPAN)).pBuffer as { tsStart: bigint; tsExpiry: bigint };
    assert.ok(life.tsStart > 0n && life.tsExpiry === TIMESTAMP_INFINITE);
    assert.deepEqual((await client.QueryCredentialsAttributes(cc, SECPKG_CRED_ATTR.NAMES)).pBuffer, { sUserName: 'alice' });
    await host.shutdown();
  });

  it('handles SEC_I_COMPLETE_NEEDED through CompleteAuthToken', async () => {
    const { client, server, cc, sc, host } = await setup({ completeNeeded: true });
    const h = await handshake(client, server, cc, sc);
    assert.deepEqual(h.statuses, [S.SEC_I_CONTINUE_NEEDED, S.SEC_I_CONTINUE_NEEDED, S.SEC_E_OK, S.SEC_I_COMPLETE_NEEDED, S.SEC_E_OK]);
    await host.shutdown();
  });

  it('refuses a wrong password with SEC_E_LOGON_DENIED', async () => {
    const host = await createLsa({ packages: [toyPackage()] });
    const client = host.sspi();
    const server = host.sspi();
    const cc = (await client.AcquireCredentialsHandle(null, TOY_NAME, SECPKG_CRED.OUTBOUND, null, auth('wrong'))).phCredential!;
    const sc = (await server.AcquireCredentialsHandle(null, TOY_NAME, SECPKG_CRED.INBOUND, null, auth())).phCredential!;
    const h = await handshake(client, server, cc, sc);
    assert.equal(h.failed, S.SEC_E_LOGON_DENIED);
    assert.equal(h.failed, 0x8009030c);
    await host.shutdown();
  });

  it('checks channel bindings when the acceptor was given them', async () => {
    const { client, server, cc, sc, host } = await setup();
    const cb = buildChannelBindings(new TextEncoder().encode('tls-server-end-point:abc'));
    const ok = await handshake(client, server, cc, sc, { clientBindings: cb, serverBindings: cb });
    assert.equal(ok.failed, 0);
    const bad = await handshake(client, server, cc, sc, { clientBindings: buildChannelBindings(new Uint8Array([1])), serverBindings: cb });
    assert.equal(bad.failed, S.SEC_E_BAD_BINDINGS);
    await host.shutdown();
  });

  it('gives SEC_E_BUFFER_TOO_SMALL for a caller buffer that is too small, and allocates with ISC_REQ_ALLOCATE_MEMORY', async () => {
    const { client, cc, host } = await setup();
    const small = secBufferDesc(outputBuffer(SECBUFFER.TOKEN, 4));
    const r = await client.InitializeSecurityContext(cc, null, 'HTTP/host', 0, 0, SECURITY_NATIVE_DREP, null, 0, null, small);
    assert.equal(r.status, S.SEC_E_BUFFER_TOO_SMALL);
    assert.equal(r.phNewContext, null);
    const alloc = secBufferDesc(secBuffer(SECBUFFER.TOKEN, null));
    const r2 = await client.InitializeSecurityContext(cc, null, 'HTTP/host', ISC_REQ.ALLOCATE_MEMORY, 0, SECURITY_NATIVE_DREP, null, 0, null, alloc);
    assert.equal(r2.status, S.SEC_I_CONTINUE_NEEDED);
    assert.equal(r2.pfContextAttr & ISC_RET.ALLOCATED_MEMORY, ISC_RET.ALLOCATED_MEMORY);
    assert.ok(alloc.pBuffers[0]!.pvBuffer instanceof Uint8Array);
    assert.equal(alloc.pBuffers[0]!.cbBuffer, 17 + 'HTTP/host'.length);
    assert.equal(client.FreeContextBuffer(alloc.pBuffers[0]!.pvBuffer), S.SEC_E_OK);
    await host.shutdown();
  });

  it('signs, verifies, encrypts and decrypts in the user-mode half, with sequence and tamper checks', async () => {
    const { client, server, cc, sc, host } = await setup();
    const { cctx, sctx } = await handshake(client, server, cc, sc);
    const msg = new TextEncoder().encode('hello, world');
    const sig = outputBuffer(SECBUFFER.TOKEN, 20);
    assert.equal(client.MakeSignature(cctx, 0, secBufferDesc(secBuffer(SECBUFFER.DATA, msg), sig), 0), S.SEC_E_OK);
    assert.equal(server.VerifySignature(sctx, secBufferDesc(secBuffer(SECBUFFER.DATA, msg), sig), 0).status, S.SEC_E_OK);
    // Replaying the same signature is out of sequence.
    assert.equal(server.VerifySignature(sctx, secBufferDesc(secBuffer(SECBUFFER.DATA, msg), sig), 0).status, S.SEC_E_OUT_OF_SEQUENCE);
    // EncryptMessage works in place on the DATA buffer.
    const data = secBuffer(SECBUFFER.DATA, msg.slice());
    const tok = outputBuffer(SECBUFFER.TOKEN, 21);
    assert.equal(client.EncryptMessage(cctx, 0, secBufferDesc(tok, data), 0), S.SEC_E_OK);
    assert.notDeepEqual(data.pvBuffer, msg);
    const tampered = data.pvBuffer!.slice();
    tampered[0]! ^= 1;
    assert.equal(server.DecryptMessage(sctx, secBufferDesc(secBuffer(SECBUFFER.TOKEN, tok.pvBuffer!.slice()), secBuffer(SECBUFFER.DATA, tampered)), 0).status, S.SEC_E_MESSAGE_ALTERED);
    const d = server.DecryptMessage(sctx, secBufferDesc(tok, data), 0);
    assert.equal(d.status, S.SEC_E_OK);
    assert.deepEqual(data.pvBuffer, msg);
    // Sign-only wrap reports its QOP.
    const data2 = secBuffer(SECBUFFER.DATA, msg.slice());
    const tok2 = outputBuffer(SECBUFFER.TOKEN, 21);
    assert.equal(client.EncryptMessage(cctx, SECQOP_WRAP_NO_ENCRYPT, secBufferDesc(tok2, data2), 0), S.SEC_E_OK);
    assert.deepEqual(data2.pvBuffer, msg);
    assert.equal(server.DecryptMessage(sctx, secBufferDesc(tok2, data2), 0).pfQOP, SECQOP_WRAP_NO_ENCRYPT);
    await host.shutdown();
  });

  it('gives SEC_E_INVALID_HANDLE for deleted, unknown and foreign handles', async () => {
    const { client, server, cc, sc, host } = await setup();
    const { cctx, sctx } = await handshake(client, server, cc, sc);
    const msg = secBufferDesc(secBuffer(SECBUFFER.DATA, new Uint8Array(1)), outputBuffer(SECBUFFER.TOKEN, 20));
    // A handle from another connection is foreign here.
    assert.equal(client.MakeSignature(sctx, 0, msg, 0), S.SEC_E_INVALID_HANDLE);
    assert.equal((await client.QueryContextAttributes(sctx, SECPKG_ATTR.NAMES)).status, S.SEC_E_INVALID_HANDLE);
    assert.equal((await client.FreeCredentialsHandle(sc)).valueOf(), S.SEC_E_INVALID_HANDLE);
    assert.equal((await client.InitializeSecurityContext(sc, null, 't', 0, 0, 0, null, 0, null, null)).status, S.SEC_E_INVALID_HANDLE);
    assert.equal(client.MakeSignature({ dwLower: 0n, dwUpper: 123456n }, 0, msg, 0), S.SEC_E_INVALID_HANDLE);
    assert.equal(await client.DeleteSecurityContext(cctx), S.SEC_E_OK);
    assert.equal(client.MakeSignature(cctx, 0, msg, 0), S.SEC_E_INVALID_HANDLE);
    assert.equal(await client.DeleteSecurityContext(cctx), S.SEC_E_INVALID_HANDLE);
    assert.equal(await client.FreeCredentialsHandle(cc), S.SEC_E_OK);
    assert.equal(await client.FreeCredentialsHandle(cc), S.SEC_E_INVALID_HANDLE);
    await host.shutdown();
  });

  it('returns the expiry as a TimeStamp and SEC_E_CONTEXT_EXPIRED once it passes', async () => {
    const { client, server, cc, sc, host } = await setup({ lifetimeMs: 150 });
    const t0 = Date.now();
    const { cctx } = await handshake(client, server, cc, sc);
    const sizes = await client.QueryContextAttributes(cctx, SECPKG_ATTR.SIZES);
    assert.equal(sizes.status, S.SEC_E_OK);
    const r = await client.InitializeSecurityContext(cc, null, 'x', 0, 0, 0, null, 0, null, secBufferDesc(outputBuffer(SECBUFFER.TOKEN, 100)));
    assert.notEqual(r.ptsExpiry, TIMESTAMP_INFINITE);
    const expMs = unixMsFromTimeStamp(r.ptsExpiry);
    assert.ok(expMs >= t0 + 100 && expMs <= Date.now() + 200, 'expiry is a local-time TimeStamp that converts back to now + lifetime');
    await new Promise((res) => setTimeout(res, 200));
    const msg = secBufferDesc(secBuffer(SECBUFFER.DATA, new Uint8Array(1)), outputBuffer(SECBUFFER.TOKEN, 20));
    assert.equal(client.MakeSignature(cctx, 0, msg, 0), S.SEC_E_CONTEXT_EXPIRED);
    assert.equal((await client.InitializeSecurityContext(cc, r.phNewContext, 'x', 0, 0, 0, null, 0, null, null)).status, S.SEC_E_CONTEXT_EXPIRED);
    await host.shutdown();
  });

  it('exports and imports a context with the same bytes as its ContextData format', async () => {
    const { client, server, cc, sc, host } = await setup();
    const { cctx, sctx } = await handshake(client, server, cc, sc);
    const exp = await client.ExportSecurityContext(cctx, 0);
    assert.equal(exp.status, S.SEC_E_OK);
    assert.equal(exp.pPackedContext![0], 1, 'versioned serialization');
    const other = host.sspi();
    const imp = await other.ImportSecurityContext(TOY_NAME, exp.pPackedContext!);
    assert.equal(imp.status, S.SEC_E_OK);
    const msg = new Uint8Array([1, 2, 3]);
    const sig = outputBuffer(SECBUFFER.TOKEN, 20);
    assert.equal(other.MakeSignature(imp.phContext!, 0, secBufferDesc(secBuffer(SECBUFFER.DATA, msg), sig), 0), S.SEC_E_OK);
    assert.equal(server.VerifySignature(sctx, secBufferDesc(secBuffer(SECBUFFER.DATA, msg), sig), 0).status, S.SEC_E_OK);
    assert.equal((await other.ImportSecurityContext(TOY_NAME, new Uint8Array([9, 9]))).status, S.SEC_E_INVALID_TOKEN);
    assert.equal(await other.DeleteSecurityContext(imp.phContext!), S.SEC_E_OK);
    await host.shutdown();
  });

  it('zeroes the user-mode key when a context is deleted', async () => {
    const deleted: Buffer[] = [];
    const { client, server, cc, sc, host } = await setup({ deletedKeys: deleted });
    const { cctx } = await handshake(client, server, cc, sc);
    await client.DeleteSecurityContext(cctx);
    assert.equal(deleted.length, 1);
    assert.ok(deleted[0]!.every((b) => b === 0));
    await host.shutdown();
  });

  it('rejects malformed descriptors and reserved parameters with exact codes', async () => {
    const { client, cc, host } = await setup();
    const bad = { ulVersion: 1, cBuffers: 0, pBuffers: [] };
    assert.equal((await client.InitializeSecurityContext(cc, null, 't', 0, 0, 0, bad, 0, null, null)).status, S.SEC_E_INVALID_TOKEN);
    assert.equal((await client.InitializeSecurityContext(cc, null, 't', 0, 1, 0, null, 0, null, null)).status, S.SEC_E_INVALID_PARAMETER);
    assert.equal((await client.InitializeSecurityContext(cc, null, 't', -1, 0, 0, null, 0, null, null)).status, S.SEC_E_INVALID_PARAMETER);
    const mismatch = { ulVersion: 0, cBuffers: 2, pBuffers: [secBuffer(SECBUFFER.TOKEN, null)] };
    assert.equal((await client.InitializeSecurityContext(cc, null, 't', 0, 0, 0, mismatch, 0, null, null)).status, S.SEC_E_INVALID_PARAMETER);
    await host.shutdown();
  });
});

describe('connection lifetime', () => {
  it('releases a closed connection\'s handles, like a client process ending', async () => {
    const host: LsaHost = await createLsa({ packages: [toyPackage()] });
    const conn = host.connect();
    const r = await conn.AcquireCredentialsHandle({ principal: null, packageName: TOY_NAME, credentialUse: SECPKG_CRED.OUTBOUND, logonId: null, authData: auth() });
    await conn.close();
    assert.equal(await conn.FreeCredentialsHandle(r.credential!), S.SEC_E_INVALID_HANDLE);
    await host.shutdown();
  });
});
