// `tslsa decode <base64 | hex | "NTLM ..." header> [--json]`: a security token as a readable tree.

import { decodeNtlmMessage, formatNtlmTree } from '../packages/ntlm/decode.js';
import { UsageError } from './args.js';

export function decodeCommand(input: string | undefined, json: boolean, out: NodeJS.WritableStream): number {
  if (input === undefined || input.trim() === '') throw new UsageError('decode needs a token: base64, hex, or an "NTLM ..." / "Negotiate ..." header value');
  const tree = decodeNtlmMessage(input);
  out.write(json ? JSON.stringify(tree, null, 2) + '\n' : formatNtlmTree(tree) + '\n');
  return 0;
}
