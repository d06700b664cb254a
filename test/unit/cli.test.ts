import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';
import { run } from '../interop/lib/proc.js';

function sink(): Writable & { text: string } {
  const w = new Writable({ write(chunk, _e, cb) { (w as any).text += chunk.toString(); cb(); } }) as Writable & { text: string };
  w.text = '';
  return w;
}

async function cli(...args: string[]) {
  const out = sink();
  const err = sink();
  const code = await main(args, out, err);
  return { code, out: out.text, err: err.text };
}

const toyModule = fileURLToPath(new URL('./lsa/fixtures/toy-module.ts', import.meta.url));
const MAIN = new URL('../../src/cli/main.ts', import.meta.url).href;

/** `tslsa packages` in a child whose stdout reader is gone before it writes; with or without the bin script's guard. */
function packagesIntoClosedPipe(guard: boolean): Promise<{ code: number | null; err: string }> {
  const script = `const m = await import(${JSON.stringify(MAIN)}); ${guard ? 'm.toleratePipeClose();' : ''} process.exitCode = await m.main(['packages']);`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, err }));
  });
}

/** The npm packages a `tslsa ARGS` run loaded (CommonJS ones, as undici and redis are). */
async function packagesLoadedBy(args: string[]): Promise<string[]> {
  const script = `
    const { Writable } = await import('node:stream');
    const { createRequire } = await import('node:module');
    const sink = new Writable({ write(_c, _e, cb) { cb(); } });
    await (await import(${JSON.stringify(MAIN)})).main(${JSON.stringify(args)}, sink, sink);
    const names = Object.keys(createRequire(import.meta.url).cache).filter((k) => k.includes('/node_modules/')).map((k) => k.split('/node_modules/').pop().split('/')[0]);
    process.stdout.write(JSON.stringify([...new Set(names)]));`;
  const r = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, KRB5CCNAME: 'FILE:/nonexistent/tslsa-cache' } });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as string[];
}

describe('tslsa CLI', () => {
  it('loads only the modules of the command run: klist, packages and --version start without the HTTP client', async () => {
    for (const args of [['--version'], ['klist'], ['packages']]) assert.ok(!(await packagesLoadedBy(args)).includes('undici'), `tslsa ${args.join(' ')} loaded undici`);
    assert.ok((await packagesLoadedBy(['fetch', '--help'])).includes('undici'), 'the check sees undici when fetch loads it');
  });

  it('a reader that goes away (| head) ends the output quietly, not with an EPIPE crash', async () => {
    const bare = await packagesIntoClosedPipe(false);
    assert.notEqual(bare.code, 0, 'without the guard Node crashes on the unhandled EPIPE');
    assert.match(bare.err, /EPIPE/);
    const guarded = await packagesIntoClosedPipe(true);
    assert.equal(guarded.code, 0, guarded.err);
    assert.equal(guarded.err, '');
  });

  it('prints help and version', async () => {
    const h = await cli('--help');
    assert.equal(h.code, 0);
    assert.match(h.out, /tslsa packages/);
    const v = await cli('--version');
    assert.match(v.out, /^tslsa \d+\.\d+\.\d+/);
  });

  it('fails with a message on stderr and a non-zero code', async () => {
    const r = await cli('frobnicate');
    assert.equal(r.code, 2);
    assert.match(r.err, /unknown command/);
    assert.equal(r.out, '');
    const m = await cli('packages', '--load', '/nonexistent/pkg.js');
    assert.notEqual(m.code, 0);
    assert.match(m.err, /cannot load package module/);
  });

  it('lists a third-party package loaded through SpLsaModeInitialize, as text and JSON', async () => {
    const t = await cli('packages', '--load', toyModule);
    assert.equal(t.code, 0, t.err);
    assert.match(t.out, /^Toy$/m);
    assert.match(t.out, /^NTLM$/m);
    assert.match(t.out, /capabilities: 0x00000813 INTEGRITY \| PRIVACY \| CONNECTION \| NEGOTIABLE/);
    const j = await cli('packages', '--json', '--load', toyModule);
    const list = JSON.parse(j.out) as Array<Record<string, unknown>>;
    const toy = list.find((p) => p.name === 'Toy')!;
    assert.deepEqual(toy.capabilities, ['INTEGRITY', 'PRIVACY', 'CONNECTION', 'NEGOTIABLE']);
    assert.equal(toy.rpcIdName, 'SECPKG_ID_NONE');
    assert.equal(toy.maxToken, 128);
  });

  it('decodes an NTLM token from base64, hex or a header, as text and JSON, and fails cleanly on garbage', async () => {
    // A curl-shaped 32-byte NEGOTIATE (OEM, no VERSION).
    const neg = Buffer.from('4e544c4d5353500001000000068208a000000000000000000000000000000000', 'hex');
    const t = await cli('decode', `NTLM ${neg.toString('base64')}`);
    assert.equal(t.code, 0, t.err);
    assert.match(t.out, /NEGOTIATE/);
    assert.match(t.out, /NTLMSSP_NEGOTIATE_NTLM/);
    const j = await cli('decode', neg.toString('hex'), '--json');
    assert.equal(j.code, 0);
    assert.ok(JSON.stringify(JSON.parse(j.out)).includes('NEGOTIATE'));
    const bad = await cli('decode', 'bm90IGEgdG9rZW4=');
    assert.equal(bad.code, 1);
    assert.match(bad.err, /SEC_E_INVALID_TOKEN/);
    assert.equal((await cli('decode')).code, 2);
  });
});
