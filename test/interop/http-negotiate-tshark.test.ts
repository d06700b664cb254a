// What crosses the wire between `tslsa fetch` and `tslsa serve`, captured live on lo and read by
// tshark's SPNEGO, Kerberos and NTLMSSP dissectors: an independent judge of our DER and of our
// Kerberos encryption. Given the service keytab, Wireshark decrypts (with MIT's library) the
// ticket the KDC issued, learns its session key, then decrypts our authenticator with it and our
// AP-REP, and learns both subkeys; a token it could not parse or decrypt would show as malformed
// or as a failed decryption.
//
//   Kerberos: GET -> 401 Negotiate -> GET NegTokenInit(krb5, AP-REQ mutual-required, GSS checksum
//     with the mutual flag) -> 200 NegTokenResp(accept-completed, krb5, AP-REP with a sequence number)
//   NTLM inside SPNEGO (no ticket): NegTokenInit(NTLMSSP, NEGOTIATE) -> 401 NegTokenResp(accept-
//     incomplete, NTLMSSP, CHALLENGE) -> NegTokenResp(AUTHENTICATE for alice, mechListMIC) -> 200
//     NegTokenResp(accept-completed, mechListMIC): both MICs NTLMSSP verifiers (version 1)
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { captureWhile, dissectHttp } from './lib/capture.js';
import { addUser, PASSWORD, tearDown } from './lib/cluster-http.js';
import { describeFailure } from './lib/proc.js';
import { createRealm, type Realm } from './lib/realm.js';
import { startServe, tslsa, type ServeProcess } from '../unit/http/serveProcess.js';

const T = { timeout: 120_000 };
const KRB5_OID = '1.2.840.113554.1.2.2';
const NTLMSSP_OID = '1.3.6.1.4.1.311.2.2.10';
const FIELDS = [
  'http.request.method', 'http.response.code',
  'spnego.MechType', 'spnego.negResult', 'spnego.supportedMech', 'spnego.mechListMIC',
  'kerberos.msg_type', 'kerberos.ap_options', 'kerberos.CNameString', 'kerberos.crealm', 'kerberos.SNameString',
  'kerberos.gssapi.checksum.flags.mutual', 'kerberos.authenticator_element', 'kerberos.encAPRepPart_element', 'kerberos.seq_number',
  'ntlmssp.messagetype', 'ntlmssp.auth.username', 'ntlmssp.auth.domain',
  '_ws.malformed', '_ws.expert.message',
] as const;
type Message = Record<(typeof FIELDS)[number], string>;

let realm: Realm;
let dir = '';
let srv: ServeProcess;

/** The HTTP messages of one `tslsa fetch` run against the server, as tshark read them. */
async function exchange(fetchArgs: string[], opts: { env: NodeJS.ProcessEnv; input?: string }): Promise<Message[]> {
  const { value: f, pcap } = await captureWhile(srv.port, dir, () => tslsa(['fetch', ...fetchArgs, `http://localhost:${srv.port}/whoami`], opts));
  assert.equal(f.code, 0, describeFailure(f));
  return (await dissectHttp(pcap, FIELDS, ['kerberos.decrypt:TRUE', `kerberos.file:${realm.httpKeytab}`])) as Message[];
}

function clean(m: Message): void {
  assert.equal(m['_ws.malformed'], '', `tshark marks a message malformed: ${JSON.stringify(m)}`);
  assert.doesNotMatch(m['_ws.expert.message'], /fail|[Mm]alformed|[Ii]nvalid|[Uu]nknown/, JSON.stringify(m));
}

before(async () => {
  realm = await createRealm();
  dir = mkdtempSync(join(tmpdir(), 'tslsa-negotiate-tshark-'));
  const store = join(dir, 'accounts.db');
  await addUser(store, 'EXAMPLE\\alice', PASSWORD, realm.childEnv());
  srv = await startServe(['--store', store, '--domain', 'EXAMPLE', '--keytab', realm.httpKeytab, '--spn', 'HTTP/localhost'], realm.childEnv());
});

after(() => tearDown({ nodes: [srv], realm, dir }));

describe('tshark reads a live Negotiate exchange between tslsa fetch and tslsa serve', () => {
  it('Kerberos: Wireshark decrypts our authenticator with the ticket\'s session key and our AP-REP, and finds nothing malformed', T, async () => {
    await realm.kinit('user');
    const msgs = await exchange([], { env: realm.childEnv() });
    assert.deepEqual(msgs.map((m) => m['http.request.method'] || m['http.response.code']), ['GET', '401', 'GET', '200'], JSON.stringify(msgs));
    msgs.forEach(clean);
    const [, , req, ok] = msgs as [Message, Message, Message, Message];
    // NegTokenInit: Kerberos offered (no password was given, so NTLM has no credentials to offer).
    assert.deepEqual(req['spnego.MechType'].split(','), [KRB5_OID]);
    assert.equal(req['kerberos.msg_type'], '14');
    assert.equal(parseInt(req['kerberos.ap_options'], 16) & 0x20000000, 0x20000000, `mutual-required (ap-options ${req['kerberos.ap_options']}, hex)`);
    assert.match(req['kerberos.gssapi.checksum.flags.mutual'], /^1(,1)*$/);
    assert.match(req['kerberos.CNameString'], /^user(,user)*$/);
    assert.match(req['kerberos.SNameString'], /HTTP,localhost/);
    // Decrypted by Wireshark: the ticket with the keytab (usage 2), our authenticator with the
    // session key it learnt from that ticket (usage 11), and the subkey inside it.
    const said = req['_ws.expert.message'];
    assert.match(said, /Decrypted keytype \d+ usage 2 using keytab principal HTTP\/localhost@EXAMPLE\.TEST/);
    assert.match(said, /Decrypted keytype \d+ usage 11 using learnt encTicketPart_key/);
    assert.match(said, /Learnt authenticator_subkey/);
    assert.notEqual(req['kerberos.authenticator_element'], '');
    // NegTokenResp on the 200: accept-completed, krb5, our AP-REP decrypted (usage 12) with its
    // subkey and sequence number.
    assert.equal(ok['spnego.negResult'], '0');
    assert.equal(ok['spnego.supportedMech'], KRB5_OID);
    assert.equal(ok['kerberos.msg_type'], '15');
    assert.match(ok['_ws.expert.message'], /Decrypted keytype \d+ usage 12 using learnt encTicketPart_key/);
    assert.match(ok['_ws.expert.message'], /Learnt encAPRepPart_subkey/);
    assert.notEqual(ok['kerberos.encAPRepPart_element'], '');
    assert.match(ok['kerberos.seq_number'], /^\d+$/);
  });

  it('NTLM inside SPNEGO: NEGOTIATE, CHALLENGE and AUTHENTICATE in NegTokenInit/NegTokenResp, and both mechListMICs as NTLMSSP verifiers', T, async () => {
    const msgs = await exchange(['-u', 'EXAMPLE\\alice', '--password-stdin'], { env: realm.childEnv({ KRB5CCNAME: `FILE:${join(dir, 'no-ccache')}` }), input: `${PASSWORD}\n` });
    assert.deepEqual(msgs.map((m) => m['http.request.method'] || m['http.response.code']), ['GET', '401', 'GET', '401', 'GET', '200'], JSON.stringify(msgs));
    msgs.forEach(clean);
    const [, , init, challenge, auth, ok] = msgs as [Message, Message, Message, Message, Message, Message];
    assert.deepEqual(init['spnego.MechType'].split(','), [NTLMSSP_OID]);
    assert.equal(Number(init['ntlmssp.messagetype']), 1);
    assert.equal(challenge['spnego.negResult'], '1', 'accept-incomplete');
    assert.equal(challenge['spnego.supportedMech'], NTLMSSP_OID);
    assert.equal(Number(challenge['ntlmssp.messagetype']), 2);
    assert.equal(Number(auth['ntlmssp.messagetype']), 3);
    assert.equal(auth['ntlmssp.auth.username'], 'alice');
    assert.equal(auth['ntlmssp.auth.domain'], 'EXAMPLE');
    assert.equal(ok['spnego.negResult'], '0', 'accept-completed');
    // MS-SPNG 3.1.5.1: the client's MIC rides with AUTHENTICATE, ours with the final token; each is
    // a 16-byte NTLMSSP verifier (version 1, checksum, sequence number 0).
    for (const m of [auth, ok]) assert.match(m['spnego.mechListMIC'], /^01000000[0-9a-f]{16}00000000$/, JSON.stringify(m));
    assert.notEqual(auth['spnego.mechListMIC'], ok['spnego.mechListMIC']);
  });
});
