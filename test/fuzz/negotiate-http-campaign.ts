// Long fuzzing campaign for the Negotiate package (SPNEGO through SSPI, with NTLM and Kerberos
// underneath), parked partial contexts, and the HTTP sign-on layer (the properties of
// test/unit/packages/negotiate/package.fuzz.test.ts, for longer). Alone:
//   FUZZ_SECONDS=120 node --import tsx test/fuzz/negotiate-http-campaign.ts   (FUZZ_SEED, FUZZ_ONLY as in runner.ts)
import { fileURLToPath } from 'node:url';
import { closeWorld, negotiateHttpProperties, rejections } from './negotiate-http-properties.js';
import { type CampaignOptions, type CampaignProperty, type CampaignSummary, optionsFromEnv, runCampaign } from './runner.js';

export function negotiateHttpCampaignProperties(): CampaignProperty[] {
  return negotiateHttpProperties();
}

export async function runNegotiateHttpCampaign(opts: CampaignOptions): Promise<CampaignSummary> {
  try {
    return await runCampaign('Negotiate package and HTTP sign-on (SSPI, NTLM + Kerberos, node:http)', negotiateHttpCampaignProperties(), opts);
  } finally {
    await closeWorld();
    // The HTTP properties fail on an unhandled rejection themselves; one after the last run still counts.
    if (rejections.length) console.log(`unhandled rejections: ${rejections.length}`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const s = await runNegotiateHttpCampaign(optionsFromEnv());
  console.log(s.failed ? `${s.failed} of ${s.properties} properties failed` : `all ${s.properties} properties held (${s.runs} runs)`);
  process.exitCode = s.failed ? 1 : 0;
}
