// WWW-Authenticate / Proxy-Authenticate as the client reads them (RFC 9110 11.6.1): a list of
// challenges, each a scheme with either a token68 (the Negotiate/NTLM token, RFC 4559 4) or
// auth-params, which we keep only to skip them.

export interface Challenge {
  /** The scheme as the server spelled it. */
  scheme: string;
  /** The base64 token68, decoded; null when the challenge carries none. */
  token: Uint8Array | null;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;

/** Split at commas outside quoted strings. */
function splitCommas(value: string): string[] {
  const parts: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (quoted && c === '\\' && i + 1 < value.length) {
      cur += c + value[++i];
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === ',' && !quoted) {
      parts.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  parts.push(cur);
  return parts.map((p) => p.trim()).filter((p) => p.length > 0);
}

/** Every challenge in the header value(s); elements that are not challenges are ignored. */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  const values = Array.isArray(header) ? header : [header];
  const out: Challenge[] = [];
  for (const v of values) {
    for (const part of splitCommas(v)) {
      const sp = part.search(/\s/);
      const first = sp < 0 ? part : part.slice(0, sp);
      const rest = sp < 0 ? '' : part.slice(sp).trim();
      // "name=value", or "name = value" (RFC 9110 11.2 allows whitespace around "="), continues
      // the previous challenge's auth-params; a token68 never starts with "=".
      if (!TOKEN.test(first) || (sp < 0 && part.includes('=')) || rest.startsWith('=')) continue;
      if (rest.length > 0 && !TOKEN68.test(rest)) {
        out.push({ scheme: first, token: null });
        continue;
      }
      out.push({ scheme: first, token: rest.length > 0 ? decodeToken(rest) : null });
    }
  }
  return out;
}

function decodeToken(text: string): Uint8Array | null {
  // RFC 4559 uses base64; Buffer is lenient, so check the round trip to refuse garbage.
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length === 0) return null;
  if (bytes.toString('base64').replace(/=+$/, '') !== text.replace(/=+$/, '')) return null;
  return new Uint8Array(bytes);
}

/** The first challenge for `scheme` (case-insensitive), or undefined. */
export function findChallenge(challenges: readonly Challenge[], scheme: string): Challenge | undefined {
  const s = scheme.toLowerCase();
  return challenges.find((c) => c.scheme.toLowerCase() === s);
}
