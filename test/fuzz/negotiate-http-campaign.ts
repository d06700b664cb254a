// Long fuzzing campaign for the Negotiate package (SPNEGO through SSPI, with NTLM and Kerberos
// underneath), parked partial contexts, and the HTTP sign-on layer (the properties of
// test/unit/packages/negotiate/package.fuzz.test.ts, for longer). Part of `npm run fuzz`; alone:
//   FUZZ_SECONDS=120 node --import tsx test/fuzz/negotiate-http-campaign.ts   (FUZZ_SEED, FUZZ_ONLY as in runner.ts)
import { closeWorld, negotiateHttpProperties, rejections } from './negotiate-http-properties.js';
import { defineCampaign, runIfMain } from './runner.js';

export const negotiateHttpCampaign = defineCampaign('Negotiate package and HTTP sign-on (SSPI, NTLM + Kerberos, node:http)', negotiateHttpProperties, async () => {
  await closeWorld();
  // The HTTP properties fail on an unhandled rejection themselves; one after the last run still counts.
  if (rejections.length) console.log(`unhandled rejections: ${rejections.length}`);
});
await runIfMain(import.meta.url, negotiateHttpCampaign);
