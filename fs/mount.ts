// Mounting the store: a read-only FUSE filesystem whose top level is store path base names,
// looked up lazily, and whose contents come straight from the castore.
import { writeFile } from 'node:fs/promises';
import type { CaStore } from '../store/store.js';
import { TsixError } from '../store/errors.js';
import { logger } from '../store/log.js';
import { loadFuse, type FuseInstance } from './fuse-binding.js';
import { ERRNO, errnoOf } from './errno.js';
import { makeFuseOps, readdirListing } from './fuse-ops.js';
import { findMount, prepareMountPoint, unmount } from './mount-point.js';
import type { RootLookup } from './root-lookup.js';
import { StoreTree } from './tree.js';

export interface MountOptions {
  mountPoint: string;
  cas: CaStore;
  roots: RootLookup;
  /** Let other users (build containers running as another uid) read the mount. */
  allowOther?: boolean;
  /** Allow listing the mount root (otherwise only lookups by name work). */
  listRoot?: boolean;
  /** Seconds the kernel may cache found entries and attributes (the store is immutable). */
  cacheTimeout?: number;
  /** Kernel read-ahead for the mount in KiB (root only; default 4096). */
  readAheadKb?: number;
  /**
   * 'kernel': tsix's own FUSE server on /dev/fuse (fs/kernel/; parallel root lookups; mounts as
   * root only); 'libfuse': fuse-native. Default: $TSIX_FUSE, else 'kernel' as root, 'libfuse' otherwise.
   */
  backend?: 'kernel' | 'libfuse';
}

export interface MountedFs {
  readonly mountPoint: string;
  readonly tree: StoreTree;
  /** Unmounts (lazily if busy) and releases fuse-native's handles. */
  unmount(): Promise<void>;
  /** Resolves if the mount disappears without unmount() (umount by someone else, connection aborted). */
  readonly lost?: Promise<void>;
}

/** How often the mount table is checked for our mount (it is read, the mount never touched). */
const WATCH_MS = 2000;

const log = logger('fs');
const NO_STAT = new Uint32Array(18);
const MAX_BACKGROUND = 6;

export async function mountStoreFs(opts: MountOptions): Promise<MountedFs> {
  const backend = opts.backend ?? fuseBackendFromEnv();
  if (backend === 'kernel') return (await import('./kernel/mount-kernel.js')).mountKernelFs(opts);
  const { Fuse, nativeUnmount } = loadFuse();
  const mountPoint = await prepareMountPoint(opts.mountPoint);
  const tree = new StoreTree(opts.cas, opts.roots, {
    listRoot: !!opts.listRoot,
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
  });
  const timeout = opts.cacheTimeout ?? 86400;
  // Options fuse-native has no switch for, appended to the ones it builds: `ro` (the kernel
  // itself answers writes with EROFS), `use_ino` (our content-derived inode numbers),
  // `default_permissions` (the kernel checks modes, no access round trips), and no negative
  // caching, so a store path added a moment ago is found at once.
  class TsixFuse extends (Fuse as unknown as new (...a: unknown[]) => FuseInstance) {
    override _fuseOptions(): string {
      return `${super._fuseOptions()},ro,use_ino,default_permissions,negative_timeout=0,subtype=tsix`;
    }

    // getattr (every lookup) answered with a stat array built once per node.
    _op_getattr(signal: (res: number, st: Uint32Array) => void, path: string): void {
      tree.statArray(path).then(
        (a) => (a ? signal(0, a) : signal(ERRNO.ENOENT, NO_STAT)),
        (err: unknown) => signal(errnoOf(err, 'getattr', path), NO_STAT),
      );
    }

    _op_readdir(signal: (res: number, names?: string[], stats?: Uint32Array[]) => void, path: string): void {
      readdirListing(tree, path).then(([names, stats]) => signal(0, names, stats), (err: unknown) => signal(errnoOf(err, 'readdir', path)));
    }

    // fuse-native copies an xattr value into the kernel's buffer without checking its size.
    _op_getxattr(signal: (res: number, b: ArrayBuffer) => void, path: string, name: string, valueBuf: Buffer, position: number): void {
      ops.getxattr!(path, name, position, (err, value) => {
        if (err) return signal(err, valueBuf.buffer as ArrayBuffer);
        if (!value) return signal(ERRNO.ENODATA, valueBuf.buffer as ArrayBuffer);
        if (valueBuf.length && value.length > valueBuf.length) return signal(ERRNO.ERANGE, valueBuf.buffer as ArrayBuffer);
        value.copy(valueBuf);
        signal(value.length, valueBuf.buffer as ArrayBuffer);
      });
    }
  }
  const ops = makeFuseOps(tree);
  const fuse = new TsixFuse(mountPoint, ops, {
    allowOther: !!opts.allowOther,
    kernelCache: true,
    entryTimeout: timeout,
    attrTimeout: timeout,
    maxRead: 128 * 1024,
    fsname: 'tsix',
    // No JS-side timeouts: every operation answers (errors included), lookups may take as long as
    // a build (coordinator), and a timer per request is measurable overhead.
    timeout: false,
  }) as FuseInstance;
  await new Promise<void>((res, rej) => fuse.mount((err) => (err ? rej(new TsixError('E_MOUNT', `cannot mount the store at ${mountPoint}: ${err.message}`, { mountPoint })) : res())));
  await tuneConnection(mountPoint, opts.readAheadKb ?? 4096);
  log.info({ mountPoint, allowOther: !!opts.allowOther, listRoot: !!opts.listRoot }, 'mounted');
  let unmounted = false;
  const device = (await findMount(mountPoint))?.device ?? null;
  let watch: NodeJS.Timeout | undefined;
  const lost = new Promise<void>((res) => {
    watch = setInterval(() => {
      void findMount(mountPoint).then((m) => {
        if (unmounted || (m && m.device === device)) return;
        clearInterval(watch);
        log.error({ mountPoint }, 'the mount is gone (unmounted or aborted from outside)');
        res();
      }, () => undefined);
    }, WATCH_MS);
    watch.unref();
  });
  return {
    mountPoint,
    tree,
    lost,
    async unmount() {
      if (unmounted) return;
      unmounted = true;
      clearInterval(watch);
      const m = await findMount(mountPoint);
      if (m && m.device === device) {
        try {
          await unmount(mountPoint);
        } catch {
          await unmount(mountPoint, { lazy: true });
        }
      }
      if (fuse._thread) nativeUnmount(mountPoint, fuse._thread);
      log.info({ mountPoint }, 'unmounted');
    },
  };
}

/** The FUSE backend named by $TSIX_FUSE ('kernel' or 'libfuse'); unset: 'kernel' as root (it mounts with mount(8)), else 'libfuse'. */
export function fuseBackendFromEnv(env: NodeJS.ProcessEnv = process.env): 'kernel' | 'libfuse' {
  const v = env.TSIX_FUSE;
  if (!v) return process.getuid?.() === 0 ? 'kernel' : 'libfuse';
  if (v === 'kernel' || v === 'libfuse') return v;
  throw new TsixError('E_CONFIG', `TSIX_FUSE must be 'kernel' or 'libfuse', not '${v}'`, { TSIX_FUSE: v });
}

/**
 * Sequential reads go faster with a bigger kernel read-ahead window than FUSE's default 128 KiB
 * (libfuse 2 has no option for it; root only). Fewer background requests than the default 12:
 * libfuse 2's multi-threaded loop starts a thread whenever all are busy and ends threads beyond
 * 10 idle ones, and fuse-native 2.2.6 leaks a uv_async handle per thread it ever saw, which
 * every later request then pays for (libuv scans all async handles on each wake-up). Keeping
 * requests in flight below 10 keeps the thread pool from churning; one JS thread answers them
 * all anyway, and the daemon reads ahead on its own (BlobReader).
 */
async function tuneConnection(mountPoint: string, readAheadKb: number): Promise<void> {
  const m = await findMount(mountPoint);
  if (!m) return;
  const minor = m.device.split(':')[1];
  const writes: [string, string][] = [
    [`/sys/class/bdi/${m.device}/read_ahead_kb`, String(readAheadKb)],
    [`/sys/fs/fuse/connections/${minor}/max_background`, String(MAX_BACKGROUND)],
    [`/sys/fs/fuse/connections/${minor}/congestion_threshold`, String(MAX_BACKGROUND - 2)],
  ];
  for (const [file, value] of writes) {
    await writeFile(file, value).catch((err: Error) => log.debug({ file, err: err.message }, 'cannot tune the FUSE connection (not root?)'));
  }
}
