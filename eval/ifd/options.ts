// Command-line options about import-from-derivation, shared by tsix eval, instantiate and build.
import { TsixError } from '../../store/errors.js';

/**
 * Takes `--option allow-import-from-derivation BOOL` and `--no-ifd` out of a command line;
 * returns the remaining arguments and whether IFD is allowed (Nix's default: true).
 */
export function takeIfdOptions(argv: string[]): { argv: string[]; allowIfd: boolean } {
  const rest: string[] = [];
  let allowIfd = true;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--no-ifd') allowIfd = false;
    else if (a === '--option' && argv[i + 1] === 'allow-import-from-derivation' && argv[i + 2] !== undefined) {
      const v = argv[i + 2]!;
      if (v !== 'true' && v !== 'false') throw new TsixError('E_USAGE', `invalid Boolean value '${v}' for setting 'allow-import-from-derivation'`);
      allowIfd = v === 'true';
      i += 2;
    } else if (a === '--') { rest.push(...argv.slice(i)); break; }
    else rest.push(a);
  }
  return { argv: rest, allowIfd };
}
