// `tsix show-derivation [-r] PATH...`: the JSON of `nix show-derivation` for stored derivations.
// A PATH may be a .drv path or an output path recorded by `tsix instantiate`.
import { NotFoundError } from '../../store/errors.js';
import { openStore } from '../../store/open-store.js';
import type { Derivation } from '../../eval/derivation/derivation.js';
import { findDerivationForOutput, readDerivation } from '../../eval/derivation/record.js';
import { showDerivationJson } from '../../eval/derivation/show-json.js';
import { parseArgs } from './args.js';
import { UsageError, type CliContext } from './command.js';
import { storePathOfArg } from './store-path-arg.js';

export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const args = parseArgs(argv, { bool: ['--recursive'], alias: { '-r': '--recursive' } }, 'show-derivation');
  if (args.positional.length === 0) throw new UsageError('show-derivation: expected at least one store path');
  const store = await openStore(ctx.storeUrl);
  try {
    const drvs = new Map<string, Derivation>();
    const todo: string[] = [];
    for (const p of args.positional.map((a) => storePathOfArg(a).path)) {
      let drvPath = p;
      if (!p.endsWith('.drv')) {
        const d = await findDerivationForOutput(store, p);
        if (!d) throw new NotFoundError(`derivation of path '${p}'`, { path: p });
        drvPath = d;
      }
      todo.push(drvPath);
    }
    while (todo.length) {
      const p = todo.pop()!;
      if (drvs.has(p)) continue;
      const drv = await readDerivation(store, p);
      if (!drv) throw new NotFoundError(`path '${p}'`, { path: p });
      drvs.set(p, drv);
      if (args.flags.has('--recursive')) {
        for (const dep of drv.inputDrvs.keys()) todo.push(dep);
        for (const src of drv.inputSrcs) if (src.endsWith('.drv')) todo.push(src);
      }
    }
    ctx.stdout.write(showDerivationJson(drvs));
    return 0;
  } finally {
    await store.close();
  }
}
