// `tslsa user ...`: manage the account store the account authority (MSV1_0) validates against.
//
//   tslsa user add NAME [--domain D] [--expires DATE|never] --password-stdin
//   tslsa user passwd NAME [--domain D] [--expires DATE|never] --password-stdin
//   tslsa user list [--json]
//   tslsa user disable|enable|unlock|delete NAME [--domain D]
//   common: --store PATH (else $TSLSA_STORE, else $XDG_DATA_HOME/tslsa/accounts.db)
//
// NAME may also be DOMAIN\user. Passwords are read from stdin only (the first line, without its
// line ending), are never echoed, never accepted in argv, and only their NT hash is stored.

import { NTOWFv1 } from '../packages/ntlm/crypto.js';
import { type AccountInfo, type AccountStore, AccountStoreError } from '../store/accounts.js';
import { defaultStorePath, SqliteAccountStore } from '../store/sqlite.js';
import { parseArgs, UsageError } from './args.js';

export interface UserCommandIO {
  /** Where --password-stdin reads from. */
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Environment for TSLSA_STORE / XDG_DATA_HOME / HOME (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export const USER_HELP = `Usage:
  tslsa user add NAME [--domain D] [--expires DATE|never] --password-stdin
  tslsa user passwd NAME [--domain D] [--expires DATE|never] --password-stdin
  tslsa user list [--json]
  tslsa user disable|enable|unlock|delete NAME [--domain D]

Options:
  --store PATH      the account store (default $TSLSA_STORE, else $XDG_DATA_HOME/tslsa/accounts.db)
  --domain D        the account's domain (default: none); NAME may also be DOMAIN\\user
  --password-stdin  read the password from the first line of stdin
  --expires DATE    when the password expires (ISO 8601), or 'never' (the default)
  --json            machine-readable output
`;

const VALUE_OPTIONS = new Set(['store', 'domain', 'expires']);
const KNOWN_FLAGS = new Set(['store', 'domain', 'expires', 'password-stdin', 'json', 'help', 'h']);

/** Read the first line of a stream: the password, without its line ending. */
export async function readPasswordLine(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk);
    const nl = b.indexOf(0x0a);
    chunks.push(nl >= 0 ? b.subarray(0, nl) : b);
    total += nl >= 0 ? nl : b.length;
    if (nl >= 0) {
      if (nl + 1 < b.length) b.fill(0, nl + 1);
      break;
    }
    if (total > 4096) break;
  }
  const all = Buffer.concat(chunks);
  for (const c of chunks) c.fill(0);
  if (total > 4096) {
    all.fill(0);
    throw new UsageError('the password on stdin is longer than 4096 bytes');
  }
  let end = all.length;
  if (end > 0 && all[end - 1] === 0x0d) end--;
  const pw = all.subarray(0, end).toString('utf8');
  all.fill(0);
  return pw;
}

function splitName(name: string, domainOpt: string | undefined): { domain: string; user: string } {
  const i = name.indexOf('\\');
  if (i >= 0) {
    if (domainOpt !== undefined) throw new UsageError('give the domain either as DOMAIN\\user or with --domain, not both');
    return { domain: name.slice(0, i), user: name.slice(i + 1) };
  }
  return { domain: domainOpt ?? '', user: name };
}

function parseExpires(v: string | undefined): Date | null | undefined {
  if (v === undefined) return undefined;
  if (v === 'never') return null;
  const d = new Date(v);
  if (!Number.isFinite(d.getTime())) throw new UsageError(`--expires: '${v}' is not a date (ISO 8601) or 'never'`);
  return d;
}

function describe(a: AccountInfo, now: Date): Record<string, unknown> {
  const locked = a.lockedOutUntil !== null && now < a.lockedOutUntil;
  return {
    user: a.user,
    domain: a.domain,
    disabled: a.disabled,
    lockedOut: locked,
    lockedOutUntil: locked ? a.lockedOutUntil!.toISOString() : null,
    badPasswordCount: a.badPasswordCount,
    passwordExpires: a.passwordExpires ? a.passwordExpires.toISOString() : null,
    passwordExpired: a.passwordExpires !== null && now >= a.passwordExpires,
  };
}

function display(domain: string, user: string): string {
  return domain ? `${domain}\\${user}` : user;
}

/**
 * `tslsa user SUBCOMMAND ...`: `argv` is what follows `user` on the command line. Returns the exit
 * code: 0 success, 1 a store or account error, 2 a usage error. Errors go to io.stderr.
 */
export async function userCommand(argv: readonly string[], io: UserCommandIO): Promise<number> {
  const env = io.env ?? process.env;
  let store: AccountStore | null = null;
  try {
    const { positionals, options } = parseArgs(argv, VALUE_OPTIONS);
    if (options.has('password') || options.has('p')) throw new UsageError('passwords are never taken from the command line: use --password-stdin');
    for (const k of options.keys()) if (!KNOWN_FLAGS.has(k)) throw new UsageError(`unknown option --${k} (see tslsa user --help)`);
    const sub = positionals[0];
    if (options.has('help') || options.has('h') || sub === 'help') {
      io.stdout.write(USER_HELP);
      return 0;
    }
    if (sub === undefined) {
      io.stderr.write(USER_HELP);
      return 2;
    }
    const str = (k: string): string | undefined => {
      const v = options.get(k);
      if (v === true) throw new UsageError(`--${k} needs a value`);
      return v;
    };
    const explicit = str('store') ?? (env.TSLSA_STORE || undefined);
    const path = explicit ?? defaultStorePath(env);
    const open = (create: boolean) => SqliteAccountStore.open(path, { create, createDirectory: create && explicit === undefined });

    if (sub === 'list') {
      if (positionals.length > 1) throw new UsageError('tslsa user list takes no NAME');
      let list: AccountInfo[] = [];
      try {
        store = await open(false);
        list = await store.list();
      } catch (e) {
        // No store yet is an empty list; anything else (damaged, locked) is an error.
        if (!(e instanceof AccountStoreError && (e.reason === 'NOT_FOUND' || (e.reason === 'NO_DIRECTORY' && explicit === undefined)))) throw e;
      }
      const now = new Date();
      const rows = list.map((a) => describe(a, now));
      if (options.has('json')) io.stdout.write(JSON.stringify(rows, null, 2) + '\n');
      else if (rows.length === 0) io.stdout.write('No accounts.\n');
      else {
        for (const r of rows) {
          const flags = [r.disabled ? 'disabled' : null, r.lockedOut ? `locked out until ${r.lockedOutUntil}` : null, r.passwordExpired ? 'password expired' : null].filter(Boolean);
          io.stdout.write(`${display(r.domain as string, r.user as string)}${flags.length ? `  (${flags.join(', ')})` : ''}\n`);
        }
      }
      return 0;
    }

    const ACTIONS = ['add', 'passwd', 'disable', 'enable', 'unlock', 'delete'];
    if (!ACTIONS.includes(sub)) throw new UsageError(`unknown user command '${sub}' (see tslsa user --help)`);
    const name = positionals[1];
    if (name === undefined || name === '') throw new UsageError(`tslsa user ${sub} needs a NAME`);
    if (positionals.length > 2) throw new UsageError(`tslsa user ${sub} takes one NAME; passwords are read with --password-stdin, never from arguments`);
    const named = splitName(name, str('domain'));
    let { domain } = named;
    const { user } = named;
    const wantsPassword = sub === 'add' || sub === 'passwd';
    if (wantsPassword && !options.has('password-stdin')) throw new UsageError(`tslsa user ${sub} reads the password from stdin: add --password-stdin`);
    if (!wantsPassword && (options.has('password-stdin') || options.has('expires'))) throw new UsageError(`tslsa user ${sub} takes no password or --expires`);
    const expires = parseExpires(str('expires'));

    store = await open(sub === 'add');
    // A bare NAME on an existing account means the one account of that name, whatever its domain.
    if (sub !== 'add' && str('domain') === undefined && !name.includes('\\')) {
      const matches = (await store.list()).filter((a) => a.user.toUpperCase() === user.toUpperCase());
      if (matches.length > 1) throw new UsageError(`several accounts are named ${user}: give DOMAIN\\${user} or --domain`);
      if (matches.length === 1) domain = matches[0]!.domain;
    }
    const who = display(domain, user);
    switch (sub) {
      case 'add':
      case 'passwd': {
        if (sub === 'passwd' && !(await store.get(domain, user).then((a) => (a ? (a.ntHash.fill(0), true) : false)))) {
          throw new AccountStoreError('NOT_FOUND', `no account ${who}`);
        }
        if (sub === 'add' && (await store.get(domain, user).then((a) => (a ? (a.ntHash.fill(0), true) : false)))) {
          throw new AccountStoreError('EXISTS', `the account ${who} already exists`);
        }
        const pw = await readPasswordLine(io.stdin);
        if (pw.length === 0) throw new UsageError('no password on stdin (an empty first line)');
        const hash = NTOWFv1(pw);
        try {
          if (sub === 'add') await store.add({ user, domain, ntHash: hash, passwordExpires: expires ?? null });
          else await store.setNtHash(domain, user, hash, expires);
        } finally {
          hash.fill(0);
        }
        io.stdout.write(sub === 'add' ? `added ${who}\n` : `password set for ${who}\n`);
        return 0;
      }
      case 'disable':
      case 'enable':
        await store.setDisabled(domain, user, sub === 'disable');
        io.stdout.write(`${sub}d ${who}\n`);
        return 0;
      case 'unlock':
        await store.unlock(domain, user);
        io.stdout.write(`unlocked ${who}\n`);
        return 0;
      default: {
        if (!(await store.delete(domain, user))) throw new AccountStoreError('NOT_FOUND', `no account ${who}`);
        io.stdout.write(`deleted ${who}\n`);
        return 0;
      }
    }
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`tslsa: ${e.message}\n`);
      return 2;
    }
    io.stderr.write(`tslsa: ${e instanceof AccountStoreError ? e.detail : ((e as Error)?.message ?? String(e))}\n`);
    return 1;
  } finally {
    if (store) {
      try {
        await store.close();
      } catch {
        // Closing cannot lose data: every write was committed in its own transaction.
      }
    }
  }
}
