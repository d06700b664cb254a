// Runs fast-check properties for a time budget each and prints one line per property and a
// summary: the shared runner of campaign.ts and the per-package campaigns (*-campaign.ts).
import { fileURLToPath } from 'node:url';
import * as fc from 'fast-check';
import { checkSettled } from './settle.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type CampaignProperty = [name: string, prop: fc.IRawProperty<any, boolean>];

export interface CampaignOptions {
  /** Total budget in seconds, shared equally by the properties. */
  seconds: number;
  /** Fixed seed (reproduce a failure); default a fresh one per property. */
  seed?: number;
  /** Only properties whose name contains this. */
  only?: string;
}

export interface CampaignSummary {
  properties: number;
  failed: number;
  runs: number;
}

/** FUZZ_SECONDS (default 60), FUZZ_SEED and FUZZ_ONLY from the environment. */
export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): CampaignOptions {
  const seconds = env.FUZZ_SECONDS === undefined ? 60 : Number(env.FUZZ_SECONDS);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new Error(`FUZZ_SECONDS must be a positive number, not '${env.FUZZ_SECONDS}'`);
  const seed = env.FUZZ_SEED === undefined ? undefined : Number(env.FUZZ_SEED);
  if (seed !== undefined && !Number.isSafeInteger(seed)) throw new Error('FUZZ_SEED must be an integer');
  return { seconds, ...(seed !== undefined ? { seed } : {}), ...(env.FUZZ_ONLY ? { only: env.FUZZ_ONLY } : {}) };
}

export async function runCampaign(title: string, all: CampaignProperty[], opts: CampaignOptions): Promise<CampaignSummary> {
  const props = all.filter(([name]) => !opts.only || name.includes(opts.only));
  const perMs = Math.max(50, Math.floor((opts.seconds * 1000) / Math.max(1, props.length)));
  console.log(`${title}: ${props.length} properties, ${(perMs / 1000).toFixed(1)} s each`);
  let failed = 0;
  let runs = 0;
  for (const [name, prop] of props) {
    const seed = opts.seed ?? (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
    const t0 = performance.now();
    const r = await checkSettled(prop, { numRuns: Number.MAX_SAFE_INTEGER, interruptAfterTimeLimit: perMs, markInterruptAsFailure: false, seed, timeout: 10_000, includeErrorInReport: true });
    const ms = (performance.now() - t0).toFixed(0);
    runs += r.numRuns;
    if (r.failed) {
      failed++;
      console.log(`FAIL ${name} (seed ${seed}, ${r.numRuns} runs, ${ms} ms)\n${fc.defaultReportMessage(r) ?? ''}`);
    } else {
      console.log(`ok   ${name} (${r.numRuns} runs, seed ${seed}, ${ms} ms)`);
    }
  }
  return { properties: props.length, failed, runs };
}

/** A package campaign: its properties over a world that `close` tears down after the run. */
export interface Campaign {
  title: string;
  properties: () => CampaignProperty[];
  run(opts: CampaignOptions): Promise<CampaignSummary>;
}

export function defineCampaign(title: string, properties: () => CampaignProperty[], close: () => Promise<void>): Campaign {
  return {
    title,
    properties,
    async run(opts) {
      try {
        return await runCampaign(title, properties(), opts);
      } finally {
        await close();
      }
    },
  };
}

/** Runs `c` with the FUZZ_* settings when `moduleUrl` is the script node was started with. */
export async function runIfMain(moduleUrl: string, c: Campaign): Promise<void> {
  if (!process.argv[1] || fileURLToPath(moduleUrl) !== process.argv[1]) return;
  const s = await c.run(optionsFromEnv());
  console.log(s.failed ? `${s.failed} of ${s.properties} properties failed` : `all ${s.properties} properties held (${s.runs} runs)`);
  process.exitCode = s.failed ? 1 : 0;
}
