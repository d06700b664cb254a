// `npm run fuzz`: every fuzzing campaign for a time budget, then a summary.
//   FUZZ_SECONDS  total budget (default 60), split equally between the campaigns
//   FUZZ_SEED     fixed seed, to reproduce a failure printed by an earlier run
//   FUZZ_ONLY     only properties whose name contains this text
// Campaigns: the DER layer and Kerberos ASN.1 codecs (same properties as der-campaign.ts, which
// runs by count instead of time), the NTLM package through SSPI (ntlm-campaign.ts), the
// Kerberos package through SSPI with its non-DER parsers (kerberos-campaign.ts), Negotiate,
// parked handshakes and the HTTP sign-on layer (negotiate-http-campaign.ts), and AES-CTS with the
// SIMD engine against node:crypto (aes-campaign.ts).
import { derProperties } from '../unit/der/der.properties.js';
import { kerberosProperties } from '../unit/packages/kerberos/asn1.properties.js';
import { aesCampaign } from './aes-campaign.js';
import { kerberosCampaign } from './kerberos-campaign.js';
import { negotiateHttpCampaign } from './negotiate-http-campaign.js';
import { ntlmCampaign } from './ntlm-campaign.js';
import { type CampaignSummary, optionsFromEnv, runCampaign } from './runner.js';

const opts = optionsFromEnv();
const der = [...derProperties(), ...kerberosProperties()];
const matching = (names: string[]) => names.filter((n) => !opts.only || n.includes(opts.only)).length;
const derN = matching(der.map(([n]) => n));
const packages = ([['NTLM package', ntlmCampaign], ['Kerberos package', kerberosCampaign], ['Negotiate + HTTP', negotiateHttpCampaign], ['AES-CTS', aesCampaign]] as const)
  .filter(([, c]) => matching(c.properties().map(([n]) => n)) > 0);
const share = opts.seconds / Math.max(1, (derN ? 1 : 0) + packages.length);
const t0 = performance.now();
const results: Array<[string, CampaignSummary]> = [];
if (derN) results.push(['DER + Kerberos ASN.1', await runCampaign('DER + Kerberos ASN.1', der, { ...opts, seconds: share })]);
for (const [name, c] of packages) results.push([name, await c.run({ ...opts, seconds: share })]);
console.log(`\nsummary (${((performance.now() - t0) / 1000).toFixed(1)} s):`);
let failed = 0;
for (const [name, s] of results) {
  failed += s.failed;
  console.log(`  ${name.padEnd(22)} ${s.properties} properties, ${s.runs} runs, ${s.failed ? `${s.failed} FAILED` : 'all held'}`);
}
process.exitCode = failed ? 1 : 0;
