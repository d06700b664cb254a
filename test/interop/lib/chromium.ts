// Debian's Chromium, headless, as the browser of the interop tests: one process per page load
// (--dump-dom prints the DOM once the page has loaded, then Chromium exits), each with a fresh
// profile, so no credentials, cookies or connections carry over from one load to the next.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanEnv } from './realm.js';
import { describeFailure, requireBinary, run } from './proc.js';

export const CHROMIUM = 'chromium';

export interface PageLoad {
  /** The DOM as Chromium serialized it ('' when the load failed). */
  dom: string;
  /** The net error of a failed load ('ERR_INVALID_AUTH_CREDENTIALS'...), null when it loaded. */
  error: string | null;
  stderr: string;
}

/** Fails (never skips) when Chromium is not installed. */
export function requireChromium(): void {
  requireBinary(CHROMIUM);
}

export interface LoadOptions {
  dir: string;
  extra?: readonly string[];
  env?: NodeJS.ProcessEnv;
  /**
   * Let Negotiate reach GSSAPI. On Linux Chromium loads the GSSAPI library only once its local
   * state says a Negotiate challenge was seen before (net.received_http_auth_negotiate_headers,
   * set the first time one arrives and read at the next start); until then it answers Negotiate
   * with ERR_UNSUPPORTED_AUTH_SCHEME. A fresh profile starts with that state already set, as a
   * desktop's profile has it after its first Negotiate site. Servers still need
   * --auth-server-allowlist.
   */
  negotiate?: boolean;
  /**
   * Kerberos delegation (implies `negotiate`): forward the TGT to servers matching `allowlist`, or
   * with `byKdcPolicy` only to those among them the realm marks OK-AS-DELEGATE. These are the
   * AuthNegotiateDelegateAllowlist and AuthNegotiateDelegateByKdcPolicy policies, written to the
   * local state (auth.negotiate_delegate_whitelist, auth.negotiate_delegate_by_kdc_policy):
   * Chromium 156 has no command-line switch for them.
   */
  delegate?: { allowlist: string; byKdcPolicy?: boolean };
}

/**
 * Loads `url` in headless Chromium. Running as root needs --no-sandbox; the other switches keep it
 * off the network (this machine has none beyond loopback) so that only the page is fetched.
 */
export async function loadPage(url: string, opts: LoadOptions): Promise<PageLoad> {
  const profile = mkdtempSync(join(opts.dir, 'chromium-profile-'));
  if (opts.negotiate || opts.delegate) {
    const auth = opts.delegate ? { auth: { negotiate_delegate_whitelist: opts.delegate.allowlist, negotiate_delegate_by_kdc_policy: opts.delegate.byKdcPolicy ?? false } } : {};
    writeFileSync(join(profile, 'Local State'), JSON.stringify({ net: { received_http_auth_negotiate_headers: true }, ...auth }));
  }
  const args = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-default-apps', `--user-data-dir=${profile}`,
    ...(opts.extra ?? []), '--dump-dom', url,
  ];
  const r = await run(CHROMIUM, args, { env: opts.env ?? cleanEnv(), timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`chromium failed: ${describeFailure(r)}`);
  const error = /Page load failed: net::(ERR_\w+)/.exec(r.stderr)?.[1] ?? null;
  // Without a session bus or a screen saver service Chromium logs a page of D-Bus failures: noise.
  const stderr = r.stderr.split('\n').filter((l) => !/dbus|D-Bus|Fontconfig|unexpected operator/.test(l)).join('\n');
  return { dom: r.stdout, error, stderr };
}

/** The JSON document of a page Chromium shows as text (its viewer puts the body in a <pre>). */
export function jsonOf(page: PageLoad): Record<string, unknown> {
  const m = /<pre[^>]*>([\s\S]*?)<\/pre>/.exec(page.dom);
  if (!m) throw new Error(`no JSON document in the page (${page.error ?? 'loaded'}): ${page.dom.slice(0, 300)}`);
  const text = m[1]!.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');
  return JSON.parse(text) as Record<string, unknown>;
}
