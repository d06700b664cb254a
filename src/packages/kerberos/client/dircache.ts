// MIT's DIR ccache collection (DIR:/dir): a directory of FILE caches whose names start with "tkt",
// one of them the primary, named by the one-line file `primary`. "DIR:/dir" resolves to the
// primary cache; "DIR::/dir/tktXXXXXX" names one cache of the collection. Behaviour as MIT 1.20's
// tools show it: resolving creates the directory (0700) and, when absent, `primary` naming "tkt";
// a new cache is an empty "tkt" + 6 random characters file, made primary by rewriting `primary`
// (temp file and rename). Caches are listed primary first, then in directory order, as MIT does.

import { closeSync, mkdirSync, openSync, opendirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomInt } from 'node:crypto';
import { SspiError } from '../../../sspi/error.js';
import { SecurityStatus } from '../../../sspi/status.js';
import { atomicWriteFile, type KrbPrincipal } from '../keytab.js';
import { type CredentialCache, type CredentialCollection, FileCredentialCache, matchPrincipal } from './cache.js';

const PRIMARY = 'primary';
const DEFAULT_NAME = 'tkt';
const NAME_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** One cache of a DIR collection: an MIT FILE cache named "DIR::path". */
export type DirCredentialCache = FileCredentialCache;
const dirCache = (path: string): DirCredentialCache => new FileCredentialCache(path, `DIR::${path}`);

// MIT accepts as a cache name (in `primary` and when listing) a plain file name starting with "tkt".
const isCacheName = (name: string): boolean => name.startsWith(DEFAULT_NAME) && !name.includes('/');

/** A DIR collection. Opening one creates its directory and `primary` when missing, as MIT does. */
export class DirCollection implements CredentialCollection {
  readonly dir: string;

  constructor(dir: string) {
    if (dir === '') throw new SspiError(SecurityStatus.SEC_E_NO_CREDENTIALS, 'DIR credential cache needs a directory');
    this.dir = dir;
    ensureDir(dir);
    if (this.#readPrimary() === undefined) this.#writePrimary(DEFAULT_NAME);
  }

  /** "DIR:/dir". */
  get name(): string {
    return `DIR:${this.dir}`;
  }

  /** The primary cache (named by `primary`, else "tkt"). */
  async primary(): Promise<DirCredentialCache> {
    return this.primarySync();
  }

  primarySync(): DirCredentialCache {
    return dirCache(join(this.dir, this.#readPrimary() ?? DEFAULT_NAME));
  }

  /** Every cache file of the collection, primary first, then in directory order (initialized or not). */
  async caches(): Promise<DirCredentialCache[]> {
    const primaryName = this.#readPrimary() ?? DEFAULT_NAME;
    const out: DirCredentialCache[] = [];
    const names = directoryOrder(this.dir).filter((n) => isCacheName(n) && n !== primaryName && isFile(join(this.dir, n)));
    if (isFile(join(this.dir, primaryName))) out.push(dirCache(join(this.dir, primaryName)));
    for (const n of names) out.push(dirCache(join(this.dir, n)));
    return out;
  }

  /** The first cache (primary first) whose default principal is `principal`, or undefined. */
  async match(principal: KrbPrincipal): Promise<DirCredentialCache | undefined> {
    return (await matchPrincipal(await this.caches(), principal)) as DirCredentialCache | undefined;
  }

  /** A new, empty cache file with a unique name ("tkt" + 6 characters, created exclusively, 0600). */
  async newUnique(): Promise<DirCredentialCache> {
    for (let attempt = 0; attempt < 100; attempt++) {
      let suffix = '';
      for (let i = 0; i < 6; i++) suffix += NAME_CHARS[randomInt(NAME_CHARS.length)];
      const path = join(this.dir, DEFAULT_NAME + suffix);
      try {
        closeSync(openSync(path, 'wx', 0o600));
        return dirCache(path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw ioError(`cannot create a credential cache in ${this.dir}`, e);
      }
    }
    throw new SspiError(SecurityStatus.SEC_E_INTERNAL_ERROR, `cannot find a free credential cache name in ${this.dir}`);
  }

  /** Makes `cache` (a cache of this collection) the primary one. */
  async switchTo(cache: CredentialCache): Promise<void> {
    if (!(cache instanceof FileCredentialCache) || dirname(cache.path) !== this.dir) {
      throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, `${cache.name} is not in the collection ${this.name}`);
    }
    this.#writePrimary(basename(cache.path));
  }

  #readPrimary(): string | undefined {
    let text: string;
    try {
      text = readFileSync(join(this.dir, PRIMARY), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw ioError(`cannot read ${join(this.dir, PRIMARY)}`, e);
    }
    const name = text.split('\n')[0]!;
    if (!isCacheName(name)) {
      throw new SspiError(SecurityStatus.SEC_E_NO_CREDENTIALS, `${join(this.dir, PRIMARY)} does not name a credential cache ("tkt..." expected)`);
    }
    return name;
  }

  #writePrimary(name: string): void {
    try {
      atomicWriteFile(join(this.dir, PRIMARY), new TextEncoder().encode(`${name}\n`));
    } catch (e) {
      throw ioError(`cannot write ${join(this.dir, PRIMARY)}`, e);
    }
  }
}

/** Opens a DIR name: "DIR:/dir" (the collection's primary cache) or "DIR::/dir/tkt..." (that cache). */
export function openDirCache(residual: string): DirCredentialCache {
  if (residual.startsWith(':')) {
    const path = residual.slice(1);
    if (!isCacheName(basename(path))) {
      throw new SspiError(SecurityStatus.SEC_E_NO_CREDENTIALS, `DIR cache name ${residual.slice(1)} must be a file named tkt... in the collection directory`);
    }
    ensureDir(dirname(path));
    return dirCache(path);
  }
  return new DirCollection(residual).primarySync();
}

function ensureDir(dir: string): void {
  let st;
  try {
    st = statSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(`cannot use credential cache directory ${dir}`, e);
    try {
      mkdirSync(dir, { mode: 0o700 }); // only the last component, as MIT
      return;
    } catch (e2) {
      throw ioError(`credential cache directory ${dir} does not exist and cannot be created`, e2);
    }
  }
  if (!st.isDirectory()) throw new SspiError(SecurityStatus.SEC_E_NO_CREDENTIALS, `credential cache directory ${dir} exists but is not a directory`);
}

// The entries in the directory's own order, as readdir(3) gives them to MIT (readdirSync sorts).
function directoryOrder(dir: string): string[] {
  const names: string[] = [];
  let d;
  try {
    d = opendirSync(dir);
  } catch (e) {
    throw ioError(`cannot list credential cache directory ${dir}`, e);
  }
  try {
    for (let e = d.readSync(); e !== null; e = d.readSync()) names.push(e.name);
  } finally {
    d.closeSync();
  }
  return names;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function ioError(what: string, e: unknown): SspiError {
  return new SspiError(SecurityStatus.SEC_E_NO_CREDENTIALS, `${what}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { cause: e });
}
