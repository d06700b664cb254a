// npm run bench: tslsa's figures as JSON lines (stdout) in the shape the C peer benchmarks print,
// progress on stderr. Knobs: DUR, WARM (handshakes), WDUR, WWARM (per size), SIZES, ONLY
// (groups as the peer run names them: ntlm, krb5 (handshakes through the package, and the bare AP-REQ), wrap (krb5 per-message), node (ceilings)),
// WRAP_ENCTYPES (enctype numbers for the wrap group; default 18 19).
// ONLY=http (not in the default: it starts a realm, Apache and tslsa serve, ~70 s) is the HTTP
// sign-on benchmark against Apache httpd + mod_auth_gssapi (bench/http.ts, knobs CONC, NODES,
// SERVER_WARM: seconds of untimed load per server before timing, default 3, the same for Apache;
// HTTP_ROUNDS: every server that many times, interleaved, with the median ratio to Apache).
import { benchKerberosHandshake, benchKerberosPackageHandshake, benchKerberosWrap, benchNodeCeiling } from './kerberos.js';
import { benchNtlm } from './ntlm.js';

const num = (k: string, d: number) => (process.env[k] ? Number(process.env[k]) : d);
const opts = {
  dur: num('DUR', 3),
  warm: num('WARM', 0.5),
  wdur: num('WDUR', 1),
  wwarm: num('WWARM', 0.2),
  sizes: (process.env.SIZES ?? '16 1024 65536 1048576').split(/\s+/).filter(Boolean).map(Number),
};
const only = new Set((process.env.ONLY ?? 'ntlm krb5 wrap node').split(/\s+/).filter(Boolean));

if (only.has('ntlm')) {
  process.stderr.write('tslsa ntlm\n');
  await benchNtlm(opts);
}
if (only.has('krb5')) {
  process.stderr.write('tslsa krb5 handshakes (package, LSA) and AP-REQ\n');
  await benchKerberosPackageHandshake(opts);
  await benchKerberosHandshake(opts);
}
if (only.has('wrap')) {
  process.stderr.write('tslsa krb5 wrap/MIC\n');
  const ets = process.env.WRAP_ENCTYPES?.split(/\s+/).filter(Boolean).map(Number);
  await benchKerberosWrap({ ...opts, ...(ets ? { enctypes: ets } : {}) });
}
if (only.has('node')) {
  process.stderr.write('node:crypto ceilings\n');
  await benchNodeCeiling(opts);
}
if (only.has('http')) {
  process.stderr.write('HTTP sign-on: tslsa serve vs Apache httpd + mod_auth_gssapi\n');
  const { benchHttp, httpOptionsFromEnv } = await import('./http.js');
  await benchHttp({ ...httpOptionsFromEnv(), dur: opts.dur, warm: opts.warm });
}
