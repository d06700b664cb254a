// NTLM negotiate flags (MS-NLMP 2.2.2.5) and MsvAvFlags bits (MS-NLMP 2.2.2.1).
// Values are unsigned 32-bit numbers; test them with `(flags & F) !== 0` and keep results `>>> 0`.

/** A: Unicode strings in the payload. */
export const NTLMSSP_NEGOTIATE_UNICODE = 0x00000001;
/** B: OEM strings in the payload; the spec's own name lacks the "SSP". */
export const NTLM_NEGOTIATE_OEM = 0x00000002;
/** Alias of NTLM_NEGOTIATE_OEM under the name most implementations use. */
export const NTLMSSP_NEGOTIATE_OEM = NTLM_NEGOTIATE_OEM;
/** C: the server returns TargetName in the CHALLENGE_MESSAGE. */
export const NTLMSSP_REQUEST_TARGET = 0x00000004;
/** r10: reserved, must be zero. */
export const NTLMSSP_RESERVED_R10 = 0x00000008;
/** D: session key for message signatures. */
export const NTLMSSP_NEGOTIATE_SIGN = 0x00000010;
/** E: session key for message confidentiality. */
export const NTLMSSP_NEGOTIATE_SEAL = 0x00000020;
/** F: connectionless authentication. */
export const NTLMSSP_NEGOTIATE_DATAGRAM = 0x00000040;
/** G: LAN Manager session key computation. */
export const NTLMSSP_NEGOTIATE_LM_KEY = 0x00000080;
/** r9: reserved (historically NetWare). */
export const NTLMSSP_RESERVED_R9 = 0x00000100;
/** H: NTLM v1 session security. */
export const NTLMSSP_NEGOTIATE_NTLM = 0x00000200;
/** r8: reserved. */
export const NTLMSSP_RESERVED_R8 = 0x00000400;
/** J: anonymous connection. */
export const NTLMSSP_ANONYMOUS = 0x00000800;
/** Alias of NTLMSSP_ANONYMOUS. */
export const NTLMSSP_NEGOTIATE_ANONYMOUS = NTLMSSP_ANONYMOUS;
/** K: the NEGOTIATE_MESSAGE carries a DomainName. */
export const NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED = 0x00001000;
/** L: the NEGOTIATE_MESSAGE carries a Workstation. */
export const NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED = 0x00002000;
/** r7: reserved (historically "local call"). */
export const NTLMSSP_RESERVED_R7 = 0x00004000;
/** M: signature block on all messages. */
export const NTLMSSP_NEGOTIATE_ALWAYS_SIGN = 0x00008000;
/** N: TargetName is a domain name. */
export const NTLMSSP_TARGET_TYPE_DOMAIN = 0x00010000;
/** O: TargetName is a server name. */
export const NTLMSSP_TARGET_TYPE_SERVER = 0x00020000;
/** r6: reserved (historically "target type share"). */
export const NTLMSSP_RESERVED_R6 = 0x00040000;
/** P: NTLM v2 session security (extended session security). */
export const NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY = 0x00080000;
/** Q: identify-level token. */
export const NTLMSSP_NEGOTIATE_IDENTIFY = 0x00100000;
/** r5: reserved. */
export const NTLMSSP_RESERVED_R5 = 0x00200000;
/** R: LMOWF for the session key. */
export const NTLMSSP_REQUEST_NON_NT_SESSION_KEY = 0x00400000;
/** S: TargetInfo is populated. */
export const NTLMSSP_NEGOTIATE_TARGET_INFO = 0x00800000;
/** r4: reserved. */
export const NTLMSSP_RESERVED_R4 = 0x01000000;
/** T: the Version field is populated. */
export const NTLMSSP_NEGOTIATE_VERSION = 0x02000000;
/** r3: reserved. */
export const NTLMSSP_RESERVED_R3 = 0x04000000;
/** r2: reserved. */
export const NTLMSSP_RESERVED_R2 = 0x08000000;
/** r1: reserved. */
export const NTLMSSP_RESERVED_R1 = 0x10000000;
/** U: 128-bit session key. */
export const NTLMSSP_NEGOTIATE_128 = 0x20000000;
/** V: explicit key exchange (EncryptedRandomSessionKey). */
export const NTLMSSP_NEGOTIATE_KEY_EXCH = 0x40000000;
/** W: 56-bit encryption. */
export const NTLMSSP_NEGOTIATE_56 = 0x80000000;

/** Every named bit of NegotiateFlags, low bit first, for decoding (MS-NLMP 2.2.2.5). */
export const NegotiateFlagNames: ReadonlyArray<readonly [flag: number, name: string]> = [
  [NTLMSSP_NEGOTIATE_UNICODE, 'NTLMSSP_NEGOTIATE_UNICODE'],
  [NTLM_NEGOTIATE_OEM, 'NTLM_NEGOTIATE_OEM'],
  [NTLMSSP_REQUEST_TARGET, 'NTLMSSP_REQUEST_TARGET'],
  [NTLMSSP_RESERVED_R10, 'r10'],
  [NTLMSSP_NEGOTIATE_SIGN, 'NTLMSSP_NEGOTIATE_SIGN'],
  [NTLMSSP_NEGOTIATE_SEAL, 'NTLMSSP_NEGOTIATE_SEAL'],
  [NTLMSSP_NEGOTIATE_DATAGRAM, 'NTLMSSP_NEGOTIATE_DATAGRAM'],
  [NTLMSSP_NEGOTIATE_LM_KEY, 'NTLMSSP_NEGOTIATE_LM_KEY'],
  [NTLMSSP_RESERVED_R9, 'r9'],
  [NTLMSSP_NEGOTIATE_NTLM, 'NTLMSSP_NEGOTIATE_NTLM'],
  [NTLMSSP_RESERVED_R8, 'r8'],
  [NTLMSSP_ANONYMOUS, 'NTLMSSP_ANONYMOUS'],
  [NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED, 'NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED'],
  [NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED, 'NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED'],
  [NTLMSSP_RESERVED_R7, 'r7'],
  [NTLMSSP_NEGOTIATE_ALWAYS_SIGN, 'NTLMSSP_NEGOTIATE_ALWAYS_SIGN'],
  [NTLMSSP_TARGET_TYPE_DOMAIN, 'NTLMSSP_TARGET_TYPE_DOMAIN'],
  [NTLMSSP_TARGET_TYPE_SERVER, 'NTLMSSP_TARGET_TYPE_SERVER'],
  [NTLMSSP_RESERVED_R6, 'r6'],
  [NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY, 'NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY'],
  [NTLMSSP_NEGOTIATE_IDENTIFY, 'NTLMSSP_NEGOTIATE_IDENTIFY'],
  [NTLMSSP_RESERVED_R5, 'r5'],
  [NTLMSSP_REQUEST_NON_NT_SESSION_KEY, 'NTLMSSP_REQUEST_NON_NT_SESSION_KEY'],
  [NTLMSSP_NEGOTIATE_TARGET_INFO, 'NTLMSSP_NEGOTIATE_TARGET_INFO'],
  [NTLMSSP_RESERVED_R4, 'r4'],
  [NTLMSSP_NEGOTIATE_VERSION, 'NTLMSSP_NEGOTIATE_VERSION'],
  [NTLMSSP_RESERVED_R3, 'r3'],
  [NTLMSSP_RESERVED_R2, 'r2'],
  [NTLMSSP_RESERVED_R1, 'r1'],
  [NTLMSSP_NEGOTIATE_128, 'NTLMSSP_NEGOTIATE_128'],
  [NTLMSSP_NEGOTIATE_KEY_EXCH, 'NTLMSSP_NEGOTIATE_KEY_EXCH'],
  [NTLMSSP_NEGOTIATE_56, 'NTLMSSP_NEGOTIATE_56'],
];

/** Names of the bits set in `flags`, low bit first; reserved bits appear as the spec's r1..r10. */
export function negotiateFlagNames(flags: number): string[] {
  const out: string[] = [];
  for (const [bit, name] of NegotiateFlagNames) if ((flags & bit) !== 0) out.push(name);
  return out;
}

/** Parse names (with or without the NTLMSSP_NEGOTIATE_/NTLMSSP_/NTLM_NEGOTIATE_ prefix) back into flags. */
export function negotiateFlagsFromNames(names: Iterable<string>): number {
  let flags = 0;
  for (const raw of names) {
    const want = raw.trim().toUpperCase();
    const hit = NegotiateFlagNames.find(
      ([, n]) =>
        n.toUpperCase() === want ||
        n.replace(/^(NTLMSSP_NEGOTIATE_|NTLM_NEGOTIATE_|NTLMSSP_)/, '').toUpperCase() === want,
    );
    if (!hit) throw new TypeError(`unknown NTLM negotiate flag name: ${raw}`);
    flags |= hit[0];
  }
  return flags >>> 0;
}

// MsvAvFlags value bits (MS-NLMP 2.2.2.1, AvId 0x0006).

/** 0x1: the client's account authentication is constrained. */
export const MSV_AV_FLAGS_ACCOUNT_AUTHENTICATION_CONSTRAINED = 0x00000001;
/** 0x2: the AUTHENTICATE_MESSAGE carries a MIC. */
export const MSV_AV_FLAGS_MIC_PRESENT = 0x00000002;
/** 0x4: the client got the target SPN from an untrusted source. */
export const MSV_AV_FLAGS_UNTRUSTED_SPN_SOURCE = 0x00000004;

/** Names of the MsvAvFlags bits, for decoding. */
export const MsvAvFlagsNames: ReadonlyArray<readonly [flag: number, name: string]> = [
  [MSV_AV_FLAGS_ACCOUNT_AUTHENTICATION_CONSTRAINED, 'ACCOUNT_AUTHENTICATION_CONSTRAINED'],
  [MSV_AV_FLAGS_MIC_PRESENT, 'MIC_PRESENT'],
  [MSV_AV_FLAGS_UNTRUSTED_SPN_SOURCE, 'UNTRUSTED_SPN_SOURCE'],
];

/** Names of the MsvAvFlags bits set in `flags`; unnamed bits appear as hex. */
export function msvAvFlagNames(flags: number): string[] {
  const out: string[] = [];
  let rest = flags >>> 0;
  for (const [bit, name] of MsvAvFlagsNames) {
    if ((rest & bit) !== 0) {
      out.push(name);
      rest = (rest & ~bit) >>> 0;
    }
  }
  for (let i = 0; i < 32; i++) {
    const bit = (1 << i) >>> 0;
    if ((rest & bit) !== 0) out.push(`0x${bit.toString(16).padStart(8, '0')}`);
  }
  return out;
}

/** NTLMRevisionCurrent of VERSION (MS-NLMP 2.2.2.10). */
export const NTLMSSP_REVISION_W2K3 = 0x0f;
/** Byte offset of the MIC in an AUTHENTICATE_MESSAGE that has one (MS-NLMP 2.2.1.3). */
export const AUTHENTICATE_MIC_OFFSET = 72;
