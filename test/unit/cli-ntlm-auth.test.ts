// `tslsa ntlm-auth`: Samba's helper protocols over the LSA. Both helpers run in-process with
// injected streams (our client drives our server), plus one spawned process for the real
// stdin/stdout behaviour (answers flushed per line, exit 0 at EOF).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { MAX_LINE, failureAnswer, ntlmAuthCommand } from '../../src/cli/ntlmAuth.js';
import { NTOWFv1 } from '../../src/packages/ntlm/crypto.js';
import { parseChallengeMessage, parseNegotiateMessage } from '../../src/packages/ntlm/messages.js';
import { SspiError } from '../../src/sspi/error.js';
import { SecurityStatus } from '../../src/sspi/status.js';
import { SqliteAccountStore } from '../../src/store/sqlite.js';

const DOMAIN = 'EXAMPLE';
const PASSWORD = 'Passw0rd!';
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function makeStore(): Promise<string> {
  const d = mkdtempSync(join(tmpdir(), 'tslsa-ntlm-auth-'));
  dirs.push(d);
  const path = join(d, 'accounts.db');
  const s = await SqliteAccountStore.open(path, { create: true });
  await s.add({ user: 'alice', domain: DOMAIN, ntHash: NTOWFv1(PASSWORD) });
  await s.add({ user: 'bob', domain: DOMAIN, ntHash: NTOWFv1(PASSWORD) });
  await s.setDisabled(DOMAIN, 'bob', true);
  await s.close();
  return path;
}

/** A helper running in-process: write request lines, read answer lines. */
class Helper {
  readonly stdin = new PassThrough();
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  readonly done: Promise<number>;
  private buf = '';
  private lines: string[] = [];
  private waiting: Array<(l: string) => void> = [];
  allOut = '';
  errText = '';

  constructor(argv: string[], env: NodeJS.ProcessEnv = {}) {
    this.stdout.setEncoding('utf8').on('data', (d: string) => {
      this.allOut += d;
      this.buf += d;
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const l = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        const w = this.waiting.shift();
        if (w) w(l);
        else this.lines.push(l);
      }
    });
    this.stderr.setEncoding('utf8').on('data', (d: string) => (this.errText += d));
    this.done = ntlmAuthCommand(argv, { stdin: this.stdin, stdout: this.stdout, stderr: this.stderr, env });
  }

  next(): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no answer; stderr: ${this.errText}`)), 10_000);
      this.waiting.push((x) => {
        clearTimeout(t);
        resolve(x);
      });
    });
  }

  ask(line: string): Promise<string> {
    this.stdin.write(line + '\n');
    return this.next();
  }

  async end(): Promise<number> {
    this.stdin.end();
    return this.done;
  }
}

const server = (store: string) => new Helper(['--helper-protocol=squid-2.5-ntlmssp', '--store', store, '--domain', DOMAIN]);
const client = (user: string, password?: string) =>
  new Helper(['--helper-protocol=ntlmssp-client-1', '--username', user, '--domain', DOMAIN, ...(password !== undefined ? ['--password', password] : [])]);

/** One full handshake between our client helper and our server helper; the server's verdict. */
async function handshake(srv: Helper, cli: Helper): Promise<string> {
  const yr = await cli.ask('YR');
  assert.match(yr, /^YR [A-Za-z0-9+/=]+$/);
  const tt = await srv.ask(yr);
  assert.match(tt, /^TT [A-Za-z0-9+/=]+$/);
  const af = await cli.ask(tt);
  assert.match(af, /^AF [A-Za-z0-9+/=]+$/, 'ntlmssp-client-1 answers the challenge with AF <AUTHENTICATE>, as ntlm_auth does');
  return srv.ask(`KK ${af.slice(3)}`);
}

describe('tslsa ntlm-auth', () => {
  it('squid-2.5-ntlmssp: right password AF, wrong password NA, disabled NA; a new context per handshake', async () => {
    const store = await makeStore();
    const srv = server(store);
    const good = client('alice', PASSWORD);
    assert.equal(await handshake(srv, good), `AF ${DOMAIN}\\alice`);
    // The same server helper, again: every handshake is a fresh context.
    assert.equal(await handshake(srv, good), `AF ${DOMAIN}\\alice`);
    assert.match(await srv.ask('GF'), /^GF 0x[0-9a-f]{8}$/);
    const bad = client('alice', 'wrong');
    assert.equal(await handshake(srv, bad), 'NA NT_STATUS_LOGON_FAILURE');
    const disabled = client('bob', PASSWORD);
    assert.equal(await handshake(srv, disabled), 'NA NT_STATUS_LOGON_FAILURE');
    const unknown = client('mallory', PASSWORD);
    assert.equal(await handshake(srv, unknown), 'NA NT_STATUS_LOGON_FAILURE');
    // A KK with no handshake in progress (the last ended at NA) is not an AUTHENTICATE we expect.
    const yr = await good.ask('YR');
    const tt = await srv.ask(yr);
    const af = await good.ask(tt);
    assert.equal(await srv.ask(`KK ${af.slice(3)}`), `AF ${DOMAIN}\\alice`);
    assert.equal(await srv.ask(`KK ${af.slice(3)}`), 'NA NT_STATUS_INVALID_PARAMETER', 'a replayed AUTHENTICATE starts no new logon');
    for (const h of [srv, good, bad, disabled, unknown]) assert.equal(await h.end(), 0);
    for (const h of [srv, good, bad, disabled, unknown]) {
      assert.ok(!h.allOut.includes(PASSWORD) && !h.errText.includes(PASSWORD), 'no password in any output');
      assert.ok(!h.allOut.includes(Buffer.from(PASSWORD).toString('base64')));
    }
  });

  it('squid-2.5-ntlmssp: bad lines get BH or NA, and the helper carries on', async () => {
    const srv = server(await makeStore());
    const answers: Array<[string, string | RegExp]> = [
      ['XX', 'BH SPNEGO request invalid prefix'],
      ['Y', 'BH Query invalid'],
      ['', 'BH Query invalid'],
      ['KK', 'BH SPNEGO request invalid prefix'],
      ['YRjunk', 'BH SPNEGO request invalid prefix'],
      ['KK garbage!!', 'NA NT_STATUS_INVALID_PARAMETER'],
      ['KK TlRMTVNTUAADAAAA', 'NA NT_STATUS_INVALID_PARAMETER'],
      ['YR bad!!', 'NA NT_STATUS_INVALID_PARAMETER'],
      ['YR AAAA', 'NA NT_STATUS_INVALID_PARAMETER'],
      ['GF', 'BH'],
      ['GK', 'BH No session key'],
      ['OK', 'BH Command expected'],
      ['PW cHc=', 'BH PW is only for ntlmssp-client-1'],
      ['SF NTLMSSP_FEATURE_SIGN', 'OK'],
      ['\u0000\u0001\u00ff', 'BH SPNEGO request invalid prefix'],
    ];
    for (const [line, want] of answers) {
      const got = await srv.ask(line);
      if (typeof want === 'string') assert.equal(got, want, `answer to ${JSON.stringify(line)}`);
      else assert.match(got, want);
    }
    // An oversized line is skipped whole, then the helper answers the next one normally.
    srv.stdin.write('KK ' + 'A'.repeat(MAX_LINE + 10) + '\n');
    assert.equal(await srv.next(), 'BH Oversized message');
    assert.equal(await srv.ask('XX'), 'BH SPNEGO request invalid prefix');
    // Still able to authenticate after all that.
    const cli = client('alice', PASSWORD);
    assert.equal(await handshake(srv, cli), `AF ${DOMAIN}\\alice`);
    assert.equal(await srv.end(), 0);
    assert.equal(await cli.end(), 0);
  });

  it('squid-2.5-ntlmssp: "YR" without a NEGOTIATE still gives a CHALLENGE', async () => {
    const srv = server(await makeStore());
    const tt = await srv.ask('YR');
    assert.match(tt, /^TT /);
    const ch = parseChallengeMessage(new Uint8Array(Buffer.from(tt.slice(3), 'base64')));
    assert.equal(ch.ServerChallenge.length, 8);
    assert.ok(ch.TargetInfoPairs, 'target info for NTLMv2 clients');
    assert.equal(await srv.end(), 0);
  });

  it('ntlmssp-client-1: YR, PW request when no password, GF, bad lines', async () => {
    const cli = client(`${DOMAIN}\\alice`);
    assert.equal(await cli.ask('TT AAAA'), 'BH No handshake in progress (send YR first)');
    assert.equal(await cli.ask('YR'), 'PW', 'no password yet: the helper asks for it');
    assert.equal(await cli.ask(`PW ${Buffer.from(PASSWORD).toString('base64')}`), 'OK');
    const yr = await cli.next();
    assert.match(yr, /^YR /);
    const neg = parseNegotiateMessage(new Uint8Array(Buffer.from(yr.slice(3), 'base64')));
    assert.equal(await cli.ask('GF'), `GF 0x${(neg.NegotiateFlags >>> 0).toString(16).padStart(8, '0')}`);
    assert.equal(await cli.ask('TT notbase64!'), 'NA NT_STATUS_INVALID_PARAMETER');
    assert.equal(await cli.ask('TT AAAA'), 'BH No handshake in progress (send YR first)', 'the failed handshake ended');
    assert.match(await cli.ask('YR'), /^YR /, 'the password is kept for the next handshake');
    assert.equal(await cli.ask('YR AAAA'), 'NA NT_STATUS_INVALID_PARAMETER', 'a client cannot start from a server token');
    assert.equal(await cli.ask('PW !!'), 'BH Expected a password');
    assert.equal(await cli.end(), 0);
    assert.ok(!cli.allOut.includes(PASSWORD) && !cli.errText.includes(PASSWORD));
  });

  it('usage errors and a missing store', async () => {
    const cases: Array<[string[], number, RegExp]> = [
      [[], 2, /--helper-protocol is required/],
      [['--helper-protocol=gss-spnego'], 2, /not supported; supported: squid-2.5-ntlmssp, ntlmssp-client-1/],
      [['--helper-protocol=squid-2.5-ntlmssp', '--require-membership-of=S-1-5-32-544'], 2, /not supported/],
      [['--helper-protocol=ntlmssp-client-1'], 2, /needs --username/],
      [['--helper-protocol=squid-2.5-ntlmssp', '--password', 'x'], 2, /account store/],
      [['--helper-protocol=squid-2.5-ntlmssp', '--bogus'], 2, /unknown option --bogus/],
      [['--helper-protocol=squid-2.5-ntlmssp', '--store', join(tmpdir(), 'tslsa-no-such-dir-xyz', 'a.db')], 1, /tslsa user add/],
    ];
    for (const [argv, code, msg] of cases) {
      const err = new PassThrough();
      let text = '';
      err.setEncoding('utf8').on('data', (d: string) => (text += d));
      const got = await ntlmAuthCommand(argv, { stdin: Readable.from([]), stdout: new PassThrough(), stderr: err, env: {} });
      assert.equal(got, code, `${argv.join(' ')}: ${text}`);
      assert.match(text, msg);
    }
    // Command lines written for Samba keep working: its config options are accepted and ignored.
    const h = new Helper(['--helper-protocol=squid-2.5-ntlmssp', '--configfile=/etc/samba/smb.conf', '-d', '0', '--store', await makeStore()]);
    assert.equal(await h.ask('XX'), 'BH SPNEGO request invalid prefix');
    assert.equal(await h.end(), 0);
    // TSLSA_STORE selects the store as `tslsa user` does.
    const e = new Helper(['--helper-protocol=squid-2.5-ntlmssp'], { TSLSA_STORE: await makeStore() });
    assert.match(await e.ask('YR'), /^TT /);
    assert.equal(await e.end(), 0);
  });

  it('failure answers: NA with an NT status for refusals, BH for helper failures', () => {
    assert.equal(failureAnswer(new SspiError(SecurityStatus.SEC_E_LOGON_DENIED)), 'NA NT_STATUS_LOGON_FAILURE');
    assert.equal(failureAnswer(new SspiError(SecurityStatus.SEC_E_MESSAGE_ALTERED)), 'NA NT_STATUS_INVALID_PARAMETER');
    assert.equal(failureAnswer(new SspiError(SecurityStatus.SEC_E_BAD_BINDINGS)), 'NA NT_STATUS_BAD_BINDINGS');
    assert.equal(failureAnswer(new SspiError(SecurityStatus.SEC_E_INTERNAL_ERROR)), 'BH SEC_E_INTERNAL_ERROR');
    assert.equal(failureAnswer(new Error('secret detail')), 'BH Internal error');
  });

  it('as a process: each answer is flushed before the next request, exit 0 at EOF', async () => {
    const store = await makeStore();
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '-e', "import('./src/cli/main.ts').then((m) => m.main(process.argv.slice(1))).then((c) => { process.exitCode = c; })", '--', 'ntlm-auth', '--helper-protocol=squid-2.5-ntlmssp', '--store', store],
      { cwd: new URL('../..', import.meta.url).pathname, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const nextLine = () =>
      new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no answer from the process; stderr: ${err}`)), 20_000);
        const check = () => {
          const i = out.indexOf('\n');
          if (i < 0) return;
          const l = out.slice(0, i);
          out = out.slice(i + 1);
          clearTimeout(t);
          child.stdout.off('data', onData);
          resolve(l);
        };
        const onData = (d: string) => {
          out += d;
          check();
        };
        child.stdout.setEncoding('utf8').on('data', onData);
        check();
      });
    // stdin stays open: the answer must arrive without it closing.
    child.stdin.write('XX\n');
    assert.equal(await nextLine(), 'BH SPNEGO request invalid prefix');
    child.stdin.write('YR\n');
    assert.match(await nextLine(), /^TT [A-Za-z0-9+/=]+$/);
    const code = await new Promise<number | null>((resolve) => {
      child.once('close', (c) => resolve(c));
      child.stdin.end();
    });
    assert.equal(code, 0, err);
  });
});
