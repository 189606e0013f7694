// `tsix instantiate (FILE... | - | -E EXPR...) [-A ATTR]... [--arg NAME EXPR] [--argstr NAME STR]
// [--dry-run]`: evaluates, writes the .drv files (and sources) into the store, and prints the
// .drv paths as nix-instantiate does (`<drv>` or `<drv>!<output>`).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { TsixError } from '../../store/errors.js';
import { openStore } from '../../store/open-store.js';
import { getDerivations, instantiateLine } from '../../eval/derivation/instantiate.js';
import { InstantiationSession } from '../../eval/derivation/session.js';
import { createInstantiateEvaluator } from '../../eval/derivation/evaluator-glue.js';
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
  const opts = parse(argv);
  const store = await openStore(ctx.storeUrl);
  const session = new InstantiationSession();
  try {
    const ev = await createInstantiateEvaluator(session, store, { includePaths: opts.includePaths });
    const autoArgs = ev.autoArgs(opts.args);
    const lines: string[] = [];
    for (const input of opts.files) {
      const root = opts.fromArgs ? ev.evalString(input, process.cwd())
        : input === '-' ? ev.evalString(readFileSync(0, 'utf8'), process.cwd())
          : ev.evalFile(resolve(input));
      for (const attrPath of opts.attrPaths) {
        const v = ev.findAlongAttrPath(root, attrPath, autoArgs);
        for (const d of getDerivations(ev, v, autoArgs)) lines.push(instantiateLine(d));
      }
    }
    if (!opts.dryRun) await session.flush(store);
    if (lines.length) ctx.stdout.write(lines.join('\n') + '\n');
    return 0;
  } catch (e) {
    if (e instanceof RangeError && /call stack/i.test(e.message)) throw new TsixError('E_EVAL', 'stack overflow (possible infinite recursion)');
    throw e;
  } finally {
    session.dispose();
    await store.close();
  }
}
