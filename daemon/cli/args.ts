// A small argument parser: flags declared up front, everything else positional.
import { UsageError } from './command.js';

export interface ArgSpec {
  /** Flags without a value, e.g. ['--json', '-r']. */
  bool?: string[];
  /** Flags taking one value, e.g. ['--type']. */
  value?: string[];
  /** Aliases, e.g. { '-r': '--recursive' }. */
  alias?: Record<string, string>;
}

export interface ParsedArgs {
  flags: Map<string, string | true>;
  positional: string[];
}

export function parseArgs(argv: string[], spec: ArgSpec, command: string): ParsedArgs {
  const flags = new Map<string, string | true>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i]!;
    if (a === '--') { positional.push(...argv.slice(i + 1)); break; }
    if (!a.startsWith('-') || a === '-') { positional.push(a); continue; }
    let inline: string | undefined;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) { inline = a.slice(eq + 1); a = a.slice(0, eq); }
    a = spec.alias?.[a] ?? a;
    if (spec.bool?.includes(a)) flags.set(a, true);
    else if (spec.value?.includes(a)) {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new UsageError(`${command}: flag '${a}' needs a value`);
      flags.set(a, v);
    } else if (/^-[a-zA-Z]{2,}$/.test(a) && [...a.slice(1)].every((c) => spec.bool?.includes(spec.alias?.[`-${c}`] ?? `-${c}`))) {
      for (const c of a.slice(1)) flags.set(spec.alias?.[`-${c}`] ?? `-${c}`, true);
    } else throw new UsageError(`${command}: unrecognised flag '${a}'`);
  }
  return { flags, positional };
}
