// `tsix path-info [--json] [-r] STOREPATH...`, as `nix path-info`.
import { formatHash } from '../../store/nix/hash.js';
import { parseStorePath } from '../../store/nix/store-path.js';
import type { PathInfo } from '../../store/pathinfo/path-info.js';
import type { Store } from '../../store/store.js';
import { parseArgs } from './args.js';
import { UsageError, type CliContext } from './command.js';
import { withStore } from './store-commands.js';
import { NotFoundError } from '../../store/errors.js';
import { storePathOfArg } from './store-path-arg.js';

export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const { flags, positional } = parseArgs(argv, { bool: ['--json', '--recursive'], alias: { '-r': '--recursive' } }, 'path-info');
  if (positional.length === 0) throw new UsageError('usage: tsix path-info [--json] [-r] STOREPATH...');
  // A set, as Nix's: each path once, in store path order whatever the order of the arguments.
  const roots = [...new Set(positional.map((p) => storePathOfArg(p).path))].sort();
  return withStore(ctx, async (store) => {
    const infos = flags.has('--recursive') ? await closure(store, roots) : await Promise.all(roots.map(async (p) => [p, await lookup(store, p)] as const));
    if (flags.has('--json')) {
      ctx.stdout.write(JSON.stringify(infos.map(([p, i]) => (i ? pathInfoJson(i) : { path: p, valid: false }))));
      return 0;
    }
    for (const [p, i] of infos) {
      if (!i) throw new NotFoundError(`path '${p}'`, { path: p });
      ctx.stdout.write(i.path + '\n');
    }
    return 0;
  });
}

async function lookup(store: Store, path: string): Promise<PathInfo | null> {
  const info = await store.pathInfos.get(parseStorePath(path).hashPart);
  return info && info.path === path ? info : null;
}

/** The closure of `roots`, sorted by path as Nix prints it. */
async function closure(store: Store, roots: string[]): Promise<(readonly [string, PathInfo | null])[]> {
  const seen = new Map<string, PathInfo | null>();
  const todo = [...roots];
  while (todo.length) {
    const p = todo.pop()!;
    if (seen.has(p)) continue;
    const info = await lookup(store, p);
    if (!info) throw new NotFoundError(`path '${p}'`, { path: p });
    seen.set(p, info);
    todo.push(...info.references);
  }
  return [...seen.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The object `nix path-info --json` prints, with Nix 2.8's key order. */
export function pathInfoJson(i: PathInfo): Record<string, unknown> {
  const o: Record<string, unknown> = {
    path: i.path,
    narHash: formatHash({ algo: 'sha256', digest: i.narHash }, 'sri'),
    narSize: i.narSize,
    references: [...i.references].sort(),
  };
  if (i.ca) o.ca = i.ca;
  if (i.deriver) o.deriver = i.deriver;
  if (i.registrationTime) o.registrationTime = i.registrationTime;
  if (i.signatures.length) o.signatures = i.signatures;
  return o;
}
