// The coordinator inside the daemon: root lookups of missing store paths substitute or build
// them, and clients ask it to realise derivations over the socket.
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBuilder } from '../../builder/open-builder.js';
import { mountStoreFs, type MountedFs } from '../../fs/mount.js';
import { unmount } from '../../fs/mount-point.js';
import { storeRoots } from '../daemon/store-roots.js';
import { withMissHandler, type RootLookup } from '../../fs/root-lookup.js';
import { TsixError } from '../../store/errors.js';
import { logger } from '../../store/log.js';
import { parseStorePathBaseName } from '../../store/nix/store-path.js';
import type { RpcServer } from '../../store/remote/rpc-server.js';
import type { Store } from '../../store/store.js';
import type { BuildService } from '../../builder/build-service.js';
import { Coordinator, type CoordinatorOptions } from './coordinator.js';

const log = logger('coordinator');

const INPUT_MOUNT_PREFIX = 'tsix-build-inputs-';

/** Removes the private input mounts of daemons that were killed (their pid is in the name). */
async function cleanStaleInputMounts(): Promise<void> {
  const re = new RegExp(`^(${tmpdir().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/${INPUT_MOUNT_PREFIX}(\\d+)-[^/]+)/store$`);
  const info = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  for (const line of info.split('\n')) {
    const m = re.exec(line.split(' ')[4] ?? '');
    if (!m || isAlive(Number(m[2]))) continue;
    log.info({ mountPoint: `${m[1]}/store` }, 'removing the input mount of a killed daemon');
    await unmount(`${m[1]}/store`, { lazy: true }).catch(() => undefined);
    await rm(m[1]!, { recursive: true, force: true }).catch(() => undefined);
  }
}

function isAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM'; }
}

export class LookupTimeoutError extends TsixError {
  constructor(path: string, ms: number) {
    super('E_LOOKUP_TIMEOUT', `producing '${path}' took longer than ${ms} ms (it goes on in the background)`, { path, ms });
  }
}

export interface DaemonCoordinatorOptions extends Omit<CoordinatorOptions, 'store' | 'builder' | 'inputSource'> {
  builderUrl?: string;
  /** Longest a FUSE lookup waits for a path to be produced; the work goes on afterwards. */
  lookupTimeoutMs?: number;
}

/** Hooks for startDaemon, and the coordinator once the mount exists. */
export class DaemonCoordinator {
  private coordinator: Coordinator | null = null;
  private builder: BuildService | null = null;
  private store: Store | null = null;
  private mountPoint: string | null = null;

  constructor(private readonly opts: DaemonCoordinatorOptions) {}

  /**
   * Called once the store is open and mounted. Builds read their inputs through a second mount of
   * their own: libfuse 2 cannot ask for parallel directory operations, so the kernel runs one
   * lookup at a time in the public mount's root, and a lookup waiting for a build there would
   * block the build's own input lookups.
   */
  async start(store: Store, mountPoint: string | null): Promise<void> {
    this.store = store;
    this.mountPoint = mountPoint;
    this.builder = await openBuilder(this.opts.builderUrl);
    if (mountPoint) {
      await cleanStaleInputMounts();
      const dir = await mkdtemp(join(tmpdir(), `${INPUT_MOUNT_PREFIX}${process.pid}-`));
      await chmod(dir, 0o755);
      this.inputMount = await mountStoreFs({ mountPoint: join(dir, 'store'), cas: store, roots: storeRoots(store), allowOther: true });
      this.inputDir = dir;
    }
  }

  private inputMount: MountedFs | null = null;
  private inputDir: string | null = null;

  private get(): Coordinator {
    if (!this.coordinator) {
      if (!this.store || !this.builder) throw new TsixError('E_NOT_READY', 'the daemon is still starting');
      if (!this.mountPoint) throw new TsixError('E_CONFIG', 'building needs the store mounted (the daemon runs with --no-mount)');
      this.coordinator = new Coordinator({ ...this.opts, store: this.store, builder: this.builder, inputSource: this.inputMount!.mountPoint });
    }
    return this.coordinator;
  }

  wrapRoots = (base: RootLookup): RootLookup => withMissHandler(base, async (name) => {
    try { parseStorePathBaseName(name); } catch { return; }
    const path = `/nix/store/${name}`;
    const t0 = Date.now();
    const work = this.get().ensurePath(path).then((ok) => {
      log.info({ path, produced: ok, cause: 'lookup', ms: Date.now() - t0 }, ok ? 'realised on lookup' : 'no way to produce');
    });
    const limit = this.opts.lookupTimeoutMs;
    if (!limit) return work;
    work.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([work, new Promise<void>((_, rej) => { timer = setTimeout(() => rej(new LookupTimeoutError(path, limit)), limit); })]).finally(() => clearTimeout(timer));
  });

  extendRpc = (rpc: RpcServer): void => {
    rpc.register('realise', async ([drvPaths]) => {
      const c = this.get();
      const outputs: Record<string, Record<string, string>> = {};
      const results = await Promise.allSettled((drvPaths as string[]).map(async (d) => {
        log.info({ drvPath: d, cause: 'client' }, 'realising');
        outputs[d] = Object.fromEntries(await c.realise(d));
      }));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      return { outputs, mountPoint: this.mountPoint };
    }, { concurrent: true });
    rpc.register('ensurePath', async ([path]) => this.get().ensurePath(path as string), { concurrent: true });
    rpc.register('status', async () => {
      const c = this.coordinator;
      return { running: c ? [...c.running] : [], failures: c ? c.failures.slice(-20) : [], mountPoint: this.mountPoint };
    });
  };

  async close(): Promise<void> {
    await this.builder?.close();
    await this.coordinator?.close();
    await this.inputMount?.unmount();
    if (this.inputDir) await rm(this.inputDir, { recursive: true, force: true });
  }
}
