// Debian's Firefox ESR, headless, as a browser of the interop tests. `--screenshot` loads one page
// (signing on as the page asks) and exits: what the browser did is read from the server's log, not
// from the picture. Each profile is a fresh directory with its own user.js and certificate store.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeFailure, requireBinaries, run, runChecked } from './proc.js';

export const FIREFOX = 'firefox-esr';

/** Fails (never skips) when Firefox or NSS's certutil is not installed. */
export function requireFirefox(): void {
  requireBinaries([FIREFOX, 'certutil']);
}

export interface FirefoxProfile {
  dir: string;
}

/**
 * A new profile with these preferences (e.g. network.negotiate-auth.trusted-uris), plus the ones
 * that keep Firefox from reaching for the network on its own at start-up.
 */
export function firefoxProfile(parent: string, prefs: Record<string, string | boolean | number>): FirefoxProfile {
  const dir = mkdtempSync(join(parent, 'firefox-profile-'));
  const all: Record<string, string | boolean | number> = {
    'browser.shell.checkDefaultBrowser': false,
    'app.update.enabled': false,
    'datareporting.policy.dataSubmissionEnabled': false,
    'toolkit.telemetry.reportingpolicy.firstRun': false,
    'network.captive-portal-service.enabled': false,
    'network.connectivity-service.enabled': false,
    'browser.safebrowsing.update.enabled': false,
    ...prefs,
  };
  writeFileSync(join(dir, 'user.js'), Object.entries(all).map(([k, v]) => `user_pref(${JSON.stringify(k)}, ${JSON.stringify(v)});\n`).join(''));
  return { dir };
}

/** Trusts a CA (PEM file) for websites in this profile's own NSS database. */
export async function trustCa(profile: FirefoxProfile, caPem: string): Promise<void> {
  await runChecked('certutil', ['-N', '-d', `sql:${profile.dir}`, '--empty-password']);
  await runChecked('certutil', ['-A', '-d', `sql:${profile.dir}`, '-n', 'tslsa test CA', '-t', 'C,,', '-i', caPem]);
}

/** Loads `url` once in headless Firefox with `profile`; `env` carries KRB5_CONFIG and KRB5CCNAME. */
export async function loadInFirefox(url: string, profile: FirefoxProfile, env: NodeJS.ProcessEnv): Promise<void> {
  const shot = join(profile.dir, `page-${Date.now()}.png`);
  const r = await run(FIREFOX, ['--headless', '--no-remote', '--profile', profile.dir, '--screenshot', shot, url], {
    // Its own HOME: Firefox writes under it even with --profile.
    env: { ...env, HOME: profile.dir, MOZ_CRASHREPORTER_DISABLE: '1' },
    timeoutMs: 60_000,
  });
  if (r.code !== 0) throw new Error(`firefox failed: ${describeFailure(r)}`);
}
