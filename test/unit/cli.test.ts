import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';

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

describe('tslsa CLI', () => {
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
});
