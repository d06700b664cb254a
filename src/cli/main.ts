// The `tslsa` command.

import { readFileSync } from 'node:fs';
import { SspiError } from '../sspi/error.js';
import { parseArgs, UsageError } from './args.js';

// Each command's module is loaded when that command runs: `tslsa klist` has no use for the HTTP
// client (undici alone is most of a full load) or the server.
const KERBEROS_COMMANDS: readonly string[] = ['kinit', 'klist', 'kvno', 'kdestroy', 'kswitch', 'ktutil'];

const HELP = `tslsa: a Local Security Authority for Node.js (SSPI, NTLM, Kerberos, Negotiate)

Usage:
  tslsa packages [--json] [--load MODULE]...   list the loaded security packages (SecPkgInfo)
  tslsa user add NAME [--domain D] --password-stdin     add an account (NT hash only is stored)
  tslsa user list [--json] | passwd NAME --password-stdin
  tslsa user disable|enable|unlock|delete NAME           (store: --store PATH or TSLSA_STORE)
  tslsa ntlm-auth --helper-protocol=squid-2.5-ntlmssp|ntlmssp-client-1 ...
                                               Samba ntlm_auth's stdio helper (Squid...); see --help
  tslsa serve [--port 8080] [--host H] [--store PATH] [--keytab KT --spn HTTP/host] [--tls-cert F --tls-key F] [--redis URL]
                                               an HTTP(S) server signed on with Negotiate/NTLM; see --help
  tslsa fetch URL [-u DOMAIN\\USER --password-stdin] [-X M] [-d DATA] [-H 'K: V'] [-i] [-v] [--package P] [--kerberos-only] [--spn SPN] [--insecure] [-x URL]
                                               an HTTP request that answers Negotiate/NTLM challenges
  tslsa decode TOKEN [--json]                  show an NTLM message as a tree (TOKEN: base64, hex,
                                               or an "NTLM ..."/"Negotiate ..." header value)
  tslsa kinit [-c CCACHE] [-k [-t KEYTAB]] [-l LIFE] [-r RENEW] [-f] [PRINCIPAL]
                                               get a TGT (password from the terminal or stdin)
  tslsa kinit -R [-c CCACHE] [PRINCIPAL]       renew the TGT in the cache
  tslsa klist [-e] [-c CCACHE] | klist -k [-e] [KEYTAB]    list tickets / keytab entries
  tslsa klist -l | klist -A [-e]               list the caches of a DIR/KCM collection / show them all
  tslsa kvno [-c CCACHE] [-e ENCTYPE] SERVICE...   get service tickets
  tslsa kdestroy [-A] [-c CCACHE]              remove the credential cache (-A: the whole collection)
  tslsa kswitch -c CCACHE | -p PRINCIPAL       make a cache of the DIR/KCM collection the primary one
  tslsa ktutil list [-k KEYTAB] [-e] | ktutil add -k KEYTAB -p PRINCIPAL -e ENCTYPE [-V KVNO] [-s SALT]
                                               (Kerberos: KRB5_CONFIG, KRB5CCNAME, KRB5_KTNAME honoured)
  tslsa --help                                 this text
  tslsa --version                              the tslsa version

Options:
  --json          machine-readable output
  --load MODULE   also load a third-party package module (it must export SpLsaModeInitialize)
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/**
 * A reader that goes away (`tslsa klist | head -1`) makes writes to stdout fail with EPIPE, which
 * Node raises as an unhandled 'error' event: a crash with a stack trace. The bin script calls this
 * first, so such output is dropped and the command ends as it would have (a server keeps serving).
 */
export function toleratePipeClose(streams: readonly NodeJS.WritableStream[] = [process.stdout, process.stderr]): void {
  for (const s of streams) {
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (e?.code !== 'EPIPE') throw e;
    });
  }
}

export async function main(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  try {
    if (argv[0] === 'user') return await (await import('./user.js')).userCommand(argv.slice(1), { stdin: process.stdin, stdout: out, stderr: err });
    if (argv[0] === 'ntlm-auth') return await (await import('./ntlmAuth.js')).ntlmAuthCommand(argv.slice(1), { stdin: process.stdin, stdout: out, stderr: err });
    if (argv[0] === 'serve') return await (await import('./serve.js')).serveCommand(argv.slice(1), { stdout: out, stderr: err });
    if (argv[0] === 'fetch') return await (await import('./fetch.js')).fetchCommand(argv.slice(1), { stdin: process.stdin, stdout: out, stderr: err });
    if (KERBEROS_COMMANDS.includes(argv[0] ?? '')) {
      return await (await import('./kerberos.js')).kerberosCommand(argv[0]!, argv.slice(1), { stdin: process.stdin, stdout: out, stderr: err });
    }
    const { positionals, options } = parseArgs(argv, new Set(['load']));
    if (options.has('version')) {
      out.write(`tslsa ${version()}\n`);
      return 0;
    }
    const cmd = positionals[0];
    if (options.has('help') || options.has('h') || cmd === 'help') {
      out.write(HELP);
      return 0;
    }
    if (cmd === undefined) {
      err.write(HELP);
      return 2;
    }
    const loads = collect(argv, 'load');
    switch (cmd) {
      case 'packages':
        return await (await import('./packages.js')).packagesCommand(options.has('json'), loads, out);
      case 'decode':
        return (await import('./decode.js')).decodeCommand(positionals.slice(1).join(' ') || undefined, options.has('json'), out);
      default:
        throw new UsageError(`unknown command '${cmd}' (see tslsa --help)`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      err.write(`tslsa: ${e.message}\n`);
      return 2;
    }
    if (e instanceof SspiError) {
      err.write(`tslsa: ${e.message}\n`);
      return 1;
    }
    err.write(`tslsa: ${(e as Error)?.message ?? String(e)}\n`);
    return 1;
  }
}

/** Every value of a repeatable --name option. */
function collect(argv: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === `--${name}` && argv[i + 1] !== undefined) out.push(argv[++i]!);
    else if (a.startsWith(`--${name}=`)) out.push(a.slice(name.length + 3));
  }
  return out;
}
