// `tsix log PATH`: the build log of a derivation or of the derivation that built an output.
import { findDerivationForOutput } from '../../eval/derivation/record.js';
import { NotFoundError } from '../../store/errors.js';
import { loadBuildLog } from '../coordinator/build-log.js';
import { UsageError, type CliContext } from './command.js';
import { withStore } from './store-commands.js';
import { storePathOfArg } from './store-path-arg.js';

export async function run(argv: string[], ctx: CliContext): Promise<number> {
  if (argv.length !== 1) throw new UsageError('usage: tsix log STOREPATH');
  const sp = storePathOfArg(argv[0]!);
  const path = sp.path;
  return withStore(ctx, async (store) => {
    let drv: string | null = path.endsWith('.drv') ? path : null;
    if (!drv) drv = (await store.pathInfos.get(sp.hashPart))?.deriver ?? (await findDerivationForOutput(store, path));
    const log = drv ? await loadBuildLog(store, drv) : null;
    if (!log) throw new NotFoundError(`build log of '${path}'`, { path });
    ctx.stdout.write(log);
    return 0;
  });
}
