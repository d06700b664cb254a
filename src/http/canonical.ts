// A host's canonical name, for the SPN of a site reached through an alias: what getaddrinfo's
// AI_CANONNAME gives MIT Kerberos with the usual "hosts: files dns", so the hosts file first (the
// official name of the line that lists the name), then the end of the name's CNAME chain in DNS.
// No reverse lookup (MIT's rdns): a PTR record names whatever its owner likes.

import dns from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';

/** How long a looked-up name is reused (the hosts file is read again after HOSTS_REREAD_MS). */
export const CANONICAL_TTL_MS = 5 * 60_000;
const HOSTS_REREAD_MS = 30_000;

/** The system's hosts file. */
export function defaultHostsFile(): string {
  return process.platform === 'win32' ? join(process.env.SystemRoot ?? 'C:\\Windows', 'System32', 'drivers', 'etc', 'hosts') : '/etc/hosts';
}

/**
 * A hosts file as name -> official name (lower case): every name of a line, its first one included,
 * maps to that line's first name; a name on several lines takes its first line, as glibc answers.
 */
export function parseHosts(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split(/\r?\n/)) {
    const fields = raw.replace(/#.*/, '').trim().split(/\s+/);
    if (fields.length < 2 || isIP(fields[0]!) === 0) continue;
    const official = fields[1]!.toLowerCase().replace(/\.$/, '');
    for (const name of fields.slice(1)) {
      const n = name.toLowerCase().replace(/\.$/, '');
      if (!out.has(n)) out.set(n, official);
    }
  }
  return out;
}

/**
 * The end of `host`'s CNAME chain (lower case, no trailing dot): at most 8 hops, a loop ends it,
 * and a name without a CNAME (or a failed lookup) is where it stops.
 */
export async function followCnames(host: string, resolver: Pick<dns.Resolver, 'resolveCname'>): Promise<string> {
  let name = host.toLowerCase();
  const seen = new Set([name]);
  for (let hop = 0; hop < 8; hop++) {
    let next: string[];
    try {
      next = await resolver.resolveCname(name);
    } catch {
      break;
    }
    const n = next[0]?.replace(/\.$/, '').toLowerCase();
    if (!n || seen.has(n)) break;
    seen.add(n);
    name = n;
  }
  return name;
}

export interface CanonicalizerOptions {
  /** Asked for CNAME records; default a node:dns Resolver, 2 s per try, 2 tries. */
  resolver?: Pick<dns.Resolver, 'resolveCname'>;
  /** Read before DNS; default defaultHostsFile(); null: none. A missing file is no entry. */
  hostsFile?: string | null;
}

/** Canonical names, kept CANONICAL_TTL_MS; the hosts file is read again after 30 s. */
export class Canonicalizer {
  private readonly names = new Map<string, Promise<string>>();
  private hosts: { at: number; map: Promise<Map<string, string>> } | null = null;
  private resolver: Pick<dns.Resolver, 'resolveCname'> | undefined;

  constructor(private readonly o: CanonicalizerOptions = {}) {
    this.resolver = o.resolver;
  }

  canonical(host: string): Promise<string> {
    const key = host.toLowerCase().replace(/\.$/, '');
    // RFC 6761: localhost names never go to DNS.
    if (isIP(host) || key === 'localhost' || key.endsWith('.localhost')) return Promise.resolve(key);
    let p = this.names.get(key);
    if (!p) {
      p = this.lookup(key);
      this.names.set(key, p);
      setTimeout(() => this.names.delete(key), CANONICAL_TTL_MS).unref();
    }
    return p;
  }

  private async lookup(key: string): Promise<string> {
    const official = (await this.hostsMap()).get(key);
    if (official !== undefined) return official;
    // Made on first need: a node:dns Resolver reads resolv.conf.
    this.resolver ??= new dns.Resolver({ timeout: 2000, tries: 2 });
    return followCnames(key, this.resolver);
  }

  private hostsMap(): Promise<Map<string, string>> {
    const file = this.o.hostsFile === undefined ? defaultHostsFile() : this.o.hostsFile;
    if (file === null) return Promise.resolve(new Map());
    if (!this.hosts || Date.now() - this.hosts.at > HOSTS_REREAD_MS) {
      this.hosts = { at: Date.now(), map: readFile(file, 'utf8').then(parseHosts, () => new Map<string, string>()) };
    }
    return this.hosts.map;
  }
}
