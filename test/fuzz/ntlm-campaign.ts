// Long fuzzing campaign for the NTLM package through SSPI (the properties of
// test/unit/packages/ntlm/package.fuzz.test.ts, for longer). Part of `npm run fuzz`; alone:
//   FUZZ_SECONDS=120 node --import tsx test/fuzz/ntlm-campaign.ts   (FUZZ_SEED, FUZZ_ONLY as in runner.ts)
import { closeWorld, ntlmPackageProperties } from './ntlm-properties.js';
import { defineCampaign, runIfMain } from './runner.js';

export const ntlmCampaign = defineCampaign('NTLM package (SSPI, real authority)', ntlmPackageProperties, closeWorld);
await runIfMain(import.meta.url, ntlmCampaign);
