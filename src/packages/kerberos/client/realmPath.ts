// The realms a client walks through to reach a service in another realm (RFC 4120 1.2 and 3.3.1):
// [client, intermediates..., server]. krb5.conf [capaths] names the intermediates when it has an
// entry for the pair; otherwise the path follows the realm-name hierarchy up from the client to
// the nearest common ancestor and down to the server (CHILD.CORP.EXAMPLE -> CORP.EXAMPLE,
// A.EXAMPLE.COM -> EXAMPLE.COM -> B.EXAMPLE.COM), as MIT's krb5_walk_realm_tree did.
//
// MIT 1.20's client uses the direct pair [client, server] when [capaths] is silent and lets the
// KDC route; the traversal in tgs.ts asks for the farthest realm first, so its first request is
// MIT's, and the hierarchical intermediates are only tried after the KDC refused it.

import type { Krb5Config } from '../krb5conf.js';

/** The hierarchical path between two realm names (both ends included; one element when equal). */
export function hierarchicalRealmPath(client: string, server: string): string[] {
  if (client === server) return [client];
  const c = client.split('.');
  const s = server.split('.');
  // Common trailing components, compared whole ("BC.EXAMPLE.COM" is no parent of "ABC.EXAMPLE.COM").
  let common = 0;
  while (common < c.length && common < s.length && c[c.length - 1 - common] === s[s.length - 1 - common] && c[c.length - 1 - common] !== '') {
    common++;
  }
  // Up: the client and each parent down to the common ancestor (or to the top-level name when
  // there is none); down: the server's parents below the ancestor, nearest the ancestor first.
  const up: string[] = [];
  const upStop = common > 0 ? c.length - common : c.length - 1;
  for (let i = 0; i <= upStop; i++) up.push(c.slice(i).join('.'));
  const down: string[] = [];
  const downStop = common > 0 ? s.length - common - 1 : s.length - 1;
  for (let i = 0; i <= downStop; i++) down.push(s.slice(i).join('.'));
  return [...up, ...down.reverse()];
}

/** The path the client walks from `client` to `server`: [capaths] when configured, else hierarchical. */
export function clientRealmPath(config: Krb5Config | undefined, client: string, server: string): string[] {
  if (client === server) return [client];
  const cap = config?.capaths(client, server);
  if (cap !== undefined) return [client, ...cap, server];
  return hierarchicalRealmPath(client, server);
}
