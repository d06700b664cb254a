// Cross-check against an independent dissector: messages written here are wrapped in HTTP requests
// (text2pcap) and read back by tshark's NTLMSSP dissector, field by field. tshark is a peer that
// scripts/install-peers.sh installs; without it this test fails.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  avChannelBindings,
  avFlags,
  avSingleHost,
  avString,
  avTargetName,
  avTimestamp,
  MsvAvDnsComputerName,
  MsvAvDnsDomainName,
  MsvAvDnsTreeName,
  MsvAvNbComputerName,
  MsvAvNbDomainName,
} from '../../src/packages/ntlm/avpairs.js';
import {
  NTLM_NEGOTIATE_OEM,
  NTLMSSP_NEGOTIATE_56,
  NTLMSSP_NEGOTIATE_128,
  NTLMSSP_NEGOTIATE_ALWAYS_SIGN,
  NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY,
  NTLMSSP_NEGOTIATE_KEY_EXCH,
  NTLMSSP_NEGOTIATE_NTLM,
  NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED,
  NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED,
  NTLMSSP_NEGOTIATE_TARGET_INFO,
  NTLMSSP_NEGOTIATE_UNICODE,
  NTLMSSP_NEGOTIATE_VERSION,
  NTLMSSP_REQUEST_TARGET,
  MSV_AV_FLAGS_MIC_PRESENT,
} from '../../src/packages/ntlm/flags.js';
import {
  type AUTHENTICATE_MESSAGE,
  writeAuthenticateMessage,
  writeChallengeMessage,
  writeNegotiateMessage,
  writeNtlmv2Response,
} from '../../src/packages/ntlm/messages.js';

const has = (cmd: string): boolean => spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
const available = has('tshark') && has('text2pcap');

const FIELDS = [
  'ntlmssp.messagetype',
  'ntlmssp.negotiateflags',
  'ntlmssp.negotiate.domain',
  'ntlmssp.negotiate.callingworkstation',
  'ntlmssp.version.build_number',
  'ntlmssp.challenge.target_name',
  'ntlmssp.ntlmserverchallenge',
  'ntlmssp.challenge.target_info.nb_domain_name',
  'ntlmssp.challenge.target_info.dns_computer_name',
  'ntlmssp.auth.domain',
  'ntlmssp.auth.username',
  'ntlmssp.auth.hostname',
  'ntlmssp.auth.sesskey',
  'ntlmssp.ntlmv2_response.ntproofstr',
  'ntlmssp.ntlmv2_response.chal',
  'ntlmssp.ntlmv2_response.target_name',
  'ntlmssp.ntlmv2_response.channel_bindings',
  'ntlmssp.authenticate.mic',
  '_ws.malformed',
  '_ws.expert.severity',
];

/** One row of tshark fields per message, each message sent as `Authorization: NTLM <base64>`. */
function dissect(messages: Uint8Array[]): Array<Record<string, string>> {
  const dir = mkdtempSync(join(tmpdir(), 'tslsa-tshark-'));
  try {
    let dump = '';
    for (const m of messages) {
      const req = Buffer.from(`GET / HTTP/1.1\r\nHost: x\r\nAuthorization: NTLM ${Buffer.from(m).toString('base64')}\r\n\r\n`, 'latin1');
      for (let i = 0; i < req.length; i += 16) {
        dump += `${i.toString(16).padStart(6, '0')} ${[...req.subarray(i, i + 16)].map((b) => b.toString(16).padStart(2, '0')).join(' ')}\n`;
      }
    }
    writeFileSync(join(dir, 'in.txt'), dump);
    const t2p = spawnSync('text2pcap', ['-q', '-T', '40000,80', join(dir, 'in.txt'), join(dir, 'out.pcap')], { encoding: 'utf8' });
    assert.equal(t2p.status, 0, t2p.stderr);
    const args = ['-r', join(dir, 'out.pcap'), '-o', 'tcp.desegment_tcp_streams:FALSE', '-Y', 'http.request', '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=f'];
    for (const f of FIELDS) args.push('-e', f);
    const ts = spawnSync('tshark', args, { encoding: 'utf8' });
    assert.equal(ts.status, 0, ts.stderr);
    return ts.stdout
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => Object.fromEntries(l.split('\t').map((v, i) => [FIELDS[i]!, v])));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const VERSION = { ProductMajorVersion: 10, ProductMinorVersion: 0, ProductBuild: 20348, NTLMRevisionCurrent: 15 };
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test('tshark reads our NEGOTIATE, CHALLENGE and AUTHENTICATE messages in every header shape', () => {
  assert.ok(available, 'interop peers missing: tshark/text2pcap: run scripts/install-peers.sh');
  const oemFlags = NTLM_NEGOTIATE_OEM | NTLMSSP_REQUEST_TARGET | NTLMSSP_NEGOTIATE_NTLM | NTLMSSP_NEGOTIATE_ALWAYS_SIGN | NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY;
  const uniFlags =
    NTLMSSP_NEGOTIATE_UNICODE | NTLMSSP_REQUEST_TARGET | NTLMSSP_NEGOTIATE_NTLM | NTLMSSP_NEGOTIATE_ALWAYS_SIGN | NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY |
    NTLMSSP_NEGOTIATE_TARGET_INFO | NTLMSSP_NEGOTIATE_VERSION | NTLMSSP_NEGOTIATE_128 | NTLMSSP_NEGOTIATE_KEY_EXCH | NTLMSSP_NEGOTIATE_56;
  const challenge = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  const ts = 0x01d9d0c2a1b2c3d4n;
  const targetInfo = {
    pairs: [
      avString(MsvAvNbDomainName, 'EXAMPLE'),
      avString(MsvAvNbComputerName, 'SERVER'),
      avString(MsvAvDnsDomainName, 'example.com'),
      avString(MsvAvDnsComputerName, 'server.example.com'),
      avString(MsvAvDnsTreeName, 'example.com'),
      avTimestamp(ts),
    ],
  };
  const cbt = new Uint8Array(16).fill(0x5a);
  const nt = writeNtlmv2Response(new Uint8Array(16).fill(0x42), {
    RespType: 1,
    HiRespType: 1,
    Reserved1: 0,
    Reserved2: 0,
    TimeStamp: ts,
    ChallengeFromClient: new Uint8Array(8).fill(0xcc),
    Reserved3: 0,
    AvPairs: {
      pairs: [
        ...targetInfo.pairs,
        avFlags(MSV_AV_FLAGS_MIC_PRESENT),
        avSingleHost({ Size: 48, Z4: 0, CustomData: new Uint8Array(8), MachineID: new Uint8Array(32).fill(9) }),
        avChannelBindings(cbt),
        avTargetName('HTTP/server.example.com'),
      ],
      Trailing: new Uint8Array(4),
    },
  });
  const auth = (over: Partial<AUTHENTICATE_MESSAGE>): AUTHENTICATE_MESSAGE => ({
    NegotiateFlags: uniFlags,
    LmChallengeResponse: new Uint8Array(24),
    NtChallengeResponse: nt,
    DomainName: 'EXAMPLE',
    UserName: 'jdoe',
    Workstation: 'CLIENT',
    EncryptedRandomSessionKey: new Uint8Array(16).fill(0x77),
    ...over,
  });
  const mic = new Uint8Array(16).fill(0x3c);
  const messages = [
    writeNegotiateMessage({ NegotiateFlags: oemFlags | NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED | NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED, DomainName: 'EXAMPLE', Workstation: 'CLIENT' }),
    writeNegotiateMessage({ NegotiateFlags: uniFlags, DomainName: '', Workstation: '', Version: VERSION }),
    writeChallengeMessage({ NegotiateFlags: uniFlags, TargetName: 'EXAMPLE', ServerChallenge: challenge, TargetInfo: new Uint8Array(0), TargetInfoPairs: targetInfo, Version: VERSION }),
    writeAuthenticateMessage(auth({ NegotiateFlags: oemFlags, UserName: 'curl', EncryptedRandomSessionKey: new Uint8Array(0) })),
    writeAuthenticateMessage(auth({ Version: VERSION })),
    writeAuthenticateMessage(auth({ Version: VERSION, MIC: mic })),
  ];
  const rows = dissect(messages);
  assert.equal(rows.length, messages.length);
  for (const r of rows) {
    assert.equal(r['_ws.malformed'], '', `malformed: ${JSON.stringify(r)}`);
    // Expert severities are numeric: chat 0x200000, note 0x400000, warn 0x600000, error 0x800000.
    const severities = (r['_ws.expert.severity'] ?? '').split(',').filter(Boolean).map(Number);
    assert.ok(severities.every((x) => x < 0x600000), `expert warning/error: ${JSON.stringify(r)}`);
  }
  const [neg1, neg2, chal, a64, a72, a88] = rows as [Record<string, string>, ...Array<Record<string, string>>];
  assert.equal(neg1['ntlmssp.messagetype'], '0x00000001');
  assert.equal(neg1['ntlmssp.negotiate.domain'], 'EXAMPLE');
  assert.equal(neg1['ntlmssp.negotiate.callingworkstation'], 'CLIENT');
  assert.equal(neg2!['ntlmssp.version.build_number'], '20348');
  assert.equal(chal!['ntlmssp.messagetype'], '0x00000002');
  assert.equal(chal!['ntlmssp.challenge.target_name'], 'EXAMPLE');
  assert.equal(chal!['ntlmssp.ntlmserverchallenge'], hex(challenge));
  assert.equal(chal!['ntlmssp.challenge.target_info.nb_domain_name'], 'EXAMPLE');
  assert.equal(chal!['ntlmssp.challenge.target_info.dns_computer_name'], 'server.example.com');
  assert.equal(chal!['ntlmssp.version.build_number'], '20348');
  assert.equal(a64!['ntlmssp.auth.username'], 'curl');
  assert.equal(a64!['ntlmssp.auth.domain'], 'EXAMPLE');
  assert.equal(a64!['ntlmssp.auth.hostname'], 'CLIENT');
  assert.equal(a64!['ntlmssp.authenticate.mic'], '');
  for (const r of [a72!, a88!]) {
    assert.equal(r["ntlmssp.negotiateflags"], `0x${(uniFlags >>> 0).toString(16)}`);
    assert.equal(r['ntlmssp.auth.username'], 'jdoe');
    assert.equal(r['ntlmssp.auth.hostname'], 'CLIENT');
    assert.equal(r['ntlmssp.auth.sesskey'], '77'.repeat(16));
    assert.equal(r['ntlmssp.ntlmv2_response.ntproofstr'], '42'.repeat(16));
    assert.equal(r['ntlmssp.ntlmv2_response.chal'], 'cc'.repeat(8));
    assert.equal(r['ntlmssp.ntlmv2_response.target_name'], 'HTTP/server.example.com');
    assert.equal(r['ntlmssp.ntlmv2_response.channel_bindings'], hex(cbt));
    assert.equal(r['ntlmssp.version.build_number'], '20348');
  }
  assert.equal(a72!['ntlmssp.authenticate.mic'], '');
  assert.equal(a88!['ntlmssp.authenticate.mic'], hex(mic));
});
