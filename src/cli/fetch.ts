// `tslsa fetch`: an HTTP request that answers Negotiate/NTLM challenges (the client of `tslsa serve`).
//
//   tslsa fetch URL [-u DOMAIN\USER] [--password-stdin] [-X METHOD] [-d DATA] [-H 'K: V']...
//               [-i] [--package Negotiate|NTLM] [--spn SPN] [--insecure] [-x|--proxy URL]
//               [--delegation none|policy|always] [--kerberos-only] [-v]

import { readFileSync } from 'node:fs';
import { createFetch, type AuthPackage, type PasswordCredentials, type SignOnEvent } from '../http/client.js';
import { createLsa } from '../lsa/host.js';
import { builtinPackages } from '../packages/index.js';
import { SspiError } from '../sspi/error.js';
import { UsageError } from './args.js';
import { readPasswordLine } from './user.js';

export interface FetchCommandIO {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Where https_proxy, http_proxy and no_proxy come from; default process.env. */
  env?: NodeJS.ProcessEnv;
}

export const FETCH_HELP = `Usage: tslsa fetch URL [options]

Sends one HTTP request and answers Negotiate/NTLM (401) and proxy (407) challenges.
Without -u the LSA's default credentials are used (a Kerberos ccache).

Options:
  -u DOMAIN\\USER       the account (also USER@DOMAIN); with --password-stdin
  --password-stdin     read the password from the first line of stdin
  -X METHOD            the method (default GET, or POST with -d)
  -d DATA              the request body (@FILE reads a file)
  -H 'Name: value'     a request header (repeatable)
  -i                   print the status line and response headers before the body
  -v                   tell on stderr how each sign-on went: the package (Kerberos or NTLM),
                       the target name and whether the authentication was mutual
  --package P          Negotiate or NTLM (default: Negotiate, then NTLM)
  --kerberos-only      sign on with Kerberos or not at all: no NTLM token is ever sent
  --spn SPN            the target name (default HTTP/<host>)
  --insecure           do not verify the server certificate
  -x, --proxy URL      an http:// forward proxy, signed on to on 407 (https URLs go through a
                       CONNECT tunnel); default $https_proxy (HTTPS_PROXY) or $http_proxy by the
                       URL's scheme, unless $no_proxy (NO_PROXY) names the host; '' for none
  --delegation LEVEL   forward your Kerberos TGT to the server, as curl: none (default), policy
                       (only to a service the realm trusts for delegation: OK-AS-DELEGATE, as
                       Windows) or always; never to a proxy
Exit status: 0 for HTTP < 400, 1 for HTTP >= 400 or a failed authentication, 2 for usage errors.
`;

const VALUE = new Set(['u', 'X', 'd', 'H', 'package', 'spn', 'x', 'proxy', 'delegation']);
const FLAGS = new Set(['password-stdin', 'i', 'v', 'kerberos-only', 'insecure', 'help', 'h']);

interface FetchArgs {
  url: string;
  user?: string;
  passwordStdin: boolean;
  method?: string;
  data?: string;
  headers: Array<[string, string]>;
  include: boolean;
  verbose: boolean;
  kerberosOnly: boolean;
  pkg?: AuthPackage;
  spn?: string;
  insecure: boolean;
  /** --proxy as given ('' turns the environment's off). */
  proxy?: string;
  delegation: 'none' | 'policy' | 'always';
  help: boolean;
}

function parse(argv: readonly string[]): FetchArgs {
  const a: FetchArgs = { url: '', passwordStdin: false, headers: [], include: false, verbose: false, kerberosOnly: false, insecure: false, help: false, delegation: 'none' };
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = arg.replace(/^--?/, '').slice(0, eq > 0 ? eq - 2 : undefined);
    if (FLAGS.has(name)) {
      if (name === 'password-stdin') a.passwordStdin = true;
      else if (name === 'i') a.include = true;
      else if (name === 'v') a.verbose = true;
      else if (name === 'kerberos-only') a.kerberosOnly = true;
      else if (name === 'insecure') a.insecure = true;
      else a.help = true;
      continue;
    }
    // Only the option's name is echoed: what follows it may be a secret typed in the wrong place.
    if (!VALUE.has(name)) throw new UsageError(`fetch: unknown option ${arg.startsWith('--') ? arg.slice(0, eq > 0 ? eq : undefined) : arg.slice(0, 2)}`);
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new UsageError(`fetch: ${arg} needs a value`);
    switch (name) {
      case 'u':
        a.user = value;
        break;
      case 'X':
        a.method = value.toUpperCase();
        break;
      case 'd':
        a.data = value;
        break;
      case 'H': {
        const c = value.indexOf(':');
        if (c <= 0) throw new UsageError(`fetch: -H wants 'Name: value' (the one given has no name before a colon)`);
        a.headers.push([value.slice(0, c).trim(), value.slice(c + 1).trim()]);
        break;
      }
      case 'package': {
        const p = value.toLowerCase();
        if (p !== 'negotiate' && p !== 'ntlm') throw new UsageError('fetch: --package is Negotiate or NTLM');
        a.pkg = p === 'ntlm' ? 'NTLM' : 'Negotiate';
        break;
      }
      case 'spn':
        a.spn = value;
        break;
      case 'x':
      case 'proxy':
        a.proxy = value;
        break;
      case 'delegation':
        if (value !== 'none' && value !== 'policy' && value !== 'always') throw new UsageError('fetch: --delegation is none, policy or always');
        a.delegation = value;
        break;
    }
  }
  if (a.help) return a;
  if (a.kerberosOnly && a.pkg === 'NTLM') throw new UsageError('fetch: --kerberos-only and --package NTLM contradict each other');
  if (positionals.length !== 1) throw new UsageError('fetch: give exactly one URL (see tslsa fetch --help)');
  a.url = positionals[0]!;
  return a;
}

/** One -v line: "* signed on to ORIGIN with Negotiate (Kerberos) for HTTP/host: 1 leg, mutual authentication". */
export function describeSignOn(e: SignOnEvent): string {
  const to = e.kind === 'proxy' ? `the proxy ${e.origin}` : e.origin;
  const via = e.scheme.toLowerCase() === e.package.toLowerCase() ? e.scheme : `${e.scheme} (${e.package})`;
  return `* signed on to ${to} with ${via} for ${e.target}: ${e.legs} leg${e.legs === 1 ? '' : 's'}, ${e.mutual ? 'mutual authentication' : 'no mutual authentication'}`;
}

function account(name: string, password: string): PasswordCredentials {
  const bs = name.indexOf('\\');
  if (bs >= 0) return { domain: name.slice(0, bs), user: name.slice(bs + 1), password };
  const at = name.lastIndexOf('@');
  if (at > 0) return { user: name.slice(0, at), domain: name.slice(at + 1), password };
  return { user: name, password };
}

/**
 * The proxy for `url`: --proxy, else the environment as curl reads it (https_proxy or HTTPS_PROXY
 * for https, only the lower-case http_proxy for http, since a request header can set HTTP_PROXY in
 * CGI), unless no_proxy names the host ('*', the host, or a domain it is under). Null: none.
 */
function proxyFor(url: URL, given: string | undefined, env: NodeJS.ProcessEnv): URL | null {
  let raw = given;
  if (raw === undefined) {
    const noProxy = (env.no_proxy ?? env.NO_PROXY ?? '').split(',').map((h) => h.trim().toLowerCase().replace(/^\./, '')).filter(Boolean);
    const host = url.hostname.toLowerCase().replace(/^\[|\]$/g, '');
    if (noProxy.some((h) => h === '*' || host === h || host.endsWith(`.${h}`))) return null;
    raw = url.protocol === 'https:' ? (env.https_proxy ?? env.HTTPS_PROXY) : env.http_proxy;
  }
  if (!raw) return null;
  let proxy: URL;
  try {
    proxy = new URL(raw.includes('://') ? raw : `http://${raw}`);
  } catch {
    throw new UsageError('fetch: the proxy is not a URL (http://host:port)');
  }
  if (proxy.protocol !== 'http:') throw new UsageError('fetch: the proxy must be an http:// URL');
  if (proxy.username || proxy.password) throw new UsageError('fetch: the proxy URL carries a user name or password; the -u account signs on to the proxy too');
  return proxy;
}

/** The innermost useful message of a fetch failure (undici wraps errors in TypeError('fetch failed')). */
function reason(e: unknown): Error {
  let c: unknown = e;
  while (c instanceof Error && !(c instanceof SspiError) && c.cause instanceof Error) c = c.cause;
  return c instanceof Error ? c : new Error(String(e));
}

export async function fetchCommand(argv: readonly string[], io: FetchCommandIO): Promise<number> {
  const a = parse(argv);
  if (a.help) {
    io.stdout.write(FETCH_HELP);
    return 0;
  }
  let url: URL;
  try {
    url = new URL(a.url);
  } catch {
    throw new UsageError('fetch: the argument is not a URL (http://host/path or https://host/path)');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError('fetch: only http: and https: URLs');
  // Never echoed: the URL would carry the password into logs.
  if (url.username || url.password) throw new UsageError('fetch: the URL carries a user name or password; use -u DOMAIN\\USER --password-stdin (passwords are never taken from the command line)');
  if (a.passwordStdin && a.user === undefined) throw new UsageError('fetch: --password-stdin needs -u');
  if (a.user !== undefined && !a.passwordStdin) throw new UsageError('fetch: -u needs --password-stdin (passwords are never taken from the command line)');
  const proxy = proxyFor(url, a.proxy, io.env ?? process.env);
  const credentials = a.user !== undefined ? account(a.user, await readPasswordLine(io.stdin)) : 'default';
  const body = a.data === undefined ? undefined : a.data.startsWith('@') ? readFileSync(a.data.slice(1)) : a.data;
  // 'always' needs a Kerberos package that forwards the TGT to any service (its default is policy).
  const lsa = a.delegation === 'always' ? await createLsa({ packages: await builtinPackages({ kerberos: { delegation: 'always' } }) }) : null;
  const f = createFetch({
    credentials,
    ...(a.delegation !== 'none' ? { delegate: true } : {}),
    ...(lsa ? { lsa } : {}),
    ...(a.pkg ? { packages: [a.pkg] } : {}),
    ...(a.kerberosOnly ? { kerberosOnly: true } : {}),
    ...(a.spn ? { spn: a.spn } : {}),
    ...(a.insecure ? { connect: { rejectUnauthorized: false } } : {}),
    ...(proxy ? { proxy } : {}),
    ...(a.verbose ? { onSignOn: (e: SignOnEvent) => io.stderr.write(`${describeSignOn(e)}\n`) } : {}),
  });
  try {
    let res;
    try {
      res = await f(url, { method: a.method ?? (body !== undefined ? 'POST' : 'GET'), headers: a.headers, ...(body !== undefined ? { body } : {}), redirect: 'manual' });
    } catch (e) {
      const r = reason(e);
      io.stderr.write(`tslsa: fetch ${url.href} failed: ${r.message}\n`);
      return 1;
    }
    if (a.include) {
      let head = `HTTP/1.1 ${res.status} ${res.statusText}\r\n`;
      res.headers.forEach((v, k) => (head += `${k}: ${v}\r\n`));
      io.stdout.write(head + '\r\n');
    }
    const bytes = new Uint8Array(await res.arrayBuffer());
    await new Promise<void>((resolve, reject) => io.stdout.write(bytes, (e) => (e ? reject(e) : resolve())));
    if (res.status >= 400) {
      const auth = res.status === 401 || res.status === 407 ? ' (authentication was refused)' : '';
      io.stderr.write(`tslsa: HTTP ${res.status} ${res.statusText}${auth}\n`);
      return 1;
    }
    return 0;
  } finally {
    await f.close();
    await lsa?.shutdown();
  }
}
