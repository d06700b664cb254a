// The KCM client against a fake daemon on a private socket: the request layout, MIT's
// GET_CRED_LIST path (sssd-kcm answers it; Heimdal's kcm does not, see
// test/interop/kerberos-kcm.test.ts), store/find/list over it, the collection operations, and
// what a broken daemon gets: no server, silence (timeout), a closed connection, and any reply
// bytes (fuzzed) give an SspiError, never another error or a hang.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { decodeCcacheCredential, decodeCcachePrincipal, encodeCcacheCredential, encodeCcachePrincipal, type Credential } from '../../../../src/packages/kerberos/ccache.js';
import { getInitialTicket } from '../../../../src/packages/kerberos/client/as.js';
import { KcmClient, KcmCollection, KcmCredentialCache, KcmOp } from '../../../../src/packages/kerberos/client/kcm.js';
import { formatPrincipal, parsePrincipal, type KrbPrincipal } from '../../../../src/packages/kerberos/keytab.js';
import { SspiError } from '../../../../src/sspi/error.js';
import { config, PASSWORD, REALM, refreshKdc, testClock } from './refresh-fake-kdc.js';

const dir = mkdtempSync(join(tmpdir(), 'tslsa-kcm-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const sockPath = (): string => join(dir, `kcm${n++}.sock`);

/** Serves length-prefixed requests with `answer` (which returns the whole reply frame). */
async function fakeDaemon(answer: (req: Buffer, sock: Socket) => Buffer | undefined): Promise<{ path: string; server: Server; requests: Buffer[] }> {
  const path = sockPath();
  const requests: Buffer[] = [];
  const server = createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const req = buf.subarray(4, 4 + buf.readUInt32BE(0));
        buf = buf.subarray(4 + req.length);
        requests.push(req);
        const out = answer(req, sock);
        if (out) sock.write(out);
      }
    });
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(path, r));
  return { path, server, requests };
}

const frame = (status: number, payload: Uint8Array = new Uint8Array(0)): Buffer => {
  const b = Buffer.alloc(12 + payload.length);
  b.writeUInt32BE(4 + payload.length, 0);
  b.writeInt32BE(0, 4);
  b.writeInt32BE(status, 8);
  Buffer.from(payload).copy(b, 12);
  return b;
};
const KRB5_FCC_NOFILE = -1765328189;
const cstr = (s: string): Buffer => Buffer.from(`${s}\0`);

/** An in-memory KCM daemon that speaks GET_CRED_LIST, as sssd-kcm does. */
function memoryKcm() {
  const caches = new Map<string, { principal?: KrbPrincipal; creds: Credential[] }>();
  let primary = '1000';
  let next = 1;
  const name = (b: Buffer): [string, Buffer] => {
    const end = b.indexOf(0);
    return [b.subarray(0, end).toString(), b.subarray(end + 1)];
  };
  const uuid = (i: number): Buffer => Buffer.alloc(16, i);
  return (req: Buffer): Buffer => {
    assert.equal(req[0], 2, 'major version 2');
    assert.equal(req[1], 0, 'minor version 0');
    const op = req.readUInt16BE(2);
    const args = req.subarray(4);
    switch (op) {
      case KcmOp.GET_DEFAULT_CACHE:
        return frame(0, cstr(primary));
      case KcmOp.SET_DEFAULT_CACHE:
        primary = name(args)[0];
        return frame(0);
      case KcmOp.GEN_NEW: {
        const nm = `1000:${next++}`;
        caches.set(nm, { creds: [] });
        return frame(0, cstr(nm));
      }
      case KcmOp.INITIALIZE: {
        const [nm, rest] = name(args);
        caches.set(nm, { principal: decodeCcachePrincipal(rest).principal, creds: [] });
        return frame(0);
      }
      case KcmOp.STORE: {
        const [nm, rest] = name(args);
        caches.get(nm)!.creds.push(decodeCcacheCredential(rest));
        return frame(0);
      }
      case KcmOp.GET_PRINCIPAL: {
        const c = caches.get(name(args)[0]);
        return c?.principal ? frame(0, encodeCcachePrincipal(c.principal)) : frame(KRB5_FCC_NOFILE);
      }
      case KcmOp.GET_CRED_LIST: {
        const c = caches.get(name(args)[0]);
        if (!c) return frame(KRB5_FCC_NOFILE);
        const parts = c.creds.map((x) => encodeCcacheCredential(x));
        const out = Buffer.alloc(4 + parts.reduce((a, p) => a + 4 + p.length, 0));
        out.writeUInt32BE(parts.length, 0);
        let pos = 4;
        for (const p of parts) {
          out.writeUInt32BE(p.length, pos);
          Buffer.from(p).copy(out, pos + 4);
          pos += 4 + p.length;
        }
        return frame(0, out);
      }
      case KcmOp.DESTROY:
        return caches.delete(name(args)[0]) ? frame(0) : frame(KRB5_FCC_NOFILE);
      case KcmOp.GET_CACHE_UUID_LIST:
        return frame(0, Buffer.concat([...caches.keys()].map((_, i) => uuid(i))));
      case KcmOp.GET_CACHE_BY_UUID:
        return frame(0, cstr([...caches.keys()][args[0]!]!));
      default:
        return frame(-1765328188); // KRB5_FCC_INTERNAL: not supported
    }
  };
}

const clock = testClock();
async function aliceTgt() {
  const kdc = refreshKdc({ now: clock.now });
  return (await getInitialTicket({ principal: 'alice', password: PASSWORD, config, now: clock.now, send: kdc.send })).credential;
}

describe('KCM client (fake daemon)', () => {
  test('GET_CRED_LIST daemon: initialize, store (replacing), find and tgt; KCM: resolves to the default cache once', async () => {
    const d = await fakeDaemon(memoryKcm());
    try {
      const client = new KcmClient(d.path);
      const cache = new KcmCredentialCache(client);
      assert.equal(cache.name, 'KCM:');
      assert.equal(await cache.principal(), undefined);
      assert.equal(cache.name, 'KCM:1000');
      const alice = parsePrincipal(`alice@${REALM}`);
      await cache.initialize(alice);
      const tgt = await aliceTgt();
      await cache.store(tgt);
      await cache.store(tgt); // the same server again: replaced, not duplicated
      const listed = await cache.list();
      assert.equal(listed.length, 1);
      assert.equal(formatPrincipal(listed[0]!.server), `krbtgt/${REALM}@${REALM}`);
      assert.ok(await cache.tgt(undefined, clock.now()));
      assert.equal(formatPrincipal((await cache.principal())!), `alice@${REALM}`);
      assert.ok(d.requests.some((r) => r.readUInt16BE(2) === KcmOp.GET_CRED_LIST), 'the MIT extension is used when answered');
      assert.ok(!d.requests.some((r) => r.readUInt16BE(2) === KcmOp.GET_CRED_UUID_LIST), 'no fallback when GET_CRED_LIST works');
      // A request is: length, 2, 0, opcode, then the NUL-terminated cache name.
      const gp = d.requests.find((r) => r.readUInt16BE(2) === KcmOp.GET_PRINCIPAL)!;
      assert.deepEqual([...gp.subarray(0, 4)], [2, 0, 0, KcmOp.GET_PRINCIPAL]);
      assert.equal(gp.subarray(4).toString(), '1000\0');
      await cache.destroy();
      assert.equal(await cache.principal(), undefined);
      await cache.destroy(); // destroying what is gone is not an error
    } finally {
      d.server.close();
    }
  });

  test('collection: caches primary first, newUnique, match, switchTo', async () => {
    const d = await fakeDaemon(memoryKcm());
    try {
      const coll = new KcmCollection(new KcmClient(d.path));
      const first = await coll.primary();
      await first.initialize(parsePrincipal(`alice@${REALM}`));
      const second = await coll.newUnique();
      await second.initialize(parsePrincipal(`bob@${REALM}`));
      let names = (await coll.caches()).map((c) => c.name);
      assert.deepEqual(names, ['KCM:1000', 'KCM:1000:1']);
      const bob = await coll.match(parsePrincipal(`bob@${REALM}`));
      assert.equal(bob?.name, 'KCM:1000:1');
      await coll.switchTo(bob!);
      names = (await coll.caches()).map((c) => c.name);
      assert.deepEqual(names, ['KCM:1000:1', 'KCM:1000']);
      assert.equal(await coll.match(parsePrincipal(`carol@${REALM}`)), undefined);
    } finally {
      d.server.close();
    }
  });

  test('no daemon, a silent one, one that hangs up, and transport errors: SEC_E_NO_CREDENTIALS or SEC_E_INVALID_TOKEN', async () => {
    await assert.rejects(new KcmClient(join(dir, 'absent.sock')).call(KcmOp.GET_DEFAULT_CACHE), /SEC_E_NO_CREDENTIALS.*No KCM server found at .*absent\.sock \(ENOENT\)/);
    const silent = await fakeDaemon(() => undefined);
    const closer = await fakeDaemon((_r, s) => {
      s.end(Buffer.from([0, 0, 0]));
      return undefined;
    });
    const transport = await fakeDaemon(() => Buffer.from([0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]));
    try {
      const t0 = Date.now();
      await assert.rejects(new KcmClient(silent.path, 200).call(KcmOp.GET_DEFAULT_CACHE), /did not answer within 200 ms/);
      assert.ok(Date.now() - t0 < 5_000);
      await assert.rejects(new KcmClient(closer.path).call(KcmOp.GET_DEFAULT_CACHE), /SEC_E_INVALID_TOKEN.*closed the connection after 3 bytes/);
      await assert.rejects(new KcmClient(transport.path).call(KcmOp.GET_DEFAULT_CACHE), (e: unknown) => SspiError.is(e) && /krb5 error -1/.test((e as Error).message));
    } finally {
      silent.server.close();
      closer.server.close();
      transport.server.close();
    }
  });

  test('any reply bytes to any cache operation give an SspiError (or a value), never another error or a hang', async () => {
    let reply: Uint8Array = new Uint8Array(0);
    const d = await fakeDaemon((_r, s) => {
      s.end(reply);
      return undefined;
    });
    try {
      const client = new KcmClient(d.path, 2_000);
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.uint8Array({ maxLength: 64, size: 'max' }).map((b) => Buffer.from(b)),
            fc.uint8Array({ maxLength: 200, size: 'max' }).map((b) => frame(0, b)),
            fc.uint8Array({ maxLength: 200, size: 'max' }).map((b) => frame(0, Buffer.concat([Buffer.from([0, 0, 0, 1, 0, 0, 0, b.length]), b]))),
          ),
          fc.constantFrom('principal', 'list', 'collection'),
          async (bytes, what) => {
            reply = bytes;
            const cache = new KcmCredentialCache(client, 'x');
            try {
              if (what === 'principal') await cache.principal();
              else if (what === 'list') await cache.list();
              else await new KcmCollection(client).caches();
            } catch (e) {
              assert.ok(e instanceof SspiError, String(e));
            }
          },
        ),
        { numRuns: 300 },
      );
    } finally {
      d.server.close();
    }
  });
});
