// Long fuzzing campaign for the Kerberos package through SSPI (the properties of
// test/unit/packages/kerberos/package.fuzz.test.ts, for longer). Part of `npm run fuzz`; alone:
//   FUZZ_SECONDS=120 node --import tsx test/fuzz/kerberos-campaign.ts   (FUZZ_SEED, FUZZ_ONLY as in runner.ts)
import { closeWorld, kerberosPackageProperties } from './kerberos-properties.js';
import { defineCampaign, runIfMain } from './runner.js';

export const kerberosCampaign = defineCampaign('Kerberos package (SSPI, keytab and in-process KDC)', kerberosPackageProperties, closeWorld);
await runIfMain(import.meta.url, kerberosCampaign);
