// Kerberos (krb5 GSS, RFC 4121): wrap+unwrap (sealed, RRC 0 as MIT and RRC 28 as Windows SSPI) and
// get_mic+verify_mic at the given sizes, on an established token state per enctype (keys random,
// no KDC: the per-message path is what is measured), plus AP-REQ build+accept per second.
import { randomBytes } from 'node:crypto';
import { KeyUsage, TicketFlags, encodeEncTicketPart } from '../src/packages/kerberos/asn1/index.js';
import { encrypt, randomToKey } from '../src/packages/kerberos/crypto/index.js';
import { acceptApReq, buildApReq } from '../src/packages/kerberos/gss/apreq.js';
import { GssFlags } from '../src/packages/kerberos/gss/checksum.js';
import { createTokenState, getMic, unwrap, verifyMic, wrap } from '../src/packages/kerberos/gss/tokens.js';
import { MemoryReplayCache } from '../src/packages/kerberos/replay.js';
import { emit, measure, type Result } from './measure.js';

export async function benchKerberos(opts: { dur: number; warm: number; wdur: number; wwarm: number; sizes: number[]; enctypes?: number[] }): Promise<void> {
  for (const et of opts.enctypes ?? [18, 17, 20]) {
    const len = et === 17 || et === 19 ? 16 : 32;
    const key = randomToKey(et, randomBytes(len));
    const asub = randomToKey(et, randomBytes(len));
    const mk = (initiator: boolean) => createTokenState({ initiator, key, acceptorSubkey: asub, localSeq: initiator ? 1 : 2, remoteSeq: initiator ? 2 : 1, replayDetect: true, sequenceDetect: false });
    const c = mk(true);
    const s = mk(false);
    const results: Result[] = [];
    for (const size of opts.sizes) {
      const msg = new Uint8Array(size).map((_, i) => (i * 131) & 0xff);
      results.push(await measure('wrap+unwrap', () => unwrap(s, wrap(c, msg)), { seconds: opts.wdur, warm: opts.wwarm, size }));
      results.push(await measure('wrap+unwrap rrc=28', () => unwrap(s, wrap(c, msg, { rrc: 28 })), { seconds: opts.wdur, warm: opts.wwarm, size }));
      results.push(await measure('get_mic+verify_mic', () => verifyMic(s, msg, getMic(c, msg)), { seconds: opts.wdur, warm: opts.wwarm, size }));
    }
    // AP-REQ build + accept (keytab lookup, two decryptions, checksum, replay cache).
    const svcKey = randomToKey(et, randomBytes(len));
    const sessionKey = randomToKey(et, randomBytes(len));
    const now = Date.now();
    const part = encodeEncTicketPart({
      flags: TicketFlags.FORWARDABLE, key: { keytype: et, keyvalue: sessionKey.keyvalue }, crealm: 'EXAMPLE.TEST',
      cname: { nameType: 1, nameString: ['user'] }, transited: { trType: 1, contents: new Uint8Array(0) },
      authtime: new Date(Math.floor(now / 1000) * 1000), endtime: new Date(Math.floor(now / 1000 + 36000) * 1000),
    });
    const svc = { realm: 'EXAMPLE.TEST', components: ['HTTP', 'localhost'], nameType: 2 };
    const ticket = { realm: svc.realm, sname: { nameType: 2, nameString: svc.components }, encPart: { etype: et, kvno: 2, cipher: encrypt(svcKey, KeyUsage.KDC_REP_TICKET, part) } };
    const keytab = [{ principal: svc, timestamp: 0, kvno: 2, kvno8: 2, key: svcKey }];
    const replayCache = new MemoryReplayCache();
    const flags = GssFlags.GSS_C_MUTUAL_FLAG | GssFlags.GSS_C_REPLAY_FLAG | GssFlags.GSS_C_CONF_FLAG | GssFlags.GSS_C_INTEG_FLAG;
    results.push(await measure('ap_req build+accept', async () => {
      const req = buildApReq({ ticket, sessionKey, crealm: svc.realm, cname: { nameType: 1, nameString: ['user'] }, gssFlags: flags });
      await acceptApReq(req.token, { keytab, replayCache });
    }, { seconds: opts.dur, warm: opts.warm }));
    emit('krb5_token_bench', `krb5 GSS tokens enctype ${et}`, { mech: 'krb5', enctype: et, wrap_dur_s: opts.wdur, acceptor_subkey: true }, { rrc: [0, 28] }, results);
  }
}

// Direct run: node --import tsx bench/kerberos.ts
if (import.meta.url === `file://${process.argv[1]}`) {
  const num = (k: string, d: number) => (process.env[k] ? Number(process.env[k]) : d);
  await benchKerberos({
    dur: num('DUR', 1), warm: num('WARM', 0.3), wdur: num('WDUR', 1), wwarm: num('WWARM', 0.2),
    sizes: (process.env.SIZES ?? '16 1024 65536 1048576').split(/\s+/).filter(Boolean).map(Number),
    ...(process.env.ENCTYPES ? { enctypes: process.env.ENCTYPES.split(/\s+/).map(Number) } : {}),
  });
}
