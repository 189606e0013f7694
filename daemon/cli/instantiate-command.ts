// `tsix instantiate (FILE... | - | -E EXPR...) [-A ATTR]... [--arg NAME EXPR] [--argstr NAME STR]
// [--dry-run]`: evaluates, writes the .drv files (and sources) into the store, and prints the
// .drv paths as nix-instantiate does (`<drv>` or `<drv>!<output>`).
import { openStore } from '../../store/open-store.js';
import { instantiateLine } from '../../eval/derivation/instantiate.js';
import { instantiateInWorker } from '../coordinator/ifd-eval.js';
import { takeIfdOptions } from '../coordinator/ifd-provider.js';
import { UsageError, type CliContext } from './command.js';

interface Options {
  files: string[];
  fromArgs: boolean;
  attrPaths: string[];
  args: { name: string; value: string; isString: boolean }[];
  dryRun: boolean;
  includePaths: string[];
}

function parse(argv: string[]): Options {
  const o: Options = { files: [], fromArgs: false, attrPaths: [], args: [], dryRun: false, includePaths: [] };
  const need = (i: number, flag: string, n = 1): void => {
    if (i + n >= argv.length) throw new UsageError(`instantiate: flag '${flag}' needs ${n === 1 ? 'a value' : `${n} values`}`);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-E' || a === '--expr') o.fromArgs = true;
    else if (a === '-A' || a === '--attr') { need(i, a); o.attrPaths.push(argv[++i]!); }
    else if (a === '--arg' || a === '--argstr') { need(i, a, 2); o.args.push({ name: argv[i + 1]!, value: argv[i + 2]!, isString: a === '--argstr' }); i += 2; }
    else if (a === '-I') { need(i, a); o.includePaths.push(argv[++i]!); }
    else if (a.startsWith('-I') && a.length > 2) o.includePaths.push(a.slice(2));
    else if (a === '--dry-run') o.dryRun = true;
    else if (a === '--add-root' || a === '--indirect') { if (a === '--add-root') i++; }
    else if (a === '--') { o.files.push(...argv.slice(i + 1)); break; }
    else if (a.startsWith('-') && a !== '-') throw new UsageError(`instantiate: unrecognised flag '${a}'`);
    else o.files.push(a);
  }
  if (o.files.length === 0 && !o.fromArgs) o.files.push('./default.nix');
  if (o.attrPaths.length === 0) o.attrPaths.push('');
  return o;
}

export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const ifd = takeIfdOptions(argv);
  const opts = parse(ifd.argv);
  const store = await openStore(ctx.storeUrl);
  try {
    // In a worker, so that reads of store paths can build them (import from derivation).
    const found = await instantiateInWorker(store, { ...opts, allowIfd: ifd.allowIfd, write: !opts.dryRun, log: (s) => ctx.stderr.write(s) });
    const lines = found.map(instantiateLine);
    if (lines.length) ctx.stdout.write(lines.join('\n') + '\n');
    return 0;
  } finally {
    await store.close();
  }
}
