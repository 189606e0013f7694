// `tsix store add|add-fixed|dump|restore|ls|cat|verify`.
import { fstatSync, writeSync } from 'node:fs';
import { isatty } from 'node:tty';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { resolve } from 'node:path';
import type { Node } from '../../store/castore/nodes.js';
import { directoryEntries } from '../../store/castore/nodes.js';
import { NotFoundError, InvalidInputError } from '../../store/errors.js';
import { parseHashAlgo } from '../../store/nix/hash.js';
import { splitStorePath } from '../../store/nix/store-path.js';
import { openStore } from '../../store/open-store.js';
import type { Store } from '../../store/store.js';
import { parseArgs } from './args.js';
import { UsageError, type CliContext } from './command.js';
import { storePathArg } from './store-path-arg.js';

const SUBCOMMANDS: Record<string, (argv: string[], ctx: CliContext) => Promise<number>> = {
  add: add,
  'add-fixed': addFixed,
  dump,
  restore,
  ls,
  cat,
  // Without paths: the whole store (nix-store --verify); with paths or keys: nix store verify.
  verify: async (argv, ctx) => (argv.some((a) => !a.startsWith('-')) ? signCommands(['verify', ...argv], ctx) : (await import('./store-verify.js')).verifyStore(argv, ctx)),
  'verify-sigs': (argv, ctx) => signCommands(['verify-sigs', ...argv], ctx),
  sign: (argv, ctx) => signCommands(['sign', ...argv], ctx),
  'generate-key': (argv, ctx) => signCommands(['generate-key', ...argv], ctx),
};

async function signCommands(argv: string[], ctx: CliContext): Promise<number> {
  const { run: runSigning } = await import('./sign-commands.js');
  return runSigning(argv, ctx);
}

export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const sub = argv[0];
  const f = sub === undefined ? undefined : SUBCOMMANDS[sub];
  if (!f) throw new UsageError(`usage: tsix store (${Object.keys(SUBCOMMANDS).join('|')}) ...`);
  return f(argv.slice(1), ctx);
}

export async function withStore<T>(ctx: CliContext, f: (s: Store) => Promise<T>): Promise<T> {
  const store = await openStore(ctx.storeUrl);
  try {
    return await f(store);
  } finally {
    await store.close();
  }
}

async function add(argv: string[], ctx: CliContext): Promise<number> {
  const { positional } = parseArgs(argv, {}, 'store add');
  if (positional.length === 0) throw new UsageError('usage: tsix store add PATH...');
  const { addPathToStore } = await import('../../store/import/add-to-store.js');
  return withStore(ctx, async (store) => {
    for (const p of positional) {
      const info = await addPathToStore(store, resolve(p));
      ctx.stdout.write(info.path + '\n');
    }
    return 0;
  });
}

async function addFixed(argv: string[], ctx: CliContext): Promise<number> {
  const { flags, positional } = parseArgs(argv, { bool: ['--recursive'] }, 'store add-fixed');
  if (positional.length < 2) throw new UsageError('usage: tsix store add-fixed [--recursive] ALGO PATH...');
  const algo = parseHashAlgo(positional[0]!);
  const { addPathToStore } = await import('../../store/import/add-to-store.js');
  return withStore(ctx, async (store) => {
    for (const p of positional.slice(1)) {
      const info = await addPathToStore(store, resolve(p), { method: flags.has('--recursive') ? 'recursive' : 'flat', algo });
      ctx.stdout.write(info.path + '\n');
    }
    return 0;
  });
}

/** The node at STOREPATH[/sub/path], following no symlinks. */
export async function resolveStoreNode(store: Store, arg: string): Promise<{ node: Node; storePath: string; rest: string }> {
  const { storePath, rest } = splitStorePath(storePathArg(arg));
  const info = await store.pathInfos.get(storePath.hashPart);
  const full = `/nix/store/${storePath.hashPart}-${storePath.name}`;
  if (!info || info.path !== full) throw new NotFoundError(`path '${arg}'`, { path: arg });
  let node: Node = info.node;
  for (const part of rest.split('/').filter((s) => s !== '' && s !== '.')) {
    if (node.type !== 'directory') throw new NotFoundError(`path '${arg}'`, { path: arg });
    const dir = await store.directories.get(node.digest);
    const child = dir && directoryEntries(dir).find((e) => e.name === part);
    if (!child) throw new NotFoundError(`path '${arg}'`, { path: arg });
    node = child;
  }
  return { node, storePath: full, rest };
}

async function dump(argv: string[], ctx: CliContext): Promise<number> {
  const { positional } = parseArgs(argv, {}, 'store dump');
  if (positional.length !== 1) throw new UsageError('usage: tsix store dump STOREPATH');
  const { dumpNar } = await import('../../store/nix/nar-dump.js');
  return withStore(ctx, async (store) => {
    const { node } = await resolveStoreNode(store, positional[0]!);
    const fd = syncOutputFd(ctx.stdout);
    if (fd !== null) {
      // Written synchronously, each piece before the next is produced: the pieces may be reused.
      for await (const b of dumpNar(store, node, { transient: true })) writeAllSync(fd, b);
    } else {
      await pipeline(Readable.from(dumpNar(store, node)), ctx.stdout, { end: false });
    }
    return 0;
  });
}

/**
 * fd 1 when the output is the process's stdout and writes to it can be made synchronous: a
 * regular file or a character device other than a terminal (/dev/null) block rather than fail;
 * a pipe or socket is set back to blocking (libuv made it non-blocking when process.stdout was
 * created). Each large piece then costs one system call and no stream machinery, and pieces may
 * be reused once written. Anything else (a terminal, another stream): null.
 */
function syncOutputFd(out: NodeJS.WritableStream): number | null {
  if (out !== process.stdout) return null;
  try {
    const st = fstatSync(1);
    if (st.isFile() || (st.isCharacterDevice() && !isatty(1))) return 1;
    if (!st.isFIFO() && !st.isSocket()) return null;
    const handle = (process.stdout as unknown as { _handle?: { setBlocking?(on: boolean): number } })._handle;
    return handle?.setBlocking?.(true) === 0 ? 1 : null;
  } catch {
    return null;
  }
}

/** A short synchronous pause (for a descriptor that still says EAGAIN). */
const pause = new Int32Array(new SharedArrayBuffer(4));

function writeAllSync(fd: number, b: Buffer): void {
  for (let off = 0; off < b.length;) {
    try {
      off += writeSync(fd, b, off, b.length - off);
    } catch (err) {
      // Someone else may have made the descriptor non-blocking again: wait for the reader.
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      Atomics.wait(pause, 0, 0, 1);
    }
  }
}

async function restore(argv: string[], ctx: CliContext): Promise<number> {
  const { positional } = parseArgs(argv, {}, 'store restore');
  if (positional.length !== 1) throw new UsageError('usage: tsix store restore DIR < NAR');
  const { restoreNarToFs } = await import('../../store/nix/nar-restore-fs.js');
  await restoreNarToFs(process.stdin, resolve(positional[0]!));
  return 0;
}

function modeString(n: Node): string {
  if (n.type === 'directory') return 'dr-xr-xr-x';
  if (n.type === 'symlink') return 'lrwxrwxrwx';
  return n.executable ? '-r-xr-xr-x' : '-r--r--r--';
}

async function ls(argv: string[], ctx: CliContext): Promise<number> {
  const { flags, positional } = parseArgs(argv, { bool: ['--long', '--recursive'], alias: { '-l': '--long', '-R': '--recursive' } }, 'store ls');
  if (positional.length !== 1) throw new UsageError('usage: tsix store ls [-l] [-R] STOREPATH[/sub]');
  const long = flags.has('--long');
  const recursive = flags.has('--recursive');
  return withStore(ctx, async (store) => {
    const { node, storePath, rest } = await resolveStoreNode(store, positional[0]!);
    const line = (n: Node, shown: string) => {
      if (!long) return `${shown}\n`;
      const size = n.type === 'file' ? n.size : 0;
      return `${modeString(n)} ${String(size).padStart(20)} ${shown}${n.type === 'symlink' ? ` -> ${n.target}` : ''}\n`;
    };
    if (node.type !== 'directory') {
      const base = `${storePath}${rest}`.replace(/\/+$/, '').split('/').pop()!;
      ctx.stdout.write(line(node, base));
      return 0;
    }
    const out: string[] = [];
    const walk = async (n: Extract<Node, { type: 'directory' }>, prefix: string) => {
      const dir = await store.directories.get(n.digest);
      for (const e of dir ? directoryEntries(dir) : []) {
        out.push(line(e, `${prefix}/${e.name}`));
        if (recursive && e.type === 'directory') await walk(e, `${prefix}/${e.name}`);
      }
    };
    await walk(node, '.');
    ctx.stdout.write(out.join(''));
    return 0;
  });
}

async function cat(argv: string[], ctx: CliContext): Promise<number> {
  const { positional } = parseArgs(argv, {}, 'store cat');
  if (positional.length !== 1) throw new UsageError('usage: tsix store cat STOREPATH/sub/file');
  return withStore(ctx, async (store) => {
    const { node } = await resolveStoreNode(store, positional[0]!);
    if (node.type !== 'file') throw new InvalidInputError(`path '${positional[0]}'`, 'is not a regular file');
    const stream = await store.blobs.open(node.digest);
    if (!stream) throw new NotFoundError(`contents of '${positional[0]}'`);
    await pipeline(Readable.from(stream), ctx.stdout, { end: false });
    return 0;
  });
}

