// A small argv parser: long options (--name value, --name=value, --flag), short flags, positionals.

export interface ParsedArgs {
  positionals: string[];
  options: Map<string, string | true>;
}

export function parseArgs(argv: readonly string[], valueOptions: ReadonlySet<string>): ParsedArgs {
  const positionals: string[] = [];
  const options = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      if (eq > 0) options.set(name, a.slice(eq + 1));
      else if (valueOptions.has(name)) {
        const v = argv[i + 1];
        if (v === undefined) throw new UsageError(`--${name} needs a value`);
        options.set(name, v);
        i++;
      } else options.set(name, true);
    } else if (a.startsWith('-') && a.length > 1) {
      const name = a.slice(1);
      if (valueOptions.has(name)) {
        const v = argv[i + 1];
        if (v === undefined) throw new UsageError(`-${name} needs a value`);
        options.set(name, v);
        i++;
      } else options.set(name, true);
    } else positionals.push(a);
  }
  return { positionals, options };
}

export class UsageError extends Error {
  override name = 'UsageError';
}
