// Runs one `tslsa kinit|klist|...` command in-process, as the CLI tests and the MIT interop tests do.
import { Readable } from 'node:stream';
import { kerberosCommand } from '../../../../src/cli/kerberos.js';
import { sink } from '../../http/helpers.js';

export interface KerberosCliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `cmd args` with `input` on stdin (a password line), the given environment and clock. */
export async function kerberosCli(
  cmd: string, args: readonly string[], opts: { env: NodeJS.ProcessEnv; input?: string; now?: () => Date },
): Promise<KerberosCliResult> {
  const out = sink();
  const err = sink();
  const code = await kerberosCommand(cmd, args, {
    stdin: Readable.from([opts.input ?? '']), stdout: out, stderr: err, env: opts.env, ...(opts.now ? { now: opts.now } : {}),
  });
  return { code, stdout: out.text(), stderr: err.text() };
}
