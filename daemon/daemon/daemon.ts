// The daemon process: opens the store (it alone holds the database), serves it on a unix
// socket beside it, and mounts it as a read-only FUSE filesystem.
import { join } from 'node:path';
import { mountStoreFs, type MountedFs } from '../../fs/mount.js';
import type { RootLookup } from '../../fs/root-lookup.js';
import { logger } from '../../store/log.js';
import { openStore } from '../../store/open-store.js';
import { RpcServer } from '../../store/remote/rpc-server.js';
import { registerStoreMethods } from '../../store/remote/serve-store.js';
import { daemonSocketPath } from '../../store/store-url.js';
import type { Store } from '../../store/store.js';
import { storeRoots } from './store-roots.js';
import { defaultMountPoint } from './mount-point.js';

export interface DaemonOptions {
  storeUrl: string;
  /** Where to mount (default: defaultMountPoint()); null: do not mount. */
  mountPoint?: string | null;
  allowOther?: boolean;
  listRoot?: boolean;
  /** Socket to serve the store on (default: beside a level:// store; none for memory://). */
  socketPath?: string | null;
  /** Wraps the store-backed root lookup, e.g. to build a path on a miss (the coordinator). */
  wrapRoots?: (base: RootLookup, store: Store) => RootLookup;
  /** Registers more RPC methods before the socket opens. */
  extendRpc?: (server: RpcServer, store: Store) => void;
}

export interface RunningDaemon {
  readonly store: Store;
  readonly rpc: RpcServer;
  readonly socketPath: string | null;
  readonly fs: MountedFs | null;
  /** Unmounts, stops serving and closes the store. */
  stop(): Promise<void>;
}

const log = logger('daemon');

export async function startDaemon(opts: DaemonOptions): Promise<RunningDaemon> {
  const store = await openStore(opts.storeUrl, { direct: true });
  const cleanups: (() => Promise<void>)[] = [() => store.close()];
  const undo = async () => {
    for (const f of cleanups.reverse()) await f().catch((err: Error) => log.error({ err: err.message }, 'cleanup failed'));
  };
  try {
    let fs: MountedFs | null = null;
    const rpc = new RpcServer({ url: store.url });
    registerStoreMethods(rpc, store, {
      // A deleted path must not linger in our caches (the kernel may still hold it until its entry times out).
      pathInfoDeleted: (hashPart) => fs?.tree.forgetRoot(hashPart),
    });
    opts.extendRpc?.(rpc, store);
    const socketPath = opts.socketPath === undefined ? daemonSocketPath(store.url) : opts.socketPath;
    if (socketPath) {
      await rpc.listen(socketPath);
      cleanups.push(() => rpc.close());
    }
    const mountPoint = opts.mountPoint === undefined ? defaultMountPoint() : opts.mountPoint;
    if (mountPoint) {
      const base = storeRoots(store);
      fs = await mountStoreFs({
        mountPoint,
        cas: store,
        roots: opts.wrapRoots ? opts.wrapRoots(base, store) : base,
        allowOther: opts.allowOther,
        listRoot: opts.listRoot,
      });
      const mounted = fs;
      cleanups.push(() => mounted.unmount());
    }
    let stopped: Promise<void> | null = null;
    return {
      store, rpc, socketPath, fs,
      stop: () => (stopped ??= undo()),
    };
  } catch (err) {
    await undo();
    throw err;
  }
}
