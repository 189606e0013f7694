// `tsix build (FILE | -E EXPR) [-A ATTR] [--arg/--argstr …] [-o PATH | --no-out-link]
// [--max-jobs N] [--builder URL] [--keep-failed] [--timeout SECONDS]`, as nix-build: evaluates,
// realises the missing closure, prints the output paths and makes `result` symlinks.
import { lstat, symlink, unlink } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import type { FoundDerivation } from '../../eval/derivation/instantiate.js';
import { instantiateInWorker } from '../coordinator/ifd-eval.js';
import { takeIfdOptions } from '../coordinator/ifd-provider.js';
import { openStore } from '../../store/open-store.js';
import { RemoteStore } from '../../store/remote/remote-store.js';
import type { Store } from '../../store/store.js';
import { defaultMountPoint } from '../daemon/mount-point.js';
import { startLocalSession } from '../coordinator/local-session.js';
import { Progress } from '../coordinator/progress.js';
import { UsageError, type CliContext } from './command.js';

interface Options {
  files: string[];
  fromArgs: boolean;
  attrPaths: string[];
  args: { name: string; value: string; isString: boolean }[];
  includePaths: string[];
  outLink: string | null;
  maxJobs: number;
  builder: string | undefined;
  keepFailed: boolean;
  timeoutMs: number | undefined;
}

function parse(argv: string[]): Options {
  const o: Options = { files: [], fromArgs: false, attrPaths: [], args: [], includePaths: [], outLink: 'result', maxJobs: 1, builder: undefined, keepFailed: false, timeoutMs: undefined };
  const value = (i: number, flag: string): string => {
    const v = argv[i + 1];
    if (v === undefined) throw new UsageError(`build: flag '${flag}' needs a value`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-E' || a === '--expr') o.fromArgs = true;
    else if (a === '-A' || a === '--attr') o.attrPaths.push(value(i++, a));
    else if (a === '--arg' || a === '--argstr') {
      if (argv[i + 2] === undefined) throw new UsageError(`build: flag '${a}' needs 2 values`);
      o.args.push({ name: argv[i + 1]!, value: argv[i + 2]!, isString: a === '--argstr' });
      i += 2;
    } else if (a === '-I') o.includePaths.push(value(i++, a));
    else if (a === '-o' || a === '--out-link') o.outLink = value(i++, a);
    else if (a === '--no-out-link') o.outLink = null;
    else if (a === '-j' || a === '--max-jobs') {
      const n = Number(value(i++, a));
      if (!Number.isInteger(n) || n < 1) throw new UsageError(`build: --max-jobs needs a positive integer`);
      o.maxJobs = n;
    } else if (a === '--builder') o.builder = value(i++, a);
    else if (a === '--keep-failed' || a === '-K') o.keepFailed = true;
    else if (a === '--timeout') o.timeoutMs = Number(value(i++, a)) * 1000;
    else if (a.startsWith('-') && a !== '-') throw new UsageError(`build: unrecognised flag '${a}'`);
    else o.files.push(a);
  }
  if (o.files.length === 0 && !o.fromArgs) o.files.push('./default.nix');
  if (o.attrPaths.length === 0) o.attrPaths.push('');
  return o;
}

/** Evaluates in a worker, so that reads of store paths can build them (import from derivation). */
async function instantiate(store: Store, o: Options, allowIfd: boolean, ctx: CliContext): Promise<FoundDerivation[]> {
  return instantiateInWorker(store, { ...o, allowIfd, builderUrl: o.builder, maxJobs: o.maxJobs, log: (s) => ctx.stderr.write(s) });
}

export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const ifd = takeIfdOptions(argv);
  const o = parse(ifd.argv);
  const store = await openStore(ctx.storeUrl);
  try {
    const drvs = await instantiate(store, o, ifd.allowIfd, ctx);
    const unique = [...new Set(drvs.map((d) => d.drvPath))];
    let outputs: Map<string, Map<string, string>>;
    let mountPoint: string;
    if (store instanceof RemoteStore) {
      const r = await store.rpc.call('realise', [unique, { maxJobs: o.maxJobs, keepFailed: o.keepFailed }]) as { outputs: Record<string, Record<string, string>>; mountPoint: string | null };
      outputs = new Map(Object.entries(r.outputs).map(([d, m]) => [d, new Map(Object.entries(m))]));
      mountPoint = r.mountPoint ?? defaultMountPoint();
    } else {
      const progress = new Progress(ctx.stderr);
      const session = await startLocalSession(store, { builderUrl: o.builder, maxJobs: o.maxJobs, keepFailed: o.keepFailed, timeoutMs: o.timeoutMs, onEvent: progress.event });
      try {
        const results = await Promise.allSettled(unique.map(async (d) => [d, await session.coordinator.realise(d)] as const));
        progress.finish();
        const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed) throw failed.reason;
        outputs = new Map(results.map((r) => (r as PromiseFulfilledResult<readonly [string, Map<string, string>]>).value));
      } finally {
        await session.close();
      }
      mountPoint = defaultMountPoint();
    }
    const outPaths = drvs.map((d) => {
      const p = outputs.get(d.drvPath)?.get(d.outputName);
      if (!p) throw new UsageError(`derivation '${d.drvPath}' has no output '${d.outputName}'`);
      return p;
    });
    if (o.outLink) await makeResultLinks(o.outLink, drvs, outPaths, mountPoint);
    if (outPaths.length) ctx.stdout.write(outPaths.join('\n') + '\n');
    return 0;
  } finally {
    await store.close();
  }
}

/** nix-build's naming: `result`, `result-2` for the second derivation, `-<output>` for outputs other than out. */
async function makeResultLinks(outLink: string, drvs: FoundDerivation[], outPaths: string[], mountPoint: string): Promise<void> {
  const prefixes = new Map<string, string>();
  for (let i = 0; i < drvs.length; i++) {
    const d = drvs[i]!;
    let prefix = prefixes.get(d.drvPath);
    if (prefix === undefined) {
      prefix = prefixes.size ? `${outLink}-${prefixes.size + 1}` : outLink;
      prefixes.set(d.drvPath, prefix);
    }
    const link = resolve(d.outputName === 'out' ? prefix : `${prefix}-${d.outputName}`);
    const target = mountPoint === '/nix/store' ? outPaths[i]! : `${mountPoint}/${basename(outPaths[i]!)}`;
    if (await lstat(link).catch(() => null)) await unlink(link);
    await symlink(target, link);
  }
}
