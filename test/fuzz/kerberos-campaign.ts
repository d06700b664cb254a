// Long fuzzing campaign for the Kerberos package through SSPI (the properties of
// test/unit/packages/kerberos/package.fuzz.test.ts, for longer). Alone:
//   FUZZ_SECONDS=120 node --import tsx test/fuzz/kerberos-campaign.ts   (FUZZ_SEED, FUZZ_ONLY as in runner.ts)
import { fileURLToPath } from 'node:url';
import { closeWorld, kerberosPackageProperties } from './kerberos-properties.js';
import { type CampaignOptions, type CampaignProperty, type CampaignSummary, optionsFromEnv, runCampaign } from './runner.js';

export function kerberosCampaignProperties(): CampaignProperty[] {
  return kerberosPackageProperties();
}

export async function runKerberosCampaign(opts: CampaignOptions): Promise<CampaignSummary> {
  try {
    return await runCampaign('Kerberos package (SSPI, keytab and in-process KDC)', kerberosCampaignProperties(), opts);
  } finally {
    await closeWorld();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const s = await runKerberosCampaign(optionsFromEnv());
  console.log(s.failed ? `${s.failed} of ${s.properties} properties failed` : `all ${s.properties} properties held (${s.runs} runs)`);
  process.exitCode = s.failed ? 1 : 0;
}
