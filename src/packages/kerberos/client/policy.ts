// The client's view of krb5.conf [libdefaults]: which enctypes it asks for and accepts, and whether
// rc4-hmac is allowed at all. rc4-hmac (RFC 8429: deprecated) is used only when configured:
// allow_weak_crypto = true, or a permitted_enctypes line that names it explicitly.

import { isEnctypeSupported } from '../crypto/index.js';
import type { CryptoPolicy } from '../crypto/types.js';
import { EncType } from '../crypto/types.js';
import type { Krb5Config } from '../krb5conf.js';

export interface ClientPolicy {
  crypto: CryptoPolicy;
  /** AS-REQ etype list, strongest first, only enctypes we implement and may use. */
  tktEnctypes: number[];
  /** TGS-REQ etype list. */
  tgsEnctypes: number[];
  /** Enctypes accepted in replies (session keys, reply keys). */
  permitted: number[];
  /** Seconds. */
  clockskew: number;
  /** Seconds. */
  ticketLifetime: number;
  /** Seconds; 0: no renewable ticket requested. */
  renewLifetime: number;
  forwardable: boolean;
}

export function clientPolicy(config?: Krb5Config): ClientPolicy {
  // Named on the line itself: "DEFAULT" alone does not opt in to rc4.
  const explicitRc4 = (tag: string): boolean => {
    const v = config?.get('libdefaults', tag);
    return v !== undefined && /(^|[\s,+])(rc4|rc4-hmac|arcfour-hmac|arcfour-hmac-md5|23)(?=$|[\s,])/i.test(v);
  };
  const allowWeak = (config?.allowWeakCrypto ?? false) || explicitRc4('permitted_enctypes');
  const crypto: CryptoPolicy = { allowWeak };
  const usable = (list: number[]): number[] => list.filter((e) => isEnctypeSupported(e, crypto));
  const permitted = usable(config?.permittedEnctypes ?? [18, 17, 20, 19]);
  const inPermitted = (list: number[]): number[] => usable(list).filter((e) => permitted.includes(e));
  return {
    crypto,
    tktEnctypes: inPermitted(config?.defaultTktEnctypes ?? permitted),
    tgsEnctypes: inPermitted(config?.defaultTgsEnctypes ?? permitted),
    permitted,
    clockskew: config?.clockskew ?? 300,
    ticketLifetime: config?.ticketLifetime ?? 86400,
    renewLifetime: config?.renewLifetime ?? 0,
    forwardable: config?.forwardable ?? false,
  };
}
