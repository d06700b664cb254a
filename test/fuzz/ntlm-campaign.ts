// Long fuzzing campaign for the NTLM package through SSPI (the properties of
// test/unit/packages/ntlm/package.fuzz.test.ts, for longer). Part of `npm run fuzz`; alone:
//   FUZZ_SECONDS=120 node --import tsx test/fuzz/ntlm-campaign.ts   (FUZZ_SEED, FUZZ_ONLY as in runner.ts)
import { fileURLToPath } from 'node:url';
import { closeWorld, ntlmPackageProperties } from './ntlm-properties.js';
import { type CampaignOptions, type CampaignProperty, type CampaignSummary, optionsFromEnv, runCampaign } from './runner.js';

export function ntlmCampaignProperties(): CampaignProperty[] {
  return ntlmPackageProperties();
}

export async function runNtlmCampaign(opts: CampaignOptions): Promise<CampaignSummary> {
  try {
    return await runCampaign('NTLM package (SSPI, real authority)', ntlmCampaignProperties(), opts);
  } finally {
    await closeWorld();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const s = await runNtlmCampaign(optionsFromEnv());
  console.log(s.failed ? `${s.failed} of ${s.properties} properties failed` : `all ${s.properties} properties held (${s.runs} runs)`);
  process.exitCode = s.failed ? 1 : 0;
}
