// Long fuzzing campaign for AES-CTS with the WebAssembly SIMD engine in its path (the properties of
// test/unit/crypto/aes.fuzz.test.ts, for longer). Part of `npm run fuzz`; alone:
//   FUZZ_SECONDS=120 node --import tsx test/fuzz/aes-campaign.ts   (FUZZ_SEED, FUZZ_ONLY as in runner.ts)
import { aesProperties } from './aes-properties.js';
import { defineCampaign, runIfMain } from './runner.js';

export const aesCampaign = defineCampaign('AES-CTS (SIMD engine and node:crypto)', aesProperties, async () => {});
await runIfMain(import.meta.url, aesCampaign);
