// `tslsa decode <base64 | hex | "NTLM ..." / "Negotiate ..." / "Kerberos ..." header> [--json]`:
// a security token as a readable tree. NTLM messages go to the NTLM decoder; GSS/SPNEGO framings,
// Kerberos messages and per-message tokens to the Kerberos one (which hands NTLM inside SPNEGO back).

import { decodeKerberosToken } from '../packages/kerberos/decode.js';
import { decodeNtlmMessage, formatNtlmTree, type NtlmTree } from '../packages/ntlm/decode.js';
import { SspiError } from '../sspi/error.js';
import { SecurityStatus } from '../sspi/status.js';
import { UsageError } from './args.js';

const HEADER_NAME = /^\s*(?:proxy-)?(?:authorization|www-authenticate|proxy-authenticate|authenticate)\s*:\s*/i;
const SCHEME = /^\s*(ntlm|negotiate|kerberos)\s+/i;

/** The token bytes of CLI input (base64 or hex, optionally as a header value) and its scheme. */
function inputBytes(text: string): { bytes: Uint8Array; scheme?: string } {
  let s = text.replace(HEADER_NAME, '');
  const m = SCHEME.exec(s);
  const scheme = m?.[1];
  if (m) s = s.slice(m[0].length);
  s = s.trim();
  const compactHex = s.replace(/^0x/i, '').replace(/[\s:]/g, '');
  // Hex wins only when it cannot be base64 (or has separators): "6082..." is both.
  if (/^[0-9a-f]+$/i.test(compactHex) && compactHex.length % 2 === 0 && (compactHex !== s || /^(60|a0|a1|6[a-e]|7e|0[45]04|4e544c4d)/i.test(s))) {
    return { bytes: Buffer.from(compactHex, 'hex'), ...(scheme ? { scheme } : {}) };
  }
  const b64 = s.replace(/\s+/g, '');
  if (b64.length === 0 || !/^[A-Za-z0-9+/_-]+=*$/.test(b64)) throw new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, 'input is neither base64 nor hex');
  return { bytes: Buffer.from(b64.replace(/-/g, '+').replace(/_/g, '/'), 'base64'), ...(scheme ? { scheme } : {}) };
}

const isNtlm = (b: Uint8Array): boolean => b.length >= 8 && Buffer.from(b.subarray(0, 8)).toString('latin1') === 'NTLMSSP\0';

/** The tree for one token: NTLM, else Kerberos/SPNEGO, else the NTLM decoder's own error. */
export function decodeToken(input: string): NtlmTree {
  const { bytes, scheme } = inputBytes(input);
  if (isNtlm(bytes)) return decodeNtlmMessage(input);
  try {
    const tree = decodeKerberosToken(bytes);
    return scheme ? { Wrapper: `${scheme} header`, ...tree } : tree;
  } catch (e) {
    if (Buffer.from(bytes).includes('NTLMSSP\0', 0, 'latin1')) return decodeNtlmMessage(input);
    throw e;
  }
}

export function decodeCommand(input: string | undefined, json: boolean, out: NodeJS.WritableStream): number {
  if (input === undefined || input.trim() === '') throw new UsageError('decode needs a token: base64, hex, or an "NTLM ..." / "Negotiate ..." header value');
  const tree = decodeToken(input);
  out.write(json ? JSON.stringify(tree, null, 2) + '\n' : formatNtlmTree(tree) + '\n');
  return 0;
}
